"""The scene generator: a label raster and a recipe in, a DN-like cube out.

Model (per pixel x in field f of class c; a field is a connected patch of one class, or a
Voronoi cell of the unlabelled background)::

    a_j(x)   = cover_j(f) + d * (smooth_sd_c * G_j(x) + jitter_sd_c * e_j(x))    (clipped)
    rho(x)   = b(f) * L(x) * [ sum_j a_j(x) E_j(f) + (1 - sum_j a_j(x)) S(x) ]
    DN(x)    = offset + gain * (sunT * blur(rho)(x) + path) + d * noise(SNR, band)

``E_j(f)`` is a field's own Dirichlet mix of the endmember's library pool, ``S(x)`` a
smooth regional mix of soils, ``G`` correlated fields (~3 px), ``e`` white jitter, ``L`` a
+-4 % illumination field, and ``d`` the difficulty knob that scales all variability and the
sensor noise together. The scene seed fixes endmembers, soils and field parameters; the
noise seed fixes the within-field fields, illumination and sensor noise. Every draw comes
from its own numpy ``Generator`` stream and the spatial filters are ``scipy.ndimage``
convolutions, so the cube is the same for the same seeds whatever the thread count; rows are
assembled in chunks (the result does not depend on the chunk size), which bounds memory.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from mssfe.data.simulate.fields import smooth_field, soft_partition
from mssfe.data.simulate.library import GRID_NM, SpectralLibrary, load_library
from mssfe.data.simulate.recipes import ClassRecipe, Endmember, Recipe
from mssfe.data.simulate.sensors import Sensor, get_sensor, resample, response_matrix
from mssfe.errors import ConfigError, DataError
from mssfe.utils.validation import check_optional_scalar, check_scalar

SIMULATOR_VERSION = "1.0"
_TRUNCATE = 4.0
_CHUNK_PIXELS = 1 << 16  # rows per chunk = this // width (memory bound only)
_NOISE_REF = 0.3  # reflectance at which ``snr`` holds at the brightest band

# independent random streams (never renumber: that would change every scene)
_S_ENDMEMBER, _S_SOIL, _S_SOILMAP, _S_FIELDS, _S_BACKGROUND, _S_TILES = 1, 2, 3, 4, 5, 6
_N_SMOOTH, _N_JITTER, _N_ILLUM, _N_SENSOR = 11, 12, 13, 14


@dataclass(frozen=True)
class SimulatedScene:
    """A generated cube, its labels and what produced it."""

    cube: np.ndarray  # (H, W, B) int16 DN-like
    labels: np.ndarray  # (H, W) the layout's original label values, 0 = unlabelled
    wavelengths: np.ndarray  # (B,) nm
    layout: str
    scene_seed: int
    noise_seed: int
    scale: int
    version: str
    difficulty: float


@dataclass(frozen=True)
class _Fields:
    """Per-field parameters, indexed by the field id of each pixel."""

    ids: np.ndarray  # (H, W) int32
    cover: np.ndarray  # (F, J) float32
    present: np.ndarray  # (F, J) bool: the field's class has component j
    spectra: np.ndarray  # (F, J, B) float32
    brightness: np.ndarray  # (F,) float32
    smooth_sd: np.ndarray  # (F,) float32
    jitter_sd: np.ndarray  # (F,) float32


def _rng(seed: int, stream: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *more])


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _candidates(lib: SpectralLibrary, em: Endmember, source: str) -> np.ndarray:
    """Library indices an endmember may draw from, after its category and range filters."""
    idx = lib.indices(em.category)
    if idx.size == 0:
        raise DataError(
            "unknown library category",
            file=source,
            field=f"{em.name}.category",
            expected=f"one of {lib.categories()}",
            got=em.category,
        )
    for param, lo, hi in em.ranges:
        values = lib.params[param][idx]
        idx = idx[(values >= lo) & (values <= hi)]
    if em.quantile is not None and idx.size:
        brightness = lib.spectra[idx].mean(axis=1)
        lo, hi = np.quantile(brightness, em.quantile)
        idx = idx[(brightness >= lo) & (brightness <= hi)]
    if idx.size == 0:
        raise DataError(
            "no library spectrum passes the filters",
            file=source,
            field=em.name,
            expected="at least one spectrum",
            got=0,
        )
    return idx


def draw_endmember(
    lib: SpectralLibrary, em: Endmember, sensor: Sensor, seed: int, source: str = ""
) -> np.ndarray:
    """(pool, B) reflectance spectra of one endmember, drawn with the scene seed."""
    idx = _candidates(lib, em, source)
    rng = _rng(seed, _S_ENDMEMBER, _name_key(em.name))
    chosen = np.sort(rng.choice(idx, size=min(em.pool, idx.size), replace=False))
    return resample(lib.spectra[chosen], lib.wavelengths, sensor)


def tile_layout(labels: np.ndarray, scale: int, seed: int) -> np.ndarray:
    """A K x K tiling of ``labels``, each tile randomly mirrored: a K^2-times larger layout."""
    if scale == 1:
        return labels
    rng = _rng(seed, _S_TILES, scale)
    rows = []
    for _ in range(scale):
        row = []
        for _ in range(scale):
            flip_r, flip_c = rng.random(2) < 0.5
            tile = labels[::-1] if flip_r else labels
            row.append(tile[:, ::-1] if flip_c else tile)
        rows.append(row)
    return np.block(rows)


def _field_ids(labels: np.ndarray, recipe: Recipe, seed: int) -> tuple[np.ndarray, list[int]]:
    """(H, W) field id per pixel and the label value of each field."""
    ids = np.zeros(labels.shape, dtype=np.int32)
    owner: list[int] = []
    for value in sorted(recipe.classes):
        comp, n = ndimage.label(labels == value, structure=np.ones((3, 3), dtype=int))
        inside = comp > 0
        ids[inside] = comp[inside] - 1 + len(owner)
        owner += [value] * n
    background = labels == 0
    n_bg = int(background.sum())
    if n_bg:
        n_cells = max(1, round(n_bg / recipe.background_field_px**2))
        rng = _rng(seed, _S_BACKGROUND)
        centres = rng.uniform((0, 0), labels.shape, size=(n_cells, 2))
        _, nearest = cKDTree(centres).query(np.argwhere(background))
        ids[background] = nearest + len(owner)
        owner += [0] * n_cells
    return ids, owner


def _field_params(
    recipe: Recipe, owner: list[int], endmembers: dict[str, np.ndarray], seed: int, d: float
) -> tuple[np.ndarray, ...]:
    """Per-field covers, endmember spectra and brightness, drawn with the scene seed."""
    var = recipe.variability
    recipes: dict[int, ClassRecipe] = {0: recipe.background, **recipe.classes}
    n_slots = max(len(r.components) for r in recipes.values())
    n_bands = next(iter(endmembers.values())).shape[1]
    owner_arr = np.asarray(owner)
    n_fields = owner_arr.size
    cover = np.zeros((n_fields, n_slots), np.float32)
    present = np.zeros((n_fields, n_slots), bool)
    spectra = np.zeros((n_fields, n_slots, n_bands), np.float32)
    bright = np.zeros(n_fields, np.float32)
    smooth = np.zeros(n_fields, np.float32)
    jitter = np.zeros(n_fields, np.float32)
    rng = _rng(seed, _S_FIELDS)
    for value in sorted(recipes):
        cls = recipes[value]
        rows = np.flatnonzero(owner_arr == value)
        if rows.size == 0:
            continue
        field_sd = var.field_sd if cls.field_sd is None else cls.field_sd
        for j, comp in enumerate(cls.components):
            pool = endmembers[comp.endmember]
            draw = comp.cover + d * field_sd * rng.standard_normal(rows.size)
            cover[rows, j] = np.clip(draw, 0.0, 1.0)
            present[rows, j] = True
            weights = rng.dirichlet(np.full(pool.shape[0], var.pool_concentration), rows.size)
            spectra[rows, j] = weights @ pool
        bright[rows] = cls.brightness * (1 + d * var.brightness_sd * rng.standard_normal(rows.size))
        smooth[rows] = var.smooth_sd if cls.smooth_sd is None else cls.smooth_sd
        jitter[rows] = var.jitter_sd if cls.jitter_sd is None else cls.jitter_sd
    return cover, present, spectra, bright, smooth, jitter


def _atmosphere(sensor: Sensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-band (sun x transmission, path radiance), both relative to the peak sun: (B,) each.

    A 5778 K black body, Rayleigh and aerosol extinction and Gaussian absorption features of
    O2 and water vapour: enough for DN-like band shapes, not a radiative transfer model.
    """
    um = GRID_NM / 1000.0
    sun = 1.0 / (um**5 * (np.exp(14388.0 / (um * 5778.0)) - 1.0))
    sun /= sun.max()
    trans = np.exp(-2.0 * (0.0088 * um**-4.05 + 0.06 * um**-1.3))
    for centre, width, depth in (
        (760, 4, 0.6),
        (820, 12, 0.15),
        (940, 25, 0.55),
        (1140, 30, 0.5),
        (1380, 50, 0.98),
        (1870, 70, 0.99),
        (2600, 150, 0.9),
    ):
        trans *= 1.0 - depth * np.exp(-0.5 * ((GRID_NM - centre) / width) ** 2)
    path = 0.02 * sun * (um / 0.45) ** -4.0
    response = response_matrix(sensor)
    return sun * trans @ response, path @ response


