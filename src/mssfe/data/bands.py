"""Which bands of a cube a run uses: a band spec and the file's bad-band list.

A spec is comma-separated parts, each a half-open range as in Python slicing: band positions
``0:100,120:150`` (``7`` is one band, ``:30`` and ``170:`` open ends) or wavelengths in nm
``400nm:1300nm,1500nm:1800nm`` (every band whose centre is in ``[lo, hi)``; the cube must carry
its wavelengths, as an ENVI header does). The parts are united and sorted, so their order and
overlaps do not matter. An ENVI header's bad-band list (``bbl``, 0 = bad) removes its bad
bands from what the spec selects, unless they are kept on purpose.

Pure functions of numbers: no file is read here; the readers hand over the wavelengths and
the bad-band list, and a run's config holds the spec (``data.bands``) so that evaluate,
predict and resume take the same bands from a new copy of the cube.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mssfe.errors import ConfigError, DataError

FORMS = "index ranges such as 0:100,120:150 or wavelength ranges such as 400nm:1300nm"
_NUMBER = r"[0-9]+(?:\.[0-9]*)?"
_BOUND = re.compile(rf"^(?:(?P<nm>{_NUMBER})\s*nm|(?P<index>[0-9]+))?$")


@dataclass(frozen=True)
class _Range:
    """One part of a spec: ``[lo, hi)`` in band positions (``nm`` False) or nm."""

    text: str
    nm: bool
    lo: float | None
    hi: float | None


@dataclass(frozen=True, eq=False)
class BandSelection:
    """The bands kept from a cube of ``n_source`` bands: ``indices`` ``(K,)`` sorted int64
    positions in the source cube, their ``wavelengths`` ``(K,)`` nm (None when the file has
    none), the ``spec`` asked (None: every band) and how many bad bands were dropped."""

    indices: np.ndarray
    n_source: int
    spec: str | None = None
    n_bad_dropped: int = 0
    wavelengths: np.ndarray | None = None

    @property
    def is_everything(self) -> bool:
        return self.indices.size == self.n_source

    def describe(self) -> str:
        """``"150 of 200 bands (spec '0:100,120:170'; 10 bad bands dropped)"``."""
        notes = []
        if self.spec is not None:
            notes.append(f"spec {self.spec!r}")
        if self.n_bad_dropped:
            notes.append(f"{self.n_bad_dropped} bad bands dropped (ENVI bbl)")
        tail = f" ({'; '.join(notes)})" if notes else ""
        return f"{self.indices.size} of {self.n_source} bands{tail}"


def _bad_part(spec: str, part: str, expected: str, got: object, name: str) -> ConfigError:
    return ConfigError(f"band spec {spec!r}, part {part!r}", field=name, expected=expected, got=got)


def _parse_part(spec: str, part: str, name: str) -> _Range:
    sides = part.split(":")
    if not part:
        raise _bad_part(spec, part, "START:STOP, one band INDEX or LO nm:HI nm", "nothing", name)
    if len(sides) > 2:
        raise _bad_part(spec, part, "START:STOP, one band INDEX or LO nm:HI nm", part, name)
    matches = [_BOUND.match(side.strip().lower()) for side in sides]
    if any(m is None for m in matches):
        raise _bad_part(spec, part, FORMS, part, name)
    if len(sides) == 1 and not sides[0].strip():
        raise _bad_part(spec, part, "a band index or a range", "nothing", name)
    kinds = {("nm" if m["nm"] else "index") for m in matches if m and (m["nm"] or m["index"])}
    if len(kinds) > 1:
        raise _bad_part(spec, part, "both ends in band indices or both in nm", part, name)
    nm = kinds == {"nm"}
    bounds = [
        (float(m["nm"]) if nm else float(m["index"])) if m and (m["nm"] or m["index"]) else None
        for m in matches
    ]
    if len(sides) == 1:  # one band (an index) or one wavelength is not a range
        if nm:
            raise _bad_part(spec, part, "a wavelength range LO nm:HI nm", part, name)
        assert bounds[0] is not None
        return _Range(part, False, bounds[0], bounds[0] + 1)
    lo, hi = bounds
    if lo is not None and hi is not None and lo >= hi:
        raise _bad_part(spec, part, "START < STOP (half-open, as in Python)", part, name)
    return _Range(part, nm, lo, hi)


def parse_band_spec(spec: str, name: str = "bands") -> tuple[_Range, ...]:
    """The parts of ``spec``, checked for form only (no cube needed): a config is checked
    when it is made. A malformed spec is a ConfigError naming the spec and the part."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(field=name, expected=FORMS, got=repr(spec))
    return tuple(_parse_part(spec, part.strip(), name) for part in spec.split(","))


