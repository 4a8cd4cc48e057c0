"""Band selection: index and wavelength ranges, the ENVI bad-band list, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mssfe.data.bands import band_indices, parse_band_spec, select_bands
from mssfe.data.readers import load_cube
from mssfe.errors import ConfigError, DataError

WAVELENGTHS = np.arange(400.0, 2400.0, 10.0)  # 200 bands, 400..2390 nm


def test_index_ranges_are_half_open_united_and_sorted() -> None:
    got = band_indices("120:150,0:100", 200)
    np.testing.assert_array_equal(got, np.r_[0:100, 120:150])
    np.testing.assert_array_equal(band_indices("5,3:6,:2,198:", 200), [0, 1, 3, 4, 5, 198, 199])
    assert band_indices("0:100", 200).dtype == np.int64


def test_wavelength_ranges_take_the_bands_whose_centre_is_inside() -> None:
    got = band_indices("400nm:1300nm,1500nm:1800nm", 200, WAVELENGTHS)
    np.testing.assert_array_equal(WAVELENGTHS[got], np.r_[400:1300:10, 1500:1800:10])
    np.testing.assert_array_equal(band_indices("2350 nm:", 200, WAVELENGTHS), np.arange(195, 200))


@pytest.mark.parametrize(
    ("spec", "part", "expected"),
    [
        ("0:100,120:250", "120:250", "band positions 0..199 (the cube has 200)"),
        ("10:5", "10:5", "START < STOP"),
        ("0-5", "0-5", "index ranges such as 0:100"),
        ("0:5,,9", "", "START:STOP, one band INDEX or LO nm:HI nm"),
        ("400nm:20", "400nm:20", "both ends in band indices or both in nm"),
        ("700nm", "700nm", "a wavelength range LO nm:HI nm"),
        ("3000nm:4000nm", "3000nm:4000nm", "bands within the cube's 400-2390 nm"),
    ],
)
def test_a_bad_spec_names_the_spec_the_part_and_what_was_expected(
    spec: str, part: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        band_indices(spec, 200, WAVELENGTHS, name="data.bands")
    text = str(info.value)
    assert text.startswith(f"data.bands: band spec {spec!r}, part {part!r}; expected {expected}")


def test_a_spec_is_checked_for_form_without_a_cube() -> None:
    parse_band_spec("0:100,400nm:900nm")
    with pytest.raises(ConfigError, match="part 'x'"):
        parse_band_spec("0:100,x")


def test_wavelength_ranges_need_a_cube_with_wavelengths() -> None:
    with pytest.raises(ConfigError, match="a cube without wavelengths"):
        band_indices("400nm:900nm", 200, None)


def test_bad_bands_are_dropped_unless_kept_and_counted() -> None:
    good = np.ones(200, dtype=bool)
    good[[10, 11, 150]] = False
    chosen = select_bands(200, "0:100", wavelengths=WAVELENGTHS, good=good)
    assert chosen.n_bad_dropped == 2 and chosen.indices.size == 98
    assert 10 not in chosen.indices and chosen.wavelengths is not None
    np.testing.assert_array_equal(chosen.wavelengths, WAVELENGTHS[chosen.indices])
    assert chosen.describe() == "98 of 200 bands (spec '0:100'; 2 bad bands dropped (ENVI bbl))"
    kept = select_bands(200, None, good=good, keep_bad=True)
    assert kept.is_everything and kept.n_bad_dropped == 0
    with pytest.raises(DataError, match="too few bands left"):
        select_bands(200, "10:12", good=good)


def _envi(tmp_path: Path, **meta: object) -> Path:
    import spectral.io.envi as envi

    cube = np.random.default_rng(0).random((6, 5, 8)).astype(np.float32)
    header = tmp_path / "scene.hdr"
    envi.save_image(str(header), cube, metadata=dict(meta), ext=".img")
    return header


def test_envi_header_gives_wavelengths_and_bad_band_list(tmp_path: Path) -> None:
    header = _envi(
        tmp_path,
        wavelength=[0.4 + 0.1 * i for i in range(8)],
        **{"wavelength units": "Micrometers", "bbl": [1, 1, 0, 1, 1, 1, 0, 1]},
    )
    cube = load_cube(header)
    assert cube.wavelengths is not None and cube.good_bands is not None
    np.testing.assert_allclose(cube.wavelengths, 400.0 + 100.0 * np.arange(8))
    assert cube.good_bands.tolist() == [True, True, False, True, True, True, False, True]


def test_an_unreadable_bad_band_list_names_the_field(tmp_path: Path) -> None:
    header = _envi(tmp_path, bbl=[1, 0, 1])
    with pytest.raises(DataError, match="field 'bbl': unreadable ENVI bad-band list"):
        load_cube(header)
