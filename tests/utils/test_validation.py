"""The one validation module: scalar checks, the type-hint checker, the key=value parser."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pytest

from mssfe.errors import ConfigError
from mssfe.utils.validation import (
    build_dataclass,
    check_choice,
    check_distinct_ints,
    check_patch_size,
    check_scalar,
    check_type,
    parse_key_value,
    parse_value,
)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (0, {"min_val": 0, "include_boundaries": "neither"}, "lr: expected an int > 0, got 0"),
        (1.0, {"max_val": 1, "include_boundaries": "left"}, "lr: expected an int < 1, got float 1.0"),
        (True, {}, "lr: expected an int, got bool True"),
        ("3", {}, "lr: expected an int, got str '3'"),
        (5, {"max_val": 4}, "lr: expected an int <= 4, got 5"),
    ],
)  # fmt: skip
def test_check_scalar_names_argument_expected_and_got(
    value: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        check_scalar(value, "lr", int, **kwargs)
    assert str(info.value) == message
    assert (info.value.field, info.value.got) == ("lr", message.rsplit("got ", 1)[1])


def test_check_scalar_boundaries_and_finiteness() -> None:
    assert check_scalar(0.0, "x", float, min_val=0.0) == 0.0
    assert check_scalar(1, "x", float) == 1.0 and isinstance(check_scalar(1, "x", float), float)
    assert (
        check_scalar(np.int64(3), "x", int) == 3
        and type(check_scalar(np.int64(3), "x", int)) is int
    )
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ConfigError, match="expected a finite float"):
            check_scalar(bad, "x", float)
    assert math.isinf(check_scalar(math.inf, "x", float, finite=False))
    with pytest.raises(ConfigError, match=r"x: expected a finite float > 0 and <= 1, got 0.0"):
        check_scalar(0.0, "x", float, min_val=0, max_val=1, include_boundaries="right")
    assert check_scalar(False, "flag", bool) is False


def test_choice_distinct_ints_and_patch_size() -> None:
    assert check_choice("adam", "optimizer", ("adam", "sgd")) == "adam"
    with pytest.raises(
        ConfigError,
        match=r"optimizer: expected one of 'adam', 'sgd', got 'adm'; did you mean 'adam'\?",
    ):
        check_choice("adm", "optimizer", ("adam", "sgd"))
    assert check_distinct_ints([2, 0, 1], "seeds") == (2, 0, 1)
    with pytest.raises(ConfigError, match=r"seeds: expected distinct values, got \[0, 0, 1\]"):
        check_distinct_ints([0, 0, 1], "seeds")
    with pytest.raises(ConfigError, match="seeds: expected at least one value"):
        check_distinct_ints([], "seeds")
    assert check_patch_size(9) == 9
    for bad in (0, 8, -3, 9.0):
        with pytest.raises(ConfigError, match="patch_size: expected"):
            check_patch_size(bad)  # fmt: skip


def test_check_type_converts_lightly_and_names_the_field() -> None:
    assert check_type(1, float, "lr") == 1.0 and isinstance(check_type(1, float, "lr"), float)
    assert check_type([[1, 2], [3, 4]], tuple[tuple[int, int], ...], "k") == ((1, 2), (3, 4))
    assert check_type(None, int | None, "threads") is None
    assert check_type("16", Literal["32", "16"], "precision") == "16"
    assert check_type({"a": 1}, dict[str, Any], "args") == {"a": 1}
    with pytest.raises(ConfigError, match=r"^k\[1\]: expected int, got str 'x'$"):
        check_type([1, "x"], tuple[int, ...], "k")
    with pytest.raises(ConfigError, match=r"^k: expected tuple\[int, int\], got list \[1\]$"):
        check_type([1], tuple[int, int], "k")
    with pytest.raises(ConfigError, match=r"^seed: expected int, got bool True$"):
        check_type(True, int, "seed")
    with pytest.raises(ConfigError, match=r"^threads: expected int, got float 2.5$"):
        check_type(2.5, int | None, "threads")  # None is "unset", not shown as expected


@dataclass(frozen=True)
class _Inner:
    rate: float = 0.5

    def __post_init__(self) -> None:
        check_scalar(self.rate, "rate", float, min_val=0.0, max_val=1.0)


@dataclass(frozen=True)
class _Outer:
    name: str = "a"
    inner: _Inner = field(default_factory=_Inner)
    sizes: tuple[int, ...] = ()


def test_build_dataclass_checks_names_types_and_the_dataclass_own_checks() -> None:
    built = build_dataclass(_Outer, {"inner": {"rate": 1}, "sizes": [3, 5]})
    assert built == _Outer(inner=_Inner(rate=1.0), sizes=(3, 5))
    with pytest.raises(ConfigError, match=r"^inner: unknown option 'rat'; did you mean 'rate'\?"):
        build_dataclass(_Outer, {"inner": {"rat": 1}})
    with pytest.raises(
        ConfigError, match=r"^inner.rate: expected a finite float >= 0 and <= 1, got 2.0$"
    ):
        build_dataclass(_Outer, {"inner": {"rate": 2}})
    with pytest.raises(ConfigError, match=r"^inner: expected a table, got int 3$"):
        build_dataclass(_Outer, {"inner": 3})


@pytest.mark.parametrize(
    ("text", "value"),
    [("2", 2), ("0.5", 0.5), ("true", True), ("[3, 5]", [3, 5]), ("fast", "fast"), (" nan ", math.nan)],
)  # fmt: skip
def test_parse_value_reads_toml_literals_else_keeps_the_text(text: str, value: Any) -> None:
    parsed = parse_value(text)
    assert parsed == value or (math.isnan(value) and math.isnan(parsed))


def test_parse_key_value() -> None:
    assert parse_key_value(" partitions = 2", "--model-arg") == ("partitions", 2)
    assert parse_key_value("path=a=b", "--model-arg") == ("path", "a=b")
    for bad in ("partitions", "=2"):
        with pytest.raises(ConfigError, match=rf"^--model-arg: expected KEY=VALUE, got '{bad}'$"):
            parse_key_value(bad, "--model-arg")
