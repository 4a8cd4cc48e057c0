"""Input validation at the boundary: scalar checks, one type-hint checker, one ``key=value`` parser.

Modelled on scikit-learn's ``sklearn.utils.validation.check_scalar``: a value is checked once,
where it enters (a config dataclass, the model registry, the command line), and a failure is a
:class:`~mssfe.errors.ConfigError` naming the argument, what was expected and what was got.
Config dataclasses call these from ``__post_init__``; :func:`build_dataclass` turns a TOML table
or a dict of overrides into one, checking names and types on the way.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import tomllib
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal

from mssfe.errors import ConfigError
from mssfe.utils.suggest import did_you_mean

Boundaries = Literal["both", "left", "right", "neither"]

_TYPE_NAMES = {int: "an int", float: "a float", bool: "a bool", str: "a string"}


def check_scalar(
    value: Any,
    name: str,
    target_type: type | tuple[type, ...],
    *,
    min_val: float | None = None,
    max_val: float | None = None,
    include_boundaries: Boundaries = "both",
    finite: bool = True,
) -> Any:
    """``value`` if it is a ``target_type`` within ``[min_val, max_val]``, else ConfigError.

    ``bool`` is not an int here (``True`` is no batch size); an int is a float (it is returned
    as one when ``target_type`` is ``float``). ``include_boundaries`` says which bounds are
    allowed values; ``finite`` refuses NaN and infinities for float targets.
    """
    types_ = target_type if isinstance(target_type, tuple) else (target_type,)
    expected = _expected(types_, min_val, max_val, include_boundaries, finite)
    if bool in types_ and isinstance(value, bool):
        return value
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ((float in types_ and is_number) or (int in types_ and _is_int(value))):
        raise ConfigError(field=name, expected=expected, got=_typed(value))
    if float in types_ and int not in types_:
        value = float(value)
    elif _is_int(value):
        value = int(value)
    if finite and not math.isfinite(value):
        raise ConfigError(field=name, expected=expected, got=_show(value))
    low_ok = include_boundaries in ("both", "left")
    high_ok = include_boundaries in ("both", "right")
    if min_val is not None and (value < min_val or (value == min_val and not low_ok)):
        raise ConfigError(field=name, expected=expected, got=_show(value))
    if max_val is not None and (value > max_val or (value == max_val and not high_ok)):
        raise ConfigError(field=name, expected=expected, got=_show(value))
    return value


def check_optional_scalar(value: Any, name: str, target_type: type, **bounds: Any) -> Any:
    """:func:`check_scalar` where ``None`` (the default, "decided later") is also accepted."""
    return None if value is None else check_scalar(value, name, target_type, **bounds)


def check_choice(value: Any, name: str, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices``, else ConfigError listing them (and the closest)."""
    if not isinstance(value, str) or value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise ConfigError(
            field=name,
            expected="one of " + ", ".join(repr(c) for c in choices),
            got=f"{value!r}{hint}",
        )
    return value


def check_patch_size(value: Any, name: str = "patch_size") -> int:
    """An odd int >= 1: a patch has a centre pixel (``p // 2`` on each side of it)."""
    value = check_scalar(value, name, int, min_val=1)
    if value % 2 == 0:
        raise ConfigError(field=name, expected="an odd int >= 1", got=repr(value))
    return int(value)


def check_distinct_ints(
    values: Iterable[Any], name: str, *, min_val: int = 0, max_val: int | None = None
) -> tuple[int, ...]:
    """A non-empty sequence of distinct ints in ``[min_val, max_val]`` (seeds: a repeated one
    would be trained once and counted twice in a mean)."""
    items = tuple(values)
    if not items:
        raise ConfigError(field=name, expected="at least one value", got="none")
    for item in items:
        check_scalar(item, name, int, min_val=min_val, max_val=max_val)
    repeated = sorted({v for v in items if items.count(v) > 1})
    if repeated:
        raise ConfigError(
            field=name, expected="distinct values", got=f"{list(items)} ({repeated} repeated)"
        )
    return items


def check_seeds(seeds: Any, name: str = "seeds", *, max_val: int | None = None) -> tuple[int, ...]:
    """The seeds ``seeds`` stands for, with one meaning wherever seeds are given: an int ``N``
    is a count (seeds ``0..N-1``, ``N >= 1``), a sequence the seeds themselves (distinct)."""
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        count = check_scalar(int(seeds), name, int, min_val=1)
        return tuple(range(count))
    return check_distinct_ints(seeds, name, max_val=max_val)


