"""Spectral preprocessing: band standardisation, optional PCA, component standardisation.

Every statistic that involves labels is fitted on the *training* pixels only, so nothing
about the test pixels leaks into the inputs. PCA needs no labels: by default (NETWORK.md) it
is fitted on the scene's pixels (``pca_fit="scene"``); ``pca_fit="train"`` fits it on the
training pixels only, for the stricter protocol.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
from sklearn.decomposition import PCA

from mssfe.errors import ConfigError, DataError
from mssfe.utils.atomic import atomic_save
from mssfe.utils.jsonfile import record_from_json, record_to_json
from mssfe.utils.npz import load_npz_arrays, read_metadata
from mssfe.utils.validation import check_choice

PcaFit = Literal["scene", "train", "none"]
InputScale = Literal["component", "global"]
#: How step 3 of :func:`fit_preprocessor` scales the outputs (the recipe part ``input_scale``).
INPUT_SCALES: tuple[InputScale, ...] = ("component", "global")

MAX_PCA_PIXELS = 200_000  # scene-fitted PCA subsamples bigger scenes to this many pixels
CHUNK_PIXELS = 1 << 16  # pixels per transform chunk: bounds the float64 working copies
PREPROCESSOR_FORMAT = "mssfe-preprocessor"
PREPROCESSOR_VERSION = 1


def _safe_std(std: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Replace (near-)zero standard deviations by 1, so a constant channel maps to 0."""
    constant = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    return np.where(constant, 1.0, std)


