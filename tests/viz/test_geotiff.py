"""GeoTIFF class maps read back as a GIS reads them: the label file's codes, category names
and attribute table (GDAL), colour table, georeference, tiles, compression, overviews."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mssfe.errors import DataError
from mssfe.viz.colours import hex_to_rgb
from mssfe.viz.geotiff import (
    codes_to_indices,
    indices_to_codes,
    read_geotiff,
    write_class_geotiff,
    write_float_geotiff,
)

CODES = (1, 10, 11, 12, 13, 14)  # Salinas-A's label codes
NAMES = ("Brocoli", "Corn & weeds", "Lettuce 4wk", "Lettuce 5wk", "Lettuce 6wk", "Lettuce 7wk")
COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00")
TRANSFORM = (3.7, 0.0, 588_000.0, 0.0, -3.7, 4_140_000.0)


@pytest.fixture(scope="module")
def code_map() -> np.ndarray:
    """600 x 700: big enough for 256-pixel tiles and two overview levels."""
    rng = np.random.default_rng(0)
    return indices_to_codes(rng.integers(0, len(CODES) + 1, size=(600, 700)), CODES)


@pytest.fixture(scope="module")
def written(code_map: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    path = tmp_path_factory.mktemp("geotiff") / "class_map.tif"
    return write_class_geotiff(
        path, code_map, NAMES, COLOURS, class_codes=CODES, crs="EPSG:32610", transform=TRANSFORM
    )


def test_pixels_are_the_label_codes(written: list[Path], code_map: np.ndarray) -> None:
    back = read_geotiff(written[0])
    np.testing.assert_array_equal(back["array"], code_map)
    assert set(np.unique(back["array"])) == {0, *CODES}
    assert back["dtype"] == "uint8" and back["nodata"] == 0
    assert back["tags"]["CLASS_CODES"] == "1,10,11,12,13,14"
    assert back["tags"]["CLASS_10"] == "Corn & weeds"
    assert back["descriptions"] == ("class",)


def test_colour_table_is_indexed_by_code(written: list[Path]) -> None:
    colormap = read_geotiff(written[0])["colormap"]
    assert colormap[0][3] == 0  # nodata transparent
    for code, colour in zip(CODES, COLOURS, strict=True):
        assert colormap[code] == (*hex_to_rgb(colour), 255)


def test_cloud_optimised_tiled_compressed_with_overviews(written: list[Path]) -> None:
    back = read_geotiff(written[0])
    assert back["layout"] == "COG"
    assert back["block_shape"] == (256, 256)
    assert back["compression"] == "DEFLATE"
    assert back["overviews"] == [2, 4]


def test_georeference_is_kept(written: list[Path]) -> None:
    from rasterio.crs import CRS

    back = read_geotiff(written[0])
    assert CRS.from_wkt(back["crs"]) == CRS.from_epsg(32610)
    assert back["transform"] == TRANSFORM


def _category_names(aux: Path) -> list[str]:
    band = ET.parse(aux).getroot().find("PAMRasterBand")
    assert band is not None
    return [c.text or "" for c in band.iter("Category")]


def test_aux_xml_names_every_code(written: list[Path], code_map: np.ndarray) -> None:
    tif, aux = written
    assert aux == Path(f"{tif}.aux.xml")
    names = _category_names(aux)
    assert len(names) == 15 and names[0] == "" and names[1] == "Brocoli"
    assert names[10:15] == list(NAMES[1:]) and not any(names[2:10])


def test_gdal_reads_category_names_and_attribute_table(
    written: list[Path], code_map: np.ndarray, gdal_categories: Any
) -> None:
    categories, rows = gdal_categories(written[0])
    assert categories[1] == "Brocoli" and categories[10] == "Corn & weeds"
    assert [int(r["Value"]) for r in rows] == list(CODES)
    assert [r["Class"] for r in rows] == list(NAMES)
    assert [(int(r["Red"]), int(r["Green"]), int(r["Blue"])) for r in rows] == [
        hex_to_rgb(c) for c in COLOURS
    ]
    assert [int(r["Count"]) for r in rows] == [int((code_map == c).sum()) for c in CODES]


def test_codes_above_255_make_a_uint16_map(tmp_path: Path) -> None:
    codes = (3, 300)
    code_map = np.array([[0, 3], [300, 3]])
    tif, aux = write_class_geotiff(
        tmp_path / "m.tif", code_map, ("a", "b"), COLOURS, class_codes=codes
    )
    back = read_geotiff(tif)
    assert back["dtype"] == "uint16"
    np.testing.assert_array_equal(back["array"], code_map)
    assert back["colormap"][300][:3] == hex_to_rgb(COLOURS[1])
    assert _category_names(aux)[300] == "b"


def test_a_value_that_is_no_code_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no class's code"):
        write_class_geotiff(
            tmp_path / "m.tif", np.array([[1, 2]]), NAMES, COLOURS, class_codes=CODES
        )
    with pytest.raises(DataError, match="one code per class"):
        write_class_geotiff(tmp_path / "m.tif", np.array([[1]]), NAMES, COLOURS, class_codes=(1,))


def test_codes_and_indices_round_trip() -> None:
    indices = np.array([[0, 1, 2], [6, 5, 0]])
    codes = indices_to_codes(indices, CODES)
    np.testing.assert_array_equal(codes, [[0, 1, 10], [14, 13, 0]])
    np.testing.assert_array_equal(codes_to_indices(codes, CODES), indices)


def test_probability_stack_has_one_described_band_per_class(tmp_path: Path) -> None:
    import rasterio

    rng = np.random.default_rng(1)
    stack = rng.random((40, 30, 3)).astype(np.float32)
    write_float_geotiff(
        tmp_path / "p.tif",
        stack,
        crs="EPSG:32610",
        transform=TRANSFORM,
        description=["1: a", "10: b", "11: c"],
    )
    with rasterio.open(tmp_path / "p.tif") as dataset:
        assert dataset.count == 3 and dataset.descriptions == ("1: a", "10: b", "11: c")
        np.testing.assert_array_equal(np.moveaxis(dataset.read(), 0, -1), stack)
        assert dataset.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
