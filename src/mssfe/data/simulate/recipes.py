"""Recipes: which library materials, in which fractions, make up each class of a layout.

A recipe is a TOML file (the packaged ones are in ``mssfe/data/recipes/``)::

    [scene]        name, sensor, scene_seed, difficulty
    [radiometry]   snr, dn_gain, dn_offset
    [variability]  field_sd, smooth_sd, jitter_sd, corr_px, illumination, illumination_corr_px,
                   blur_px, pool_concentration, brightness_sd
    [soil]         category, pool, quantile, corr_px  (the regional soil under every pixel)
    [endmembers.NAME]  category, pool, and optional lai/chl/lma = [lo, hi] (PROSAIL canopies)
                       or quantile = [lo, hi] (of mean reflectance within the category)
    [background]   field_px, components                (unlabelled pixels)
    [classes.ID]   name, components, and optional brightness, field_sd, smooth_sd, jitter_sd

``components`` is a list of ``{endmember = "...", cover = f}``; the soil fills what the
covers leave. Every bad entry raises :class:`~mssfe.errors.DataError` naming the file, the
field, what was expected and what was found.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mssfe.errors import DataError

_PARAM_FILTERS = ("lai", "chl", "lma")


@dataclass(frozen=True)
class Endmember:
    """A named material: ``pool`` spectra drawn from a library category (scene seed)."""

    name: str
    category: str
    pool: int = 3
    ranges: tuple[tuple[str, float, float], ...] = ()  # (param, lo, hi) filters
    quantile: tuple[float, float] | None = None


@dataclass(frozen=True)
class Component:
    endmember: str
    cover: float


@dataclass(frozen=True)
class ClassRecipe:
    """How one class is mixed; ``None`` variability fields fall back to the recipe default."""

    value: int
    name: str
    components: tuple[Component, ...]
    brightness: float = 1.0
    field_sd: float | None = None
    smooth_sd: float | None = None
    jitter_sd: float | None = None


@dataclass(frozen=True)
class Variability:
    field_sd: float = 0.08
    smooth_sd: float = 0.06
    jitter_sd: float = 0.03
    corr_px: float = 3.0
    illumination: float = 0.04
    illumination_corr_px: float = 6.0
    blur_px: float = 0.6
    pool_concentration: float = 4.0
    brightness_sd: float = 0.04


@dataclass(frozen=True)
class Recipe:
    """Everything the generator needs besides the label raster and the seeds."""

    name: str
    sensor: str
    scene_seed: int
    difficulty: float
    snr: float
    dn_gain: float
    dn_offset: float
    variability: Variability
    soil: Endmember
    soil_corr_px: float
    endmembers: dict[str, Endmember]
    background: ClassRecipe
    background_field_px: float
    classes: dict[int, ClassRecipe]
    source: str = ""


class _Reader:
    """Typed access to one TOML table, raising DataError with the dotted field name."""

    def __init__(self, table: Any, path: str, prefix: str) -> None:
        self.path, self.prefix = path, prefix
        if not isinstance(table, dict):
            raise DataError("not a table", file=path, field=prefix, expected="a table", got=table)
        self.table: dict[str, Any] = table

    def _field(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise DataError(
                    "missing",
                    file=self.path,
                    field=self._field(key),
                    expected=_kind_name(kind),
                    got="nothing",
                )
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise DataError(
                "wrong type",
                file=self.path,
                field=self._field(key),
                expected=_kind_name(kind),
                got=repr(value),
            )
        return value

    def number(
        self, key: str, default: Any = ..., lo: float | None = None, hi: float | None = None
    ) -> Any:
        value = self.get(key, (int, float), default)
        if value is None:
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise DataError(
                "out of range",
                file=self.path,
                field=self._field(key),
                expected=f"a number in [{lo}, {hi}]",
                got=value,
            )
        return float(value)

    def sub(self, key: str) -> _Reader:
        return _Reader(self.get(key, dict), self.path, self._field(key))

    def check_keys(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.table) - allowed)
        if unknown:
            raise DataError(
                "unknown key",
                file=self.path,
                field=self._field(unknown[0]),
                expected=f"one of {sorted(allowed)}",
                got=unknown[0],
            )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {"dict": "table", "list": "array"}.get(k.__name__, k.__name__) for k in kinds
    )


def _pair(reader: _Reader, key: str) -> tuple[float, float] | None:
    value = reader.get(key, list, None)
    if value is None:
        return None
    ok = (
        len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and value[0] <= value[1]
    )
    if not ok:
        raise DataError(
            "bad range",
            file=reader.path,
            field=reader._field(key),
            expected="[lo, hi] with lo <= hi",
            got=value,
        )
    return float(value[0]), float(value[1])


def _endmember(reader: _Reader, name: str) -> Endmember:
    reader.check_keys({"category", "pool", "quantile", *_PARAM_FILTERS})
    ranges = []
    for param in _PARAM_FILTERS:
        pair = _pair(reader, param)
        if pair is not None:
            ranges.append((param, *pair))
    quantile = _pair(reader, "quantile")
    if quantile is not None and not (quantile[0] >= 0.0 and quantile[1] <= 1.0):
        raise DataError(
            "bad quantile",
            file=reader.path,
            field=reader._field("quantile"),
            expected="[lo, hi] inside [0, 1]",
            got=list(quantile),
        )
    return Endmember(
        name,
        reader.get("category", str),
        int(reader.number("pool", 3, 1, 50)),
        tuple(ranges),
        quantile,
    )


def _components(reader: _Reader, endmembers: dict[str, Endmember]) -> tuple[Component, ...]:
    items = reader.get("components", list)
    out = []
    for i, item in enumerate(items):
        sub = _Reader(item, reader.path, f"{reader._field('components')}[{i}]")
        sub.check_keys({"endmember", "cover"})
        name = sub.get("endmember", str)
        if name not in endmembers:
            raise DataError(
                "unknown endmember",
                file=reader.path,
                field=sub._field("endmember"),
                expected=f"one of {sorted(endmembers)}",
                got=name,
            )
        out.append(Component(name, sub.number("cover", lo=0.0, hi=1.0)))
    total = sum(c.cover for c in out)
    if total > 1.0 + 1e-9:
        raise DataError(
            "covers add up to more than one",
            file=reader.path,
            field=reader._field("components"),
            expected="sum <= 1",
            got=round(total, 4),
        )
    return tuple(out)


def _class(reader: _Reader, value: int, endmembers: dict[str, Endmember]) -> ClassRecipe:
    reader.check_keys({"name", "components", "brightness", "field_sd", "smooth_sd", "jitter_sd"})
    return ClassRecipe(
        value=value,
        name=reader.get("name", str),
        components=_components(reader, endmembers),
        brightness=reader.number("brightness", 1.0, 0.0, 5.0),
        field_sd=reader.number("field_sd", None, 0.0, 1.0),
        smooth_sd=reader.number("smooth_sd", None, 0.0, 1.0),
        jitter_sd=reader.number("jitter_sd", None, 0.0, 1.0),
    )


def _variability(reader: _Reader) -> Variability:
    reader.check_keys(set(Variability.__dataclass_fields__))
    defaults = Variability()
    values = {
        k: reader.number(k, getattr(defaults, k), 0.0, 100.0)
        for k in Variability.__dataclass_fields__
    }
    return Variability(**values)


def parse_recipe(data: dict[str, Any], source: str = "<recipe>") -> Recipe:
    """Validate a recipe already read from TOML."""
    root = _Reader(data, source, "")
    root.check_keys(
        {"scene", "radiometry", "variability", "soil", "endmembers", "background", "classes"}
    )
    scene, radio, soil = root.sub("scene"), root.sub("radiometry"), root.sub("soil")
    scene.check_keys({"name", "sensor", "scene_seed", "difficulty"})
    radio.check_keys({"snr", "dn_gain", "dn_offset"})
    ems_reader = root.sub("endmembers")
    endmembers = {name: _endmember(ems_reader.sub(name), name) for name in ems_reader.table}
    classes_reader = root.sub("classes")
    classes = {}
    for key in classes_reader.table:
        if not key.isdigit() or int(key) == 0:
            raise DataError(
                "class keys are label values",
                file=source,
                field=f"classes.{key}",
                expected="a positive integer",
                got=key,
            )
        classes[int(key)] = _class(classes_reader.sub(key), int(key), endmembers)
    background = root.sub("background")
    field_px = background.number("field_px", 12.0, 1.0, 1000.0)
    background.table = {k: v for k, v in background.table.items() if k != "field_px"}
    background.table.setdefault("name", "background")
    return Recipe(
        name=scene.get("name", str),
        sensor=scene.get("sensor", str),
        scene_seed=int(scene.get("scene_seed", int)),
        difficulty=scene.number("difficulty", 1.0, 0.0, 100.0),
        snr=radio.number("snr", lo=1.0, hi=1e6),
        dn_gain=radio.number("dn_gain", lo=1.0, hi=1e6),
        dn_offset=radio.number("dn_offset", 0.0, -1e5, 1e5),
        variability=_variability(
            root.sub("variability") if "variability" in data else _Reader({}, source, "variability")
        ),
        soil=_endmember(
            _Reader({k: v for k, v in soil.table.items() if k != "corr_px"}, source, "soil"), "soil"
        ),
        soil_corr_px=soil.number("corr_px", 30.0, 0.0, 1e4),
        endmembers=endmembers,
        background=_class(background, 0, endmembers),
        background_field_px=field_px,
        classes=classes,
        source=source,
    )


def recipe_path(name: str) -> Path | None:
    """Path of a packaged recipe (``IndianPines``, ``PaviaU``, ``Salinas``) or None."""
    path = Path(str(resources.files("mssfe.data") / "recipes" / f"{name}.toml"))
    return path if path.is_file() else None


def load_recipe(path_or_name: str | Path) -> Recipe:
    """Read and validate a recipe from a TOML file or a packaged recipe's name."""
    path = Path(path_or_name)
    if not path.is_file():
        packaged = recipe_path(str(path_or_name))
        if packaged is None:
            raise DataError(
                "no such recipe file or packaged recipe",
                file=path,
                expected="a TOML file or IndianPines, PaviaU, Salinas",
                got=str(path_or_name),
            )
        path = packaged
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"not valid TOML: {exc}", file=path) from exc
    return parse_recipe(data, str(path))