def band_indices(
    spec: str, n_bands: int, wavelengths: np.ndarray | None = None, *, name: str = "bands"
) -> np.ndarray:
    """Sorted positions ``(K,)`` int64 of the bands ``spec`` selects in a cube of ``n_bands``
    bands with band centres ``wavelengths`` ``(n_bands,)`` nm (needed for nm ranges)."""
    chosen: list[np.ndarray] = []
    for r in parse_band_spec(spec, name):
        if r.nm:
            chosen.append(_nm_part(spec, r, wavelengths, name))
            continue
        lo = 0 if r.lo is None else int(r.lo)
        hi = n_bands if r.hi is None else int(r.hi)
        if hi > n_bands or lo >= n_bands:
            raise _bad_part(
                spec,
                r.text,
                f"band positions 0..{n_bands - 1} (the cube has {n_bands})",
                r.text,
                name,
            )
        chosen.append(np.arange(lo, hi))
    return np.unique(np.concatenate(chosen)).astype(np.int64)


def _nm_part(spec: str, r: _Range, wavelengths: np.ndarray | None, name: str) -> np.ndarray:
    if wavelengths is None:
        raise _bad_part(
            spec,
            r.text,
            "a cube whose file gives its band wavelengths (an ENVI header's 'wavelength'), "
            "or index ranges such as 0:100",
            "a cube without wavelengths",
            name,
        )
    lo = -np.inf if r.lo is None else r.lo
    hi = np.inf if r.hi is None else r.hi
    hit = np.flatnonzero((wavelengths >= lo) & (wavelengths < hi))
    if hit.size == 0:
        span = f"{float(np.min(wavelengths)):g}-{float(np.max(wavelengths)):g} nm"
        raise _bad_part(spec, r.text, f"bands within the cube's {span}", "no band", name)
    return hit


def select_bands(
    n_bands: int,
    spec: str | None = None,
    *,
    wavelengths: np.ndarray | None = None,
    good: np.ndarray | None = None,
    keep_bad: bool = False,
    name: str = "bands",
) -> BandSelection:
    """The bands a run takes from a cube of ``n_bands``: those ``spec`` selects (None: all),
    less the bad ones of ``good`` ``(n_bands,)`` bool (an ENVI ``bbl``) unless ``keep_bad``.

    Fewer than 2 bands left is a DataError: a hyperspectral network needs a spectrum.
    """
    indices = (
        np.arange(n_bands, dtype=np.int64)
        if spec is None
        else band_indices(spec, n_bands, wavelengths, name=name)
    )
    n_bad = 0
    if good is not None and not keep_bad:
        bad = ~good[indices]
        n_bad = int(np.count_nonzero(bad))
        indices = indices[~bad]
    if indices.size < 2:
        raise DataError(
            "too few bands left for a spectrum",
            field=name,
            expected=">= 2 bands",
            got=f"{indices.size} (spec {spec!r}, {n_bad} bad bands dropped)",
        )
    kept = None if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)[indices]
    return BandSelection(indices, int(n_bands), spec, n_bad, kept)
