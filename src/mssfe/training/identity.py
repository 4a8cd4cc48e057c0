"""What makes two runs the same run: the configuration that decides the result and the
SHA-256 of the data files it trained on.

A run directory records both when the run starts (run.json, completed when it finishes) and
every last.pt carries them (:class:`RunIdentity`). A finished run is reused, and an interrupted
one resumed, only while what is asked now matches what was recorded; :func:`run_difference`
says where they part, as one phrase: ``optim.lr (recorded 0.001, now 0.5)`` or
``cube /data/c.npy: sha256 recorded 3f.., now 9a..``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mssfe.errors import ConfigError
from mssfe.training.config import ResolvedRunConfig, config_to_dict
from mssfe.training.recipes import PARTS, get_recipe

#: Fields a resumed run may change: they say when training stops, not what an epoch does, so
#: the run continued with a larger value equals a run started with it.
EXTENDABLE = ("optim.max_epochs", "optim.patience")


def comparable(config: ResolvedRunConfig) -> dict[str, Any]:
    """What decides a run's result (not where or how fast it runs), with tuples as lists."""
    return comparable_dict(config_to_dict(config))


def comparable_dict(config: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`comparable` of a configuration read back as a table (run.json's ``config``)."""
    d = json.loads(json.dumps(config))
    d.pop("runtime", None)
    for key in ("data_dir", "download"):
        d.get("data", {}).pop(key, None)
    _fill_recipe_parts(d.get("recipe"))
    return d


def _fill_recipe_parts(recipe: Any) -> None:
    """A run recorded before a recipe part existed was trained with its version's value of
    it (a published version never changes), so the part is filled in before comparing."""
    if not isinstance(recipe, dict):
        return
    try:
        published = get_recipe(recipe.get("name"), recipe.get("version"))  # type: ignore[arg-type]
    except (ConfigError, TypeError, KeyError):
        return  # not a recipe this code knows: compared as recorded
    for part in PARTS:
        recipe.setdefault(part, published.parts[part])


def differing_field(
    a: Any, b: Any, where: str = "", *, ignore: Iterable[str] = ()
) -> tuple[str, Any, Any] | None:
    """The first dotted field (sorted order) where ``a`` and ``b`` differ, with both values."""
    ignore = tuple(ignore)
    if where in ignore:
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            dotted = f"{where}.{key}" if where else key
            found = differing_field(a.get(key), b.get(key), dotted, ignore=ignore)
            if found:
                return found
        return None
    return None if a == b else (where, a, b)


def first_difference(
    a: Any,
    b: Any,
    *,
    ignore: Iterable[str] = (),
    words: tuple[str, str] = ("stored", "asked"),
) -> str | None:
    """:func:`differing_field` as text: ``optim.lr (stored 0.01, asked 0.002)``."""
    found = differing_field(a, b, ignore=ignore)
    if found is None:
        return None
    where, before, after = found
    return f"{where} ({words[0]} {before!r}, {words[1]} {after!r})"


def data_checksums(sources: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The data files of a scene's ``sources`` with their SHA-256: ``{"cube": {"path",
    "sha256"}, "labels": ...}`` (a simulated scene's cube has no file: path ``simulated``)."""
    out: dict[str, dict[str, str]] = {}
    for name, entry in sources.items():
        if isinstance(entry, Mapping) and isinstance(entry.get("sha256"), str):
            out[name] = {"path": str(entry.get("path", name)), "sha256": entry["sha256"]}
    if isinstance(sources.get("cube_sha256"), str):
        out["cube"] = {"path": "simulated", "sha256": sources["cube_sha256"]}
    return out


def data_difference(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> str | None:
    """The first data file whose SHA-256 differs between two ``sources`` (files only one side
    names are not compared: a scene given in memory has none)."""
    before, after = data_checksums(recorded), data_checksums(now)
    for name in sorted(before.keys() & after.keys()):
        if before[name]["sha256"] != after[name]["sha256"]:
            return (
                f"{name} {after[name]['path']}: sha256 recorded {before[name]['sha256']}, "
                f"now {after[name]['sha256']}"
            )
    return None


@dataclass(frozen=True)
class RunIdentity:
    """A run's result-deciding configuration (:func:`comparable`) and data checksums."""

    config: dict[str, Any]
    data: dict[str, dict[str, str]]

    @classmethod
    def of(cls, config: ResolvedRunConfig, sources: Mapping[str, Any]) -> RunIdentity:
        return cls(comparable(config), data_checksums(sources))

    def to_text(self) -> str:
        """JSON text (a checkpoint stores it as a string: ``weights_only`` loads strings)."""
        return json.dumps({"config": self.config, "data": self.data}, sort_keys=True)

    @classmethod
    def from_text(cls, text: object) -> RunIdentity | None:
        """The identity a checkpoint stored, or None when it holds none readable."""
        try:
            payload = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            return None
        if not isinstance(payload, dict):
            return None
        config, data = payload.get("config"), payload.get("data")
        if not isinstance(config, dict) or not isinstance(data, dict):
            return None
        return cls(comparable_dict(config), data)


def run_difference(
    recorded: RunIdentity, now: RunIdentity, *, ignore: Iterable[str] = ()
) -> str | None:
    """Where ``now`` is not the run ``recorded``: a config field, else a data file; None
    when they are the same run."""
    found = first_difference(recorded.config, now.config, ignore=ignore, words=("recorded", "now"))
    return found or data_difference(recorded.data, now.data)