def check_type(value: Any, hint: Any, name: str) -> Any:
    """``value`` checked against a type hint and lightly converted, else ConfigError.

    Conversions: an int where a float is expected becomes a float, a list where a tuple is
    expected becomes a tuple (TOML, JSON and argparse have no tuples), a table is copied.
    Covers what config dataclasses use: ``Any``, unions and ``Optional``, ``Literal``, fixed and
    variadic tuples, ``dict``, ``int``/``float``/``bool``/``str`` and plain classes.
    """
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return check_type(value, arg, name)
            except ConfigError:
                continue
        shown = " | ".join(_hint_name(a) for a in args if a is not type(None))  # None: unset
        raise ConfigError(field=name, expected=shown, got=_typed(value))
    if origin is Literal:
        if value not in args:
            raise ConfigError(field=name, expected=_hint_name(hint), got=_typed(value))
        return value
    if origin is tuple or hint is tuple:
        return _check_tuple(value, args, hint, name)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(field=name, expected="a table", got=_typed(value))
        return dict(value)
    if hint is type(None):
        if value is not None:
            raise ConfigError(field=name, expected="None", got=_typed(value))
        return None
    if hint is float and _is_int(value):
        return float(value)
    if hint is float and isinstance(value, float):
        return value
    if hint is int and _is_int(value):
        return value
    if hint in (int, float) or (isinstance(hint, type) and not isinstance(value, hint)):
        raise ConfigError(field=name, expected=_hint_name(hint), got=_typed(value))
    return value  # a hint this checker does not model is left to the dataclass's own checks


def _check_tuple(value: Any, args: tuple[Any, ...], hint: Any, name: str) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise ConfigError(field=name, expected=_hint_name(hint), got=_typed(value))
    if not args:
        return tuple(value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(check_type(v, args[0], f"{name}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(field=name, expected=_hint_name(hint), got=_typed(value))
    pairs = enumerate(zip(value, args, strict=True))
    return tuple(check_type(v, a, f"{name}[{i}]") for i, (v, a) in pairs)


def build_dataclass(cls: type, values: Mapping[str, Any], where: str = "") -> Any:
    """An instance of the frozen dataclass ``cls`` from a table of its fields, checked.

    Unknown names are refused with a suggestion and the valid names; each value is checked
    against its field's type hint (:func:`check_type`); a nested dataclass field takes a nested
    table. Errors name the field by its dotted path under ``where`` (``optim.lr``); an error
    the dataclass raises itself (``__post_init__``) is re-raised under the same path.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            raise ConfigError(
                f"unknown option '{key}'{did_you_mean(str(key), names)} "
                f"(valid options: {', '.join(names)})",
                field=where or None,
            )
        nested = _dataclass_in(hints[key])
        if nested is not None and isinstance(value, Mapping):
            kwargs[key] = build_dataclass(nested, value, path)
        elif nested is not None and value is not None:
            raise ConfigError(field=path, expected="a table", got=_typed(value))
        else:
            kwargs[key] = check_type(value, hints[key], path)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if exc.field is None or not where or exc.field.startswith(f"{where}."):
            raise
        raise exc.renamed(f"{where}.{exc.field}") from None


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass a field holds (``X`` or ``X | None``), or None."""
    candidates = typing.get_args(hint) if typing.get_origin(hint) else (hint,)
    for candidate in candidates:
        if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            return candidate
    return None


def parse_value(text: str) -> Any:
    """A command-line value read as TOML reads it (``2`` int, ``0.5`` float, ``true`` bool,
    ``[3, 5]`` list); anything TOML cannot read stays the string it was."""
    try:
        return tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def parse_key_value(item: str, name: str) -> tuple[str, Any]:
    """``"key=value"`` as ``(key, parsed value)``; ``name`` is the option it came from."""
    key, eq, value = item.partition("=")
    if not eq or not key.strip():
        raise ConfigError(field=name, expected="KEY=VALUE", got=repr(item))
    return key.strip(), parse_value(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """What was got, for a value of the right type but out of range."""
    return repr(value.item() if hasattr(value, "item") else value)


def _typed(value: Any) -> str:
    """What was got, with its type, for a value of the wrong type."""
    return f"{type(value).__name__} {value!r}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _hint_name(hint: Any) -> str:
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__name__
    return str(hint).replace("typing.", "")


def _expected(
    types_: tuple[type, ...],
    min_val: float | None,
    max_val: float | None,
    include_boundaries: Boundaries,
    finite: bool,
) -> str:
    kind = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types_)
    if finite and float in types_:
        kind = kind.replace("a float", "a finite float")
    low = "" if min_val is None else (">= " if include_boundaries in ("both", "left") else "> ")
    high = "" if max_val is None else ("<= " if include_boundaries in ("both", "right") else "< ")
    bounds = [
        f"{low}{_number(min_val)}" if min_val is not None else "",
        f"{high}{_number(max_val)}" if max_val is not None else "",
    ]
    text = " and ".join(b for b in bounds if b)
    return f"{kind} {text}".strip()
