"""Scene loading on the real shipped files: embedded Salinas-A and the label maps."""

from __future__ import annotations

import numpy as np
import pytest

from mssfe.data.inventory import format_inventory, scene_inventory
from mssfe.data.scenes import contiguous_labels, find_scene_info, load_scene
from mssfe.errors import ConfigError, DataError, DatasetNotFoundError


def test_embedded_salinas_a_is_real_and_mapped_to_contiguous_classes() -> None:
    scene = load_scene("SalinasA")
    assert scene.require_cube().shape == (83, 86, 204)
    assert scene.require_cube().dtype == np.int16
    assert scene.label_values == (1, 10, 11, 12, 13, 14)
    counts = np.bincount(scene.labels.ravel(), minlength=7)
    # MANIFEST.md: 1790 background, then 391, 1343, 616, 1525, 674, 799
    assert counts.tolist() == [1790, 391, 1343, 616, 1525, 674, 799]
    assert scene.class_names[1] == "Corn_senesced_green_weeds"
    assert scene.sources["cube"]["sha256"] == (
        "d75684ed3ab71a1024cee0f9db9061f50a3523a92ff5edfbbb1eed976b9f1721"
    )
    assert not scene.simulated


@pytest.mark.parametrize(
    ("name", "shape", "labelled"),
    [
        ("IndianPines", (145, 145), 10249),
        ("PaviaU", (610, 340), 42776),
        ("Salinas", (512, 217), 54129),
    ],
)
def test_label_maps_load_without_the_cube(name: str, shape: tuple[int, int], labelled: int) -> None:
    scene = load_scene(name, labels_only=True, download=False)
    assert scene.cube is None
    assert scene.shape == shape
    assert int((scene.labels > 0).sum()) == labelled
    assert scene.labels.max() == scene.n_classes


def test_missing_cube_without_network_names_file_dirs_and_url(tmp_path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_scene("IndianPines", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert "Indian_pines_corrected.mat" in message
    assert str(tmp_path) in message


def test_unknown_scene_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError, match="IndianPines"):
        find_scene_info("IndianPine")


def test_aliases_and_simulated_entries_resolve() -> None:
    assert find_scene_info("salinas-a").name == "SalinasA"
    sim = find_scene_info("IndianPines-sim")
    assert sim.simulated_from == "IndianPines"
    assert sim.n_classes == 16


def test_label_values_outside_the_class_list_are_an_error() -> None:
    with pytest.raises(DataError, match="not in the class list"):
        contiguous_labels(np.array([[0, 1], [2, 7]]), (1, 2), file="x.mat")


def test_inventory_lists_every_scene_and_where_it_looked(tmp_path) -> None:
    rows = scene_inventory(tmp_path)
    by_name = {r.name: r for r in rows}
    assert by_name["SalinasA"].cube == "embedded"
    assert by_name["IndianPines"].cube == "missing"
    assert by_name["IndianPines"].labels == "embedded"
    assert by_name["PaviaU-sim"].cube == "simulated"
    assert {"Houston2013", "KSC", "Botswana", "PaviaC"} <= set(by_name)
    text = format_inventory(rows, tmp_path)
    assert str(tmp_path) in text
