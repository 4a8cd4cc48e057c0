"""Load a scene (registered, simulated, or a user's own cube) into one in-memory form.

A :class:`Scene` holds the cube ``(H, W, B)``, the labels mapped to contiguous indices
``0 = unlabelled, 1..K`` (the file's own ids are kept in ``label_values``), class names and
colours, and where every byte came from (paths and SHA-256, or the simulator version and seed).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mssfe.data.bands import BandSelection, select_bands
from mssfe.data.download import cache_dir
from mssfe.data.embedded import embedded_dir
from mssfe.data.registry import PALETTE, SCENES, SceneInfo, get_scene_info
from mssfe.errors import DataError

SIM_SUFFIX = "-sim"


@dataclass(frozen=True)
class Scene:
    """A labelled hyperspectral scene ready for splitting and training."""

    name: str
    cube: np.ndarray | None  # (H, W, B) as stored (int16 or float); None when only labels loaded
    labels: np.ndarray  # (H, W) int64, 0 = unlabelled, 1..K
    class_names: tuple[str, ...]
    label_values: tuple[int, ...]  # the file's id of each class 1..K
    colours: tuple[str, ...]
    rgb_bands: tuple[int, int, int] = (0, 0, 0)
    simulated: bool = False
    sources: dict[str, Any] = field(default_factory=dict)  # provenance: files, sha256, sim version
    crs: str | None = None
    transform: tuple[float, float, float, float, float, float] | None = None
    wavelengths: np.ndarray | None = None  # (B,) nm of the scene's bands
    valid: np.ndarray | None = None  # (H, W) bool: False where the cube file holds no data
    good_bands: np.ndarray | None = None  # (B,) bool: False for a band the file marks bad
    bands: BandSelection | None = None  # the file's bands kept (None: all, as stored)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.labels.shape[0]), int(self.labels.shape[1]))

    @property
    def n_bands(self) -> int:
        if self.cube is None:
            raise DataError(f"scene '{self.name}' was loaded without its cube")
        return int(self.cube.shape[2])

    def require_cube(self) -> np.ndarray:
        if self.cube is None:
            raise DataError(f"scene '{self.name}' was loaded without its cube")
        return self.cube


def contiguous_labels(
    labels: np.ndarray, label_values: tuple[int, ...], *, file: str | Path | None = None
) -> np.ndarray:
    """Map file label ids (e.g. Salinas-A's 1, 10-14) to 1..K; 0 stays unlabelled."""
    labels = np.asarray(labels)
    present = {int(v) for v in np.unique(labels)} - {0}
    unknown = sorted(present - set(label_values))
    if unknown:
        raise DataError(
            "labels hold values that are not in the class list",
            file=file,
            field="labels",
            expected=f"0 or one of {list(label_values)}",
            got=unknown[:10],
        )
    # a sorted lookup, not a table indexed by id: memory follows the class count, not the ids
    ids = np.asarray(label_values, dtype=np.int64)
    if ids.size == 0:
        return np.zeros(labels.shape, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    flat = labels.astype(np.int64).ravel()
    pos = np.searchsorted(ids[order], flat).clip(max=len(ids) - 1)
    found = ids[order][pos] == flat
    out = np.where(found & (flat != 0), order[pos] + 1, 0)
    return out.reshape(labels.shape).astype(np.int64)


def sim_infos() -> dict[str, SceneInfo]:
    """Registry entries of the simulated stand-ins (``IndianPines-sim`` ...)."""
    from mssfe.data.simulate import SIM_SCENES

    infos = {}
    for sim_name, layout in SIM_SCENES.items():
        base = get_scene_info(layout)
        infos[sim_name] = replace(
            base,
            name=sim_name,
            cube=None,
            embedded=False,
            simulated_from=layout,
            aliases=(),
            citation=f"simulated on the real {layout} label layout with earthlib spectra",
        )
    return infos


def find_scene_info(name: str) -> SceneInfo:
    """Registry entry of a real or simulated scene; unknown names suggest the closest."""
    return get_scene_info(name, extra=sim_infos())


def _load_registered(
    info: SceneInfo, data_dir: str | Path | None, download: bool, labels_only: bool, nan_policy: str
) -> Scene:
    from mssfe.data.download import locate_file
    from mssfe.data.readers import check_labels_match, load_cube, load_labels
    from mssfe.utils.atomic import sha256_file

    extra = [embedded_dir()]
    labels_path = locate_file(info.labels, data_dir, download=download, extra_dirs=extra)
    raw_labels = load_labels(labels_path, info.labels.variable)
    sources: dict[str, Any] = {
        "labels": {"path": str(labels_path), "sha256": sha256_file(labels_path)}
    }
    cube = None
    crs = transform = wavelengths = good_bands = None
    if not labels_only:
        if info.cube is None:
            raise DataError(f"scene '{info.name}' has no cube file in the registry")
        cube_path = locate_file(info.cube, data_dir, download=download, extra_dirs=extra)
        loaded = load_cube(cube_path, info.cube.variable, nan_policy=nan_policy)  # type: ignore[arg-type]
        check_labels_match(
            loaded.data.shape, raw_labels, cube_file=cube_path, labels_file=labels_path
        )
        cube, crs, transform, wavelengths = (
            loaded.data,
            loaded.crs,
            loaded.transform,
            loaded.wavelengths,
        )
        good_bands = loaded.good_bands
        sources["cube"] = {"path": str(cube_path), "sha256": sha256_file(cube_path)}
    return Scene(
        name=info.name,
        cube=cube,
        labels=contiguous_labels(raw_labels, info.label_values, file=labels_path),
        class_names=info.class_names,
        label_values=info.label_values,
        colours=info.class_colours,
        rgb_bands=info.rgb_bands,
        sources=sources,
        crs=crs,
        transform=transform,
        wavelengths=wavelengths,
        good_bands=good_bands,
    )


def _load_simulated(info: SceneInfo, labels_only: bool) -> Scene:
    from mssfe.data.simulate import cached_simulation

    sim = cached_simulation(info.name, cache_dir() / "simulated")
    return Scene(
        name=info.name,
        cube=None if labels_only else sim.cube,
        labels=contiguous_labels(sim.labels, info.label_values),
        class_names=info.class_names,
        label_values=info.label_values,
        colours=info.class_colours,
        rgb_bands=info.rgb_bands,
        simulated=True,
        sources={
            "simulator_version": sim.version,
            "layout": sim.layout,
            "scene_seed": sim.scene_seed,
            "noise_seed": sim.noise_seed,
            "cube_sha256": hashlib.sha256(sim.cube.tobytes()).hexdigest(),
        },
        wavelengths=sim.wavelengths,
    )


def load_scene(
    name: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    labels_only: bool = False,
    nan_policy: str = "raise",
) -> Scene:
    """Load a registered scene by name (``SalinasA``, ``IndianPines``, ``PaviaU-sim`` ...).

    Files are looked for in the package (embedded scenes), ``data_dir``, ``$MSSFE_DATA_DIR``
    and the user cache, and downloaded (verified) when missing and ``download`` is true.
    ``labels_only`` skips the cube, so split commands work where the cube is absent.
    """
    info = find_scene_info(name)
    if info.simulated_from is not None:
        return _load_simulated(info, labels_only)
    return _load_registered(info, data_dir, download, labels_only, nan_policy)


def load_user_scene(
    cube_path: str | Path,
    labels_path: str | Path,
    *,
    var: str | None = None,
    labels_var: str | None = None,
    class_names: tuple[str, ...] | None = None,
    nan_policy: str = "raise",
) -> Scene:
    """A user's own cube and label raster (MATLAB, ENVI, GeoTIFF, NumPy)."""
    from mssfe.data.readers import check_labels_match, load_cube, load_labels
    from mssfe.utils.atomic import sha256_file

    cube = load_cube(cube_path, var, nan_policy=nan_policy)  # type: ignore[arg-type]
    raw = load_labels(labels_path, labels_var)
    check_labels_match(cube.data.shape, raw, cube_file=cube_path, labels_file=labels_path)
    if cube.valid is not None:  # a label on a pixel without data cannot be trained or tested on
        raw = np.where(cube.valid, raw, 0)
    values = tuple(int(v) for v in np.unique(raw) if v != 0)
    if not values:
        raise DataError(
            "no labelled pixel",
            file=labels_path,
            field="labels",
            expected="at least one non-zero label",
            got="all zeros",
        )
    names = class_names or tuple(f"class {v}" for v in values)
    if len(names) != len(values):
        raise DataError(
            "class names do not match the labels",
            file=labels_path,
            field="class_names",
            expected=len(values),
            got=len(names),
        )
    n_bands = cube.data.shape[2]
    rgb = (int(n_bands * 0.75), int(n_bands * 0.5), int(n_bands * 0.25))
    return Scene(
        name=Path(cube_path).stem,
        cube=cube.data,
        labels=contiguous_labels(raw, values, file=labels_path),
        class_names=names,
        label_values=values,
        colours=tuple(PALETTE[i % len(PALETTE)] for i in range(len(values))),
        rgb_bands=rgb,
        sources={
            "cube": {"path": str(cube_path), "sha256": sha256_file(cube_path)},
            "labels": {"path": str(labels_path), "sha256": sha256_file(labels_path)},
        },
        crs=cube.crs,
        transform=cube.transform,
        wavelengths=cube.wavelengths,
        valid=cube.valid,
        good_bands=cube.good_bands,
    )


def select_scene_bands(
    scene: Scene, spec: str | None, *, keep_bad: bool = False, name: str = "bands"
) -> Scene:
    """``scene`` with the bands ``spec`` selects (None: all), its file's bad bands dropped
    unless ``keep_bad`` (a warning says how many); the selection is kept in ``scene.bands``.

    A scene whose bands were already selected, or loaded without its cube, is returned as it
    is; so is one where nothing is to be dropped. The false-colour bands move to the nearest
    kept band.
    """
    if scene.cube is None or scene.bands is not None:
        return scene
    if spec is None and (scene.good_bands is None or keep_bad or scene.good_bands.all()):
        return scene
    chosen = select_bands(
        scene.n_bands,
        spec,
        wavelengths=scene.wavelengths,
        good=scene.good_bands,
        keep_bad=keep_bad,
        name=name,
    )
    if chosen.n_bad_dropped:
        warnings.warn(
            f"{scene.name}: dropped {chosen.n_bad_dropped} bad band(s) the file marks (ENVI "
            "bbl); keep them with --keep-bad-bands (data.keep_bad_bands = true)",
            UserWarning,
            stacklevel=2,
        )
    idx = chosen.indices
    rgb = tuple(int(np.abs(idx - b).argmin()) for b in scene.rgb_bands)
    return replace(
        scene,
        cube=np.ascontiguousarray(scene.cube[:, :, idx]),
        wavelengths=chosen.wavelengths,
        good_bands=None if scene.good_bands is None else scene.good_bands[idx],
        rgb_bands=(rgb[0], rgb[1], rgb[2]),
        bands=chosen,
    )


def all_scene_infos() -> list[SceneInfo]:
    """Every registered scene, real then simulated."""
    return [*SCENES, *sim_infos().values()]