@dataclass(frozen=True, eq=False)
class Preprocessor:
    """A fitted ``(H, W, B) -> (H, W, k)`` transform; k = n_components, or B without PCA.

    ``band_mean``/``band_std`` ``(B,)`` and ``out_mean``/``out_std`` ``(k,)`` come from the
    training pixels; ``components`` ``(k, B)`` and ``pca_mean`` ``(B,)`` from sklearn's PCA.
    """

    band_mean: np.ndarray
    band_std: np.ndarray
    components: np.ndarray | None
    pca_mean: np.ndarray | None
    out_mean: np.ndarray
    out_std: np.ndarray
    pca_fit: PcaFit

    @property
    def n_bands(self) -> int:
        return int(self.band_mean.shape[0])

    @property
    def n_outputs(self) -> int:
        return int(self.out_mean.shape[0])

    def transform_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """``(N, B)`` -> ``(N, k)`` float64; the whole pipeline on a batch of spectra."""
        x = (np.asarray(pixels, dtype=np.float64) - self.band_mean) / self.band_std
        if self.components is not None and self.pca_mean is not None:
            x = (x - self.pca_mean) @ self.components.T
        return (x - self.out_mean) / self.out_std

    def transform(self, cube: np.ndarray) -> np.ndarray:
        """``(H, W, B)`` -> ``(H, W, k)`` float32, in row chunks of ~65k pixels.

        Only one chunk is ever held in float64, so a big cube costs its float32 output plus a
        few MB of working space.
        """
        arr = np.asarray(cube)
        if arr.ndim != 3 or arr.shape[2] != self.n_bands:
            raise DataError(
                "cube does not match the preprocessor",
                field="cube",
                expected=f"(H, W, {self.n_bands})",
                got=arr.shape,
            )
        height, width, bands = arr.shape
        out = np.empty((height, width, self.n_outputs), dtype=np.float32)
        rows_per_chunk = max(1, CHUNK_PIXELS // max(1, width))
        for start in range(0, height, rows_per_chunk):
            stop = min(height, start + rows_per_chunk)
            chunk = arr[start:stop].reshape(-1, bands)
            out[start:stop] = self.transform_pixels(chunk).reshape(stop - start, width, -1)
        return out

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (no pickle) with the arrays and a JSON metadata string, atomically."""
        arrays = {
            "band_mean": self.band_mean,
            "band_std": self.band_std,
            "out_mean": self.out_mean,
            "out_std": self.out_std,
        }
        if self.components is not None and self.pca_mean is not None:
            arrays["components"] = self.components
            arrays["pca_mean"] = self.pca_mean
        meta = PreprocessorMetadata(pca_fit=self.pca_fit).to_json()

        def write(handle: IO[bytes]) -> None:
            np.savez(handle, metadata=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]

        atomic_save(path, write)

    @classmethod
    def load(cls, path: str | Path) -> Preprocessor:
        """Read a file written by :meth:`save`; anything malformed raises DataError."""
        arrays = load_npz_arrays(path, "preprocessor")
        if "metadata" not in arrays:
            raise DataError("missing array", file=path, field="metadata")
        pca_fit = PreprocessorMetadata.from_json(arrays["metadata"], path).pca_fit
        for key in ("band_mean", "band_std", "out_mean", "out_std"):
            if key not in arrays:
                raise DataError("missing array", file=path, field=key)
        has_pca = "components" in arrays and "pca_mean" in arrays
        prep = cls(
            band_mean=arrays["band_mean"].astype(np.float64),
            band_std=arrays["band_std"].astype(np.float64),
            components=arrays["components"].astype(np.float64) if has_pca else None,
            pca_mean=arrays["pca_mean"].astype(np.float64) if has_pca else None,
            out_mean=arrays["out_mean"].astype(np.float64),
            out_std=arrays["out_std"].astype(np.float64),
            pca_fit=pca_fit,
        )
        _check_shapes(prep, path)
        return prep


@dataclass(frozen=True, kw_only=True)
class PreprocessorMetadata:
    """The JSON string a preprocessor file carries beside its arrays: how PCA was fitted."""

    format: str = PREPROCESSOR_FORMAT
    version: int = PREPROCESSOR_VERSION
    pca_fit: PcaFit

    def to_json(self) -> dict[str, Any]:
        return record_to_json(self)

    @classmethod
    def from_json(cls, raw: np.ndarray, path: str | Path) -> PreprocessorMetadata:
        """The metadata of ``path``, checked: format, version, then the PCA fit."""
        meta = read_metadata(
            raw, path, fmt=PREPROCESSOR_FORMAT, version=PREPROCESSOR_VERSION, what="preprocessor"
        )
        return record_from_json(cls, meta, file=path, where="metadata")


def _check_shapes(prep: Preprocessor, path: str | Path) -> None:
    n_bands = prep.band_mean.shape
    n_out = (prep.components.shape[0],) if prep.components is not None else n_bands
    expected = {"band_mean": n_bands, "band_std": n_bands, "out_mean": n_out, "out_std": n_out}
    if prep.components is not None:
        expected["components"] = (n_out[0], n_bands[0])
        expected["pca_mean"] = n_bands
    for key, shape in expected.items():
        got = getattr(prep, key).shape
        if len(n_bands) != 1 or got != shape:
            raise DataError(
                "array has the wrong shape", file=path, field=key, expected=shape, got=got
            )


def _pca_pixels(
    cube: np.ndarray, train_idx: np.ndarray, pca_fit: str, rng: np.random.Generator
) -> np.ndarray:
    """Flat indices of the pixels PCA is fitted on (scene: subsampled to MAX_PCA_PIXELS)."""
    if pca_fit == "train":
        return train_idx
    n_pixels = cube.shape[0] * cube.shape[1]
    if n_pixels <= MAX_PCA_PIXELS:
        return np.arange(n_pixels, dtype=np.int64)
    return np.sort(rng.choice(n_pixels, size=MAX_PCA_PIXELS, replace=False))


def _check_fit_inputs(
    cube: np.ndarray, train_idx: np.ndarray, n_components: int | None, pca_fit: str
) -> np.ndarray:
    if cube.ndim != 3:
        raise DataError(
            "cube must be 3-D, band-last", field="cube", expected="(H, W, B)", got=cube.shape
        )
    n_pixels, n_bands = cube.shape[0] * cube.shape[1], cube.shape[2]
    idx = np.asarray(train_idx)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise DataError(
            "training pixels must be a non-empty 1-D integer array",
            field="train_idx",
            expected="(N,) int64, N >= 1",
            got=f"{idx.shape} {idx.dtype}",
        )
    if idx.min() < 0 or idx.max() >= n_pixels:
        raise DataError(
            "training pixel outside the scene",
            field="train_idx",
            expected=f"[0, {n_pixels})",
            got=f"[{idx.min()}, {idx.max()}]",
        )
    if pca_fit not in ("scene", "train"):
        raise ConfigError(f"pca_fit must be 'scene' or 'train', got {pca_fit!r}")
    if n_components is not None and not 1 <= n_components <= n_bands:
        raise ConfigError(
            f"n_components must be between 1 and the cube's {n_bands} bands, got {n_components}"
        )
    if n_components is not None and pca_fit == "train" and n_components > idx.size:
        raise ConfigError(
            f"n_components {n_components} exceeds the {idx.size} training pixels "
            "PCA is fitted on (pca_fit='train')"
        )
    return idx.astype(np.int64)


def _scene_is_constant(flat: np.ndarray) -> bool:
    """True when every band ``(N, B)`` holds one value over all pixels (checked in chunks)."""
    first = flat[0]
    for start in range(0, flat.shape[0], CHUNK_PIXELS):
        if np.any(flat[start : start + CHUNK_PIXELS] != first):
            return False
    return True


def fit_preprocessor(
    cube: np.ndarray,
    train_idx: np.ndarray,
    *,
    n_components: int | None,
    pca_fit: Literal["scene", "train"] = "scene",
    seed: int = 0,
    scale: InputScale = "component",
) -> Preprocessor:
    """Fit the preprocessing of a ``(H, W, B)`` cube from its training pixels ``train_idx``.

    1. Per-band standardisation with the mean/std of the training pixels (a constant band gets
       std 1 and a RuntimeWarning). 2. Optional PCA to ``n_components`` (sklearn, solver
       ``covariance_eigh``: exact, deterministic, fast when pixels >> bands), fitted on the
       scene's pixels (``"scene"``; more than 200,000 pixels are subsampled to 200,000 with
       ``seed``) or on the training pixels (``"train"``). 3. Per-component standardisation
       with the training pixels' statistics. ``n_components=None`` skips PCA.

    ``scale`` says how step 3 divides: ``"component"`` by each output's own std (every
    principal component gets unit variance: the authors' input), ``"global"`` by one common
    std (the root mean square of the outputs' stds), which keeps PCA's variance ordering, so
    the low-variance, mostly-noise components stay small instead of weighing as much as the
    first one (on Salinas-A ``random:5`` this is what separates neighbouring lettuce growth
    stages, measured on validation folds of the training pixels: ``docs/recipes.md``).
    """
    check_choice(scale, "scale", INPUT_SCALES)
    arr = np.asarray(cube)
    idx = _check_fit_inputs(arr, train_idx, n_components, pca_fit)
    flat = arr.reshape(-1, arr.shape[2])
    train = flat[idx].astype(np.float64)
    band_mean = train.mean(axis=0)
    raw_std = train.std(axis=0)
    band_std = _safe_std(raw_std, band_mean)
    constant = np.flatnonzero(band_std != raw_std)
    if constant.size == arr.shape[2] and _scene_is_constant(flat):
        raise DataError(
            "every band is constant over the whole cube: there is no spectral information "
            "to classify",
            field="cube",
            expected="at least one band whose values vary",
            got=f"all {arr.shape[2]} bands constant",
        )
    if constant.size:
        warnings.warn(
            f"{constant.size} constant band(s) over the training pixels (indices "
            f"{constant[:10].tolist()}{'...' if constant.size > 10 else ''}): std set to 1",
            RuntimeWarning,
            stacklevel=2,
        )
    components = pca_mean = None
    if n_components is not None:
        fit_idx = _pca_pixels(arr, idx, pca_fit, np.random.default_rng(seed))
        if n_components > fit_idx.size:
            raise ConfigError(
                f"n_components {n_components} exceeds the {fit_idx.size} pixels PCA is fitted on"
            )
        fit_pixels = (flat[fit_idx].astype(np.float64) - band_mean) / band_std
        pca = PCA(n_components=n_components, svd_solver="covariance_eigh", random_state=seed)
        pca.fit(fit_pixels)
        components, pca_mean = pca.components_.astype(np.float64), pca.mean_.astype(np.float64)
    partial = Preprocessor(
        band_mean,
        band_std,
        components,
        pca_mean,
        np.zeros(n_components or arr.shape[2]),
        np.ones(n_components or arr.shape[2]),
        pca_fit if n_components is not None else "none",
    )
    projected = partial.transform_pixels(train)
    out_mean = projected.mean(axis=0)
    out_std = _safe_std(projected.std(axis=0), out_mean)
    if scale == "global":  # one divisor for every output: relative variances kept
        out_std = np.full_like(out_std, np.sqrt(np.mean(out_std**2)))
    return Preprocessor(
        band_mean, band_std, components, pca_mean, out_mean, out_std, partial.pca_fit
    )
