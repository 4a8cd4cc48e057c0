"""Reading the JSON files mssfe writes, with errors that name the file, and typed records.

A record is a frozen dataclass (keyword-only fields) of what one JSON object holds.
:func:`record_from_json` checks each known field against its type hint, gives a missing field
its default and keeps fields it does not know in the record's ``extra`` (so nothing read is
lost when the record is written again); :func:`record_to_json` writes it back in field order.
A record with a ``format_version`` field refuses files of a newer version than its default;
a file with no version is version 1, the layout written before versions were recorded.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from mssfe.errors import ConfigError, DataError
from mssfe.utils.validation import check_type

R = TypeVar("R")


def read_json(path: str | Path) -> Any:
    """The parsed content of ``path``; an unreadable or damaged file raises :class:`DataError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read JSON ({exc})", file=path) from None


def record_from_json(
    cls: type[R], data: Any, *, file: str | Path | None = None, where: str = ""
) -> R:
    """A record ``cls`` from a parsed JSON object; DataError naming ``file`` and the field.

    ``where`` is the record's place in the file (``rows[3]``), prefixed to field names.
    """
    if not isinstance(data, Mapping):
        raise DataError(
            "not a JSON object",
            file=file,
            field=where or None,
            expected="an object {...}",
            got=type(data).__name__,
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields or key == "extra":
            extra[key] = value
            continue
        nested = _record_in(hints[key])
        if nested is not None and isinstance(value, Mapping):
            values[key] = record_from_json(nested, value, file=file, where=path)
            continue
        try:
            values[key] = check_type(value, hints[key], path)
        except ConfigError as exc:
            raise DataError(
                "a value of the wrong type",
                file=file,
                field=exc.field,
                expected=exc.expected,
                got=exc.got,
            ) from None
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and name != "extra"
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise DataError(
            "a field is missing",
            file=file,
            field=f"{where}.{missing[0]}" if where else missing[0],
            expected=f"the fields {', '.join(missing)}",
            got="none",
        )
    _check_version(cls, fields, values, file, where)
    if "extra" in fields:
        values["extra"] = extra
    return cls(**values)


def _check_version(
    cls: type,
    fields: Mapping[str, dataclasses.Field[Any]],
    values: Mapping[str, Any],
    file: str | Path | None,
    where: str,
) -> None:
    if "format_version" not in fields:
        return
    current = fields["format_version"].default
    version = values.get("format_version", 1)
    if not isinstance(current, int) or not 1 <= version <= current:
        raise DataError(
            f"a {cls.__name__} of a format this version of mssfe does not know",
            file=file,
            field=f"{where}.format_version" if where else "format_version",
            expected=f"1 to {current} (none: 1)",
            got=version,
        )


def _record_in(hint: Any) -> type | None:
    """The dataclass a field holds (``X`` or ``X | None``), or None."""
    candidates = typing.get_args(hint) if typing.get_origin(hint) else (hint,)
    for candidate in candidates:
        if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            return candidate
    return None


def record_to_json(record: Any, *, drop_none: Collection[str] = ()) -> dict[str, Any]:
    """The JSON object of a record: its fields in order (tuples as lists), nested records as
    objects, then the fields of ``extra``; fields named in ``drop_none`` are left out when None
    (a run records ``world_size`` or ``n_fit``, never both)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.name == "extra":
            continue
        value = getattr(record, f.name)
        if value is None and f.name in drop_none:
            continue
        out[f.name] = _plain(value)
    out.update(getattr(record, "extra", {}))
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return record_to_json(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
