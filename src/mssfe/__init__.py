"""mssfe: supervised hyperspectral image classification with MS²FENet and baselines.

The public API mirrors the command line, one function per command (docs/python-api.md)::

    import mssfe

    scene = mssfe.load_scene("SalinasA")                  # cube (83, 86, 204), labels (83, 86)
    group = mssfe.train("SalinasA", "ms2fenet", split="random:5", epochs=10)
    done = mssfe.predict(group.run_dirs[0], scene.cube)   # codes, probabilities, confidence

Names are imported on first use (PEP 562), so ``import mssfe`` and ``mssfe --help`` load
neither torch nor scikit-learn. ``__all__`` is the stable list; anything else may move.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # as typing.TYPE_CHECKING (mypy and import-linter read the name), without
# importing typing: ``import mssfe`` stays at a few milliseconds
__version__ = "0.1.0"

# public name -> (module, attribute): what each name is, imported when first asked for
_EXPORTS: dict[str, tuple[str, str]] = {
    # data: `mssfe scenes`, `mssfe split`, --cube
    "load_scene": ("mssfe.data.scenes", "load_scene"),
    "load_user_scene": ("mssfe.data.scenes", "load_user_scene"),
    "load_cube": ("mssfe.data.readers", "load_cube"),
    "make_split": ("mssfe.data.splits", "make_split"),
    "Scene": ("mssfe.data.scenes", "Scene"),
    "Split": ("mssfe.data.splits", "Split"),
    # models: `mssfe info`
    "create_model": ("mssfe.models", "create_model"),
    "list_models": ("mssfe.models", "list_models"),
    # configuration: `mssfe train --config FILE`
    "RunConfig": ("mssfe.training.config", "RunConfig"),
    "DataConfig": ("mssfe.training.config", "DataConfig"),
    "OptimConfig": ("mssfe.training.config", "OptimConfig"),
    "RuntimeConfig": ("mssfe.training.config", "RuntimeConfig"),
    # workflows: `mssfe train / evaluate / predict / benchmark / report / compare`
    "train": ("mssfe.workflows.train", "train"),
    "evaluate": ("mssfe.workflows.evaluate", "evaluate"),
    "load_run": ("mssfe.workflows.predict", "load_run"),
    "predict": ("mssfe.workflows.predict", "predict"),
    "Prediction": ("mssfe.workflows.predict", "Prediction"),
    "benchmark": ("mssfe.workflows.benchmark", "benchmark"),
    "report": ("mssfe.workflows.report", "write_report"),
    "compare": ("mssfe.workflows.compare", "compare"),
    # scikit-learn estimators
    "RBFSVM": ("mssfe.models.svm", "RBFSVM"),
    "PatchClassifier": ("mssfe.workflows.estimator", "PatchClassifier"),
}

__all__ = [  # the stable public API (kept equal to _EXPORTS by tests/test_api.py)
    "RBFSVM",
    "DataConfig",
    "OptimConfig",
    "PatchClassifier",
    "Prediction",
    "RunConfig",
    "RuntimeConfig",
    "Scene",
    "Split",
    "__version__",
    "benchmark",
    "compare",
    "create_model",
    "evaluate",
    "list_models",
    "load_cube",
    "load_run",
    "load_scene",
    "load_user_scene",
    "make_split",
    "predict",
    "report",
    "train",
]

if TYPE_CHECKING:  # the real objects, for mypy and IDEs; at run time __getattr__ imports them
    from typing import Any

    from mssfe.data.readers import load_cube as load_cube
    from mssfe.data.scenes import Scene as Scene
    from mssfe.data.scenes import load_scene as load_scene
    from mssfe.data.scenes import load_user_scene as load_user_scene
    from mssfe.data.splits import Split as Split
    from mssfe.data.splits import make_split as make_split
    from mssfe.models import create_model as create_model
    from mssfe.models import list_models as list_models
    from mssfe.models.svm import RBFSVM as RBFSVM
    from mssfe.training.config import DataConfig as DataConfig
    from mssfe.training.config import OptimConfig as OptimConfig
    from mssfe.training.config import RunConfig as RunConfig
    from mssfe.training.config import RuntimeConfig as RuntimeConfig
    from mssfe.workflows.benchmark import benchmark as benchmark
    from mssfe.workflows.compare import compare as compare
    from mssfe.workflows.estimator import PatchClassifier as PatchClassifier
    from mssfe.workflows.evaluate import evaluate as evaluate
    from mssfe.workflows.predict import Prediction as Prediction
    from mssfe.workflows.predict import load_run as load_run
    from mssfe.workflows.predict import predict as predict
    from mssfe.workflows.report import write_report as report
    from mssfe.workflows.train import train as train


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'mssfe' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