def _validate_labels(labels: np.ndarray, recipe: Recipe) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise DataError(
            "labels must be a 2-D integer raster",
            field="labels",
            expected="(H, W) integers",
            got=f"{arr.shape} {arr.dtype}",
        )
    values = set(np.unique(arr).tolist()) - {0}
    missing = sorted(values - set(recipe.classes))
    if missing or arr.min() < 0:
        raise DataError(
            "label values without a recipe class",
            file=recipe.source or None,
            field="classes",
            expected=f"entries for {sorted(values)}",
            got=f"none for {missing or [int(arr.min())]}",
        )
    return arr


def _row_noise(seed: int, stream: int, row: int, shape: tuple[int, ...]) -> np.ndarray:
    return _rng(seed, stream, row).standard_normal(shape).astype(np.float32)


@dataclass(frozen=True)
class _Maps:
    """Full-size 2-D fields that the row chunks read from."""

    smooth: np.ndarray  # (H, W, J)
    illum: np.ndarray  # (H, W)
    soil_weights: np.ndarray  # (H, W, S)
    soils: np.ndarray  # (S, B)


def _reflectance(
    rows: slice, fields: _Fields, maps: _Maps, noise_seed: int, d: float
) -> np.ndarray:
    """(h, W, B) float32 reflectance of a block of rows, before the boundary blur."""
    f = fields.ids[rows]
    n_slots = fields.cover.shape[1]
    width = f.shape[1]
    jitter = np.stack(
        [
            _row_noise(noise_seed, _N_JITTER, r, (width, n_slots))
            for r in range(rows.start, rows.stop)
        ]
    )
    present = fields.present[f]
    ab = fields.cover[f] + d * (
        fields.smooth_sd[f][..., None] * maps.smooth[rows] + fields.jitter_sd[f][..., None] * jitter
    )
    ab = np.clip(ab, 0.0, 1.0) * present
    total = ab.sum(axis=-1)
    ab /= np.maximum(total, 1.0)[..., None]
    soil_frac = 1.0 - ab.sum(axis=-1)
    weights = maps.soil_weights[rows]
    refl = soil_frac[..., None] * sum(
        weights[..., s, None] * maps.soils[s] for s in range(maps.soils.shape[0])
    )
    for j in range(n_slots):
        refl += ab[..., j, None] * fields.spectra[f, j]
    refl *= (fields.brightness[f] * maps.illum[rows])[..., None]
    return refl.astype(np.float32)


