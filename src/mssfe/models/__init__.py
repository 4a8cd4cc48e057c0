"""Models: a registry of HSI classifiers taking patches ``(N, 1, B, p, p)``.

Importing this package registers every model family; ask for one by name with
:func:`create_model` (see :mod:`mssfe.models.registry`).
"""

from __future__ import annotations

from mssfe.models import a2s2k as a2s2k  # registers 'a2s2k'
from mssfe.models import cnn3d as cnn3d  # registers 'cnn3d'
from mssfe.models import hybridsn as hybridsn  # registers 'hybridsn'
from mssfe.models import ms2fenet as ms2fenet  # registers 'ms2fenet'
from mssfe.models import ssftt as ssftt  # registers 'ssftt'
from mssfe.models import ssrn as ssrn  # registers 'ssrn'
from mssfe.models import svm as svm  # registers 'svm' (an estimator)
from mssfe.models import svm_epf as svm_epf  # registers 'svm_epf' (an estimator)
from mssfe.models.registry import (
    Fit,
    InputNeeds,
    ModelSpec,
    create_model,
    get_model_spec,
    input_needs,
    list_models,
    make_config,
    register_model,
)
from mssfe.models.summary import (
    LayerRow,
    count_parameters,
    flops_per_pixel,
    format_summary,
    layer_table,
)

__all__ = [
    "Fit",
    "InputNeeds",
    "LayerRow",
    "ModelSpec",
    "count_parameters",
    "create_model",
    "flops_per_pixel",
    "format_summary",
    "get_model_spec",
    "input_needs",
    "layer_table",
    "list_models",
    "make_config",
    "register_model",
]
