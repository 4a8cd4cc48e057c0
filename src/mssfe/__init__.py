"""mssfe: supervised hyperspectral image classification with MS²FENet and baselines."""

from __future__ import annotations

__version__ = "0.1.0"