def _assemble(
    fields: _Fields, maps: _Maps, recipe: Recipe, sensor: Sensor, noise_seed: int, d: float
) -> np.ndarray:
    """(H, W, B) int16 cube, built in blocks of rows with a halo for the boundary blur."""
    height, width = fields.ids.shape
    sun_t, path = _atmosphere(sensor)
    noise_sd = d * recipe.dn_gain * _NOISE_REF * np.sqrt(sun_t / sun_t.max()) / recipe.snr
    blur = recipe.variability.blur_px
    halo = int(_TRUNCATE * blur + 0.5) if blur > 0 else 0
    step = max(1, _CHUNK_PIXELS // width)
    cube = np.empty((height, width, sensor.n_bands), np.int16)
    for start in range(0, height, step):
        stop = min(height, start + step)
        lo, hi = max(0, start - halo), min(height, stop + halo)
        refl = _reflectance(slice(lo, hi), fields, maps, noise_seed, d)
        if blur > 0:
            refl = ndimage.gaussian_filter(
                refl, sigma=(blur, blur, 0), mode="reflect", truncate=_TRUNCATE
            )
        refl = refl[start - lo : stop - lo]
        noise = np.stack(
            [
                _row_noise(noise_seed, _N_SENSOR, r, (width, sensor.n_bands))
                for r in range(start, stop)
            ]
        )
        dn = recipe.dn_offset + recipe.dn_gain * (sun_t * refl + path) + noise_sd * noise
        cube[start:stop] = np.clip(np.rint(dn), 0, np.iinfo(np.int16).max).astype(np.int16)
    return cube


BYTES_PER_VALUE = 24  # peak working memory per cube value (measured: ~21 at scale 2, IndianPines)


def _check_memory(shape: tuple[int, ...], scale: int, n_bands: int) -> None:
    """Refuse, before any work, a scene whose generation cannot fit in the memory available."""
    import psutil  # lazy: only a simulation needs it

    values = int(shape[0]) * int(shape[1]) * scale * scale * n_bands
    needed, available = values * BYTES_PER_VALUE, psutil.virtual_memory().available
    if needed > available:
        raise ConfigError(
            f"scale {scale}: a {shape[0] * scale} x {shape[1] * scale} x {n_bands} cube needs "
            f"about {needed / 2**30:,.1f} GiB of memory to generate, {available / 2**30:,.1f} GiB "
            "is available; choose a smaller --scale"
        )


def simulate(
    labels: np.ndarray,
    recipe: Recipe,
    sensor: str | Sensor | None = None,
    *,
    scene_seed: int,
    noise_seed: int,
    difficulty: float | None = None,
    scale: int = 1,
) -> SimulatedScene:
    """Generate a cube for ``labels`` (0 = unlabelled) with ``recipe``'s materials.

    ``difficulty`` defaults to the recipe's calibrated value; ``scale`` K tiles the layout
    K x K (randomly mirrored tiles) for benchmarks at realistic sizes.
    """
    check_scalar(scale, "scale", int, min_val=1)
    check_scalar(scene_seed, "scene_seed", int, min_val=0)
    check_scalar(noise_seed, "noise_seed", int, min_val=0)
    check_optional_scalar(difficulty, "difficulty", float, min_val=0.0, max_val=100.0)
    target = get_sensor(sensor if sensor is not None else recipe.sensor)
    _check_memory(labels.shape, scale, len(target.centres))
    d = recipe.difficulty if difficulty is None else float(difficulty)
    layout = tile_layout(_validate_labels(labels, recipe), scale, scene_seed)
    lib = load_library()
    endmembers = {
        name: draw_endmember(lib, em, target, scene_seed, recipe.source)
        for name, em in recipe.endmembers.items()
    }
    ids, owner = _field_ids(layout, recipe, scene_seed)
    fields = _Fields(ids, *_field_params(recipe, owner, endmembers, scene_seed, d))
    maps = _maps(
        layout.shape, recipe, target, lib, fields.cover.shape[1], scene_seed, noise_seed, d
    )
    cube = _assemble(fields, maps, recipe, target, noise_seed, d)
    return SimulatedScene(
        cube,
        layout,
        target.centres.copy(),
        recipe.name,
        scene_seed,
        noise_seed,
        scale,
        SIMULATOR_VERSION,
        d,
    )


def _maps(
    shape: tuple[int, int],
    recipe: Recipe,
    sensor: Sensor,
    lib: SpectralLibrary,
    n_slots: int,
    scene_seed: int,
    noise_seed: int,
    d: float,
) -> _Maps:
    """Soil pool and its regional weights (scene seed); smooth and illumination fields (noise)."""
    var = recipe.variability
    soils = draw_endmember(lib, recipe.soil, sensor, scene_seed, recipe.source)
    soil_weights = soft_partition(
        _rng(scene_seed, _S_SOILMAP), shape, soils.shape[0], recipe.soil_corr_px
    )
    smooth_rng = _rng(noise_seed, _N_SMOOTH)
    smooth = np.stack([smooth_field(smooth_rng, shape, var.corr_px) for _ in range(n_slots)], -1)
    illum = 1.0 + d * var.illumination * smooth_field(
        _rng(noise_seed, _N_ILLUM), shape, var.illumination_corr_px
    )
    return _Maps(smooth, illum.astype(np.float32), soil_weights, soils.astype(np.float32))


# --- registered layouts, files and the cache -------------------------------------------------

SIM_SCENES: dict[str, str] = {
    "IndianPines-sim": "IndianPines",
    "PaviaU-sim": "PaviaU",
    "Salinas-sim": "Salinas",
}
_LAYOUT_FILES: dict[str, tuple[str, str]] = {
    "IndianPines": ("Indian_pines_gt.mat", "indian_pines_gt"),
    "PaviaU": ("PaviaU_gt.mat", "paviaU_gt"),
    "Salinas": ("Salinas_gt.mat", "salinas_gt"),
}
# SHA-256 of ``cube.tobytes()`` for each registered scene at noise seed 0, this version.
REFERENCE_SHA256: dict[str, str] = {
    "IndianPines-sim": "9d7d7c5a9f11efe37db780903c5d12a3a9edbd6d48244bf53614f9d31363c420",
    "PaviaU-sim": "925abd3652b601c047712e84d24a31787a3b10004c9dab140d5f25ad83973ae8",
    "Salinas-sim": "1ed44a828e371cf01b94a325f81e4d953ae0e5a50a007e038f4d1358ccfcd5ea",
}


def cube_sha256(cube: np.ndarray) -> str:
    """Hex SHA-256 of a cube's bytes (C order): the identity of a generated scene."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(cube).tobytes()).hexdigest()


def layout_labels(layout: str) -> np.ndarray:
    """The real label map of a standard scene, shipped inside the package."""
    from scipy.io import loadmat

    from mssfe.data.embedded import embedded_path

    if layout not in _LAYOUT_FILES:
        raise ConfigError(f"unknown layout '{layout}'; known layouts: {', '.join(_LAYOUT_FILES)}")
    filename, variable = _LAYOUT_FILES[layout]
    path = embedded_path(filename)
    if path is None:
        raise DataError("embedded label map missing from the package", file=filename)
    return np.asarray(loadmat(path)[variable])


def simulate_layout(
    layout: str, *, noise_seed: int = 0, scale: int = 1, difficulty: float | None = None
) -> SimulatedScene:
    """Simulate a standard layout with its packaged recipe and fixed scene seed."""
    from mssfe.data.simulate.recipes import load_recipe

    labels = layout_labels(layout)
    recipe = load_recipe(layout)
    return simulate(
        labels,
        recipe,
        recipe.sensor,
        scene_seed=recipe.scene_seed,
        noise_seed=noise_seed,
        difficulty=difficulty,
        scale=scale,
    )


_META_KEYS = ("layout", "scene_seed", "noise_seed", "scale", "version", "difficulty")


def save_simulated(path: str | Path, sim: SimulatedScene) -> None:
    """Write a scene as .npz (no pickled objects), atomically."""
    import json

    from mssfe.utils.atomic import atomic_save

    meta = json.dumps({k: getattr(sim, k) for k in _META_KEYS})
    atomic_save(
        path,
        lambda handle: np.savez(
            handle,
            cube=sim.cube,
            labels=sim.labels,
            wavelengths=sim.wavelengths,
            meta=np.str_(meta),
        ),
    )


def load_simulated(path: str | Path) -> SimulatedScene:
    """Read a scene written by :func:`save_simulated`."""
    import json
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {k: data[k] for k in ("cube", "labels", "wavelengths")}
    except FileNotFoundError:
        raise DataError("no such simulated scene file", file=path) from None
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"not a simulated scene file: {exc}", file=path) from exc
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise DataError(
            "incomplete metadata",
            file=path,
            field="meta",
            expected=list(_META_KEYS),
            got=sorted(meta),
        )
    return SimulatedScene(**arrays, **{k: meta[k] for k in _META_KEYS})


def cached_simulation(name: str, cache_dir: Path, *, noise_seed: int = 0) -> SimulatedScene:
    """A registered ``-sim`` scene: generated on first use, then read from ``cache_dir``."""
    if name not in SIM_SCENES:
        raise ConfigError(f"unknown simulated scene '{name}'; known: {', '.join(SIM_SCENES)}")
    path = Path(cache_dir) / f"{name}_v{SIMULATOR_VERSION}_noise{noise_seed}.npz"
    if path.is_file():
        try:
            sim = load_simulated(path)
            if sim.version == SIMULATOR_VERSION and sim.noise_seed == noise_seed:
                return sim
        except DataError:
            pass  # a damaged cache file is regenerated below and replaced
    sim = simulate_layout(SIM_SCENES[name], noise_seed=noise_seed)
    save_simulated(path, sim)
    return sim
