"""Checks of a run directory before ``--resume`` continues it: its config.toml, run.json, data
and last.pt must describe one run, and options given with the resume either extend it
(:data:`~mssfe.training.identity.EXTENDABLE`, runtime options) or are refused.

Each check raises the project's error naming the file and the field; nothing is written until
every check has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mssfe.errors import CheckpointError, ConfigError, MssfeError
from mssfe.models import Fit, get_model_spec
from mssfe.training.config import ResolvedRunConfig
from mssfe.training.identity import (
    EXTENDABLE,
    RunIdentity,
    comparable,
    comparable_dict,
    differing_field,
    first_difference,
    run_difference,
)
from mssfe.training.rundir import RunDir

#: What a last.pt holds beyond the network: resuming needs all of it (best.pt has only
#: ``model`` and ``epoch``).
LAST_EPOCH_KEYS = ("model", "optimizer", "scheduler", "rng", "epoch")


def stored_config(run: RunDir) -> ResolvedRunConfig:
    """The configuration a run to resume started with, checked against run.json.

    Refused: no config.toml; an estimator's run (fitted in one step, no checkpoint); a
    config.toml edited since the run started (it differs from run.json's ``config``).
    """
    if not run.has_config():
        raise MssfeError(f"{run.path}: nothing to resume (no {run.config_file.name})")
    stored = run.read_config()
    if get_model_spec(stored.model).fit is Fit.ESTIMATOR:
        raise MssfeError(
            f"{run.path}: model '{stored.model}' is fitted in one step and keeps no checkpoint: "
            "nothing to resume. Run the same `mssfe train` again: a finished run is kept, an "
            "unfinished one is fitted again"
        )
    record = run.recorded()
    if record is not None and record.config:
        edited = first_difference(
            comparable_dict(record.config), comparable(stored), words=("recorded", "now")
        )
        if edited:
            raise ConfigError(
                f"differs from the configuration the run started with ({run.record_file.name}): "
                f"{edited}; it was edited after the run started. Restore it, or start a new "
                "run with these settings (another --out)",
                file=run.config_file,
            )
    return stored


def resumed_config(
    run: RunDir, stored: ResolvedRunConfig, asked: ResolvedRunConfig
) -> ResolvedRunConfig:
    """``asked`` when it only extends ``stored`` (more epochs or patience) or changes how it
    runs (threads, device, progress); any other change is a ConfigError naming the field."""
    changed = differing_field(comparable(stored), comparable(asked), ignore=EXTENDABLE)
    if changed:
        field, before, after = changed
        raise ConfigError(
            f"cannot change when resuming (--resume continues {run.path} as it started; to "
            "train with another value, start a new run with another --out)",
            field=field,
            expected=f"{before!r} (as recorded) or nothing",
            got=repr(after),
        )
    if (
        asked.gradient_optim.max_epochs != stored.gradient_optim.max_epochs
        and stored.gradient_optim.scheduler == "cosine"
    ):
        raise ConfigError(
            "cannot change when resuming a run with the cosine schedule: its learning rate "
            "anneals over the epochs it started with",
            field="optim.max_epochs",
            expected=f"{stored.gradient_optim.max_epochs} or nothing",
            got=asked.gradient_optim.max_epochs,
        )
    return asked


def check_data(run: RunDir, sources: Mapping[str, Any]) -> None:
    """Refuse to resume onto data files whose SHA-256 differs from what run.json recorded."""
    difference = run.data_changed(sources)
    if difference:
        raise MssfeError(
            f"{run.path}: cannot resume on other data: {difference}; the epochs trained so far "
            "saw the recorded file. Restore it, or train on the new data in a new run "
            "(another --out)"
        )


def check_checkpoint(
    run: RunDir,
    checkpoint: Mapping[str, Any],
    config: ResolvedRunConfig,
    sources: Mapping[str, Any],
) -> None:
    """Refuse a last.pt that is not a last-epoch checkpoint of this run: best.pt copied over
    it, another run's checkpoint (its recorded identity differs), or more epochs trained than
    the run now asks for."""
    path = run.last_checkpoint
    missing = [key for key in LAST_EPOCH_KEYS if key not in checkpoint]
    if missing:
        held = ", ".join(sorted(k for k in checkpoint if k not in ("format", "format_version")))
        raise CheckpointError(
            f"{path}: not a last-epoch checkpoint: it holds {held} only, as best.pt does "
            f"(no {', '.join(missing)}); resuming needs the optimiser, scheduler and random "
            "state that last.pt saves. Restore the run's own last.pt"
        )
    recorded = RunIdentity.from_text(checkpoint.get("identity"))
    if recorded is not None:
        difference = run_difference(recorded, RunIdentity.of(config, sources), ignore=EXTENDABLE)
        if difference:
            raise CheckpointError(
                f"{path}: written by another run: {difference}; it cannot continue this one. "
                "Restore the run's own last.pt, or start again in a new --out"
            )
    trained = checkpoint["epoch"]
    if isinstance(trained, int) and config.gradient_optim.max_epochs < trained:
        raise ConfigError(
            f"the run has already trained {trained} epochs",
            field="optim.max_epochs",
            expected=f">= {trained}",
            got=config.gradient_optim.max_epochs,
        )
