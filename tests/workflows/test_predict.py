"""Full-scene prediction: tiles stitch exactly, maps equal the model's argmax, outputs keep
their georeference, ranks assemble into the single-process map."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mssfe.data.patches import PatchDataset, pad_cube
from mssfe.data.scenes import Scene, load_scene
from mssfe.errors import DataError, MssfeError
from mssfe.viz.colours import hex_to_rgb
from mssfe.viz.geotiff import read_geotiff
from mssfe.workflows import predict as predict_mod
from mssfe.workflows import predict_core
from mssfe.workflows.predict import (
    LoadedRun,
    assemble,
    load_run,
    predict_scene,
    tile_features,
    write_prediction,
)

CROP = (slice(10, 30), slice(20, 44))  # 20 x 24 pixels of Salinas-A keep the suite fast
SALINAS_A_CODES = (1, 10, 11, 12, 13, 14)  # its label file's codes of classes 1..6


@pytest.fixture(scope="session")
def run_dir(shared_run: Path) -> Path:
    return shared_run


@pytest.fixture(scope="session")
def scene() -> Scene:
    return load_scene("SalinasA")


@pytest.fixture(scope="session")
def loaded(run_dir: Path) -> LoadedRun:
    return load_run(run_dir)


@pytest.fixture(scope="session")
def cube(scene: Scene) -> np.ndarray:
    return np.ascontiguousarray(scene.require_cube()[CROP])


@pytest.fixture(scope="session")
def full_result(loaded: LoadedRun, cube: np.ndarray) -> predict_mod.PredictionResult:
    return predict_scene([loaded], cube, progress=False)


def test_load_run_reads_classes_and_eval_mode(loaded: LoadedRun, scene: Scene) -> None:
    assert loaded.n_classes == scene.n_classes
    assert loaded.class_names == scene.class_names
    assert loaded.colours == scene.colours
    assert loaded.patch_size == 9
    assert not loaded.model.training
    assert loaded.scene_name == "SalinasA" and loaded.simulated is False


def test_run_stores_and_load_run_reads_the_label_codes(run_dir: Path, loaded: LoadedRun) -> None:
    assert json.loads((run_dir / "metrics.json").read_text())["class_codes"] == list(
        SALINAS_A_CODES
    )
    assert loaded.codes == SALINAS_A_CODES


def test_load_run_missing_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="run directory not found"):
        load_run(tmp_path / "nothing")


def test_map_pixels_equal_argmax_of_model_outputs(
    loaded: LoadedRun, cube: np.ndarray, full_result: predict_mod.PredictionResult
) -> None:
    height, width = cube.shape[:2]
    rng = np.random.default_rng(0)
    border = [0, width - 1, (height - 1) * width, height * width - 1, 4 * width + 2]
    sample = np.unique(np.concatenate([rng.choice(height * width, 300, replace=False), border]))
    features = loaded.preprocessor.transform(cube)
    x, _ = PatchDataset(features, sample, None, loaded.patch_size).get_batch(range(sample.size))
    with torch.inference_mode():
        probs = torch.softmax(loaded.model(x), dim=1).numpy()
    rows, cols = np.divmod(sample, width)
    np.testing.assert_array_equal(full_result.class_map[rows, cols], probs.argmax(1) + 1)
    np.testing.assert_allclose(full_result.confidence[rows, cols], probs.max(1), rtol=1e-5)
    assert full_result.class_map.dtype == np.int64 and full_result.confidence.dtype == np.float32
    assert full_result.class_map.min() >= 1 and full_result.class_map.max() <= loaded.n_classes
    assert np.ptp(full_result.confidence) > 1e-5, "outputs should vary over the scene"


@pytest.mark.parametrize("tile_rows", [1, 7])
def test_tiles_stitch_without_seams(
    loaded: LoadedRun, cube: np.ndarray, full_result: predict_mod.PredictionResult, tile_rows: int
) -> None:
    whole = predict_scene([loaded], cube, tile_rows=cube.shape[0], progress=False)
    tiled = predict_scene([loaded], cube, tile_rows=tile_rows, batch_size=97, progress=False)
    np.testing.assert_array_equal(tiled.class_map, whole.class_map)
    np.testing.assert_array_equal(full_result.class_map, whole.class_map)
    np.testing.assert_allclose(tiled.confidence, whole.confidence, rtol=1e-5, atol=1e-6)


def test_tile_features_equal_rows_of_the_padded_whole_cube(loaded: LoadedRun, scene: Scene) -> None:
    cube = scene.require_cube()  # the whole scene: this test runs no model
    radius = loaded.patch_size // 2
    reference = pad_cube(loaded.preprocessor.transform(cube), loaded.patch_size)
    height = scene.shape[0]
    for r0, r1 in [(0, 1), (0, 7), (3, 10), (height - 2, height), (0, height)]:
        got = tile_features(cube, loaded.preprocessor, r0, r1, radius)
        np.testing.assert_allclose(got, reference[:, r0 : r1 + 2 * radius], rtol=1e-6, atol=1e-6)


def test_memory_is_bounded_by_tile_and_batch(
    loaded: LoadedRun, cube: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never all patches at once: each gather is one batch, each transform one tile + halo."""
    gathered: list[int] = []
    transformed: list[int] = []
    real_extract = predict_core.extract_patches
    real_transform = type(loaded.preprocessor).transform

    def spy_extract(padded, idx, width, p):  # type: ignore[no-untyped-def]
        gathered.append(len(idx))
        return real_extract(padded, idx, width, p)

    def spy_transform(self, cube):  # type: ignore[no-untyped-def]
        transformed.append(cube.shape[0])
        return real_transform(self, cube)

    monkeypatch.setattr(predict_core, "extract_patches", spy_extract)
    monkeypatch.setattr(type(loaded.preprocessor), "transform", spy_transform)
    result = predict_scene([loaded], cube, tile_rows=5, batch_size=64, progress=False)
    assert (
        max(gathered) <= 64
        and sum(gathered) == result.timings.pixels == cube.shape[0] * cube.shape[1]
    )
    assert max(transformed) <= 5 + 2 * (loaded.patch_size // 2)


def test_two_ranks_assemble_to_the_single_rank_map(
    loaded: LoadedRun, cube: np.ndarray, full_result: predict_mod.PredictionResult
) -> None:
    parts = [
        predict_scene([loaded], cube, tile_rows=10, rank=r, world_size=2, progress=False)
        for r in (0, 1)
    ]
    assert not set(parts[0].tiles) & set(parts[1].tiles)
    assert (parts[0].class_map == 0).any() and (parts[1].class_map == 0).any()
    shape = cube.shape[:2]
    merged = assemble(parts, shape)
    np.testing.assert_array_equal(merged.class_map, full_result.class_map)
    np.testing.assert_allclose(merged.confidence, full_result.confidence, rtol=1e-5, atol=1e-6)
    assert merged.timings.pixels == shape[0] * shape[1]
    with pytest.raises(MssfeError, match="no part"):
        assemble(parts[:1], shape)


class _ConstantLogits(torch.nn.Module):
    """A stand-in model that always says the same thing (for ensemble arithmetic)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1)


def test_ensemble_averages_probabilities(
    loaded: LoadedRun, cube: np.ndarray, full_result: predict_mod.PredictionResult
) -> None:
    twice = predict_scene([loaded, loaded], cube, progress=False)
    np.testing.assert_array_equal(twice.class_map, full_result.class_map)
    logits = torch.zeros(loaded.n_classes)
    logits[2] = 5.0
    constant = dataclasses.replace(loaded, model=_ConstantLogits(logits).eval())
    mixed = predict_scene([loaded, constant], cube, progress=False)
    # reference for a few pixels: mean of the run's probabilities and the constant ones
    p_const = torch.softmax(logits, 0).numpy()
    features = loaded.preprocessor.transform(cube)
    n_pixels = cube.shape[0] * cube.shape[1]
    sample = np.array([0, 100, n_pixels // 2, n_pixels - 1])
    x, _ = PatchDataset(features, sample, None, loaded.patch_size).get_batch(range(sample.size))
    with torch.inference_mode():
        p_run = torch.softmax(loaded.model(x), 1).numpy()
    mean = (p_run + p_const) / 2
    rows, cols = np.divmod(sample, cube.shape[1])
    np.testing.assert_array_equal(mixed.class_map[rows, cols], mean.argmax(1) + 1)
    np.testing.assert_allclose(mixed.confidence[rows, cols], mean.max(1), rtol=1e-5)


def test_wrong_band_count_is_refused(loaded: LoadedRun) -> None:
    with pytest.raises(DataError, match="bands the run was trained on"):
        predict_scene([loaded], np.zeros((20, 20, 7), dtype=np.float32), progress=False)


def _write_georeferenced_cube(path: Path, cube: np.ndarray) -> tuple[str, tuple[float, ...]]:
    import rasterio
    from affine import Affine
    from rasterio.crs import CRS

    transform = Affine(3.7, 0.0, 588_000.0, 0.0, -3.7, 4_140_000.0)
    crs = CRS.from_epsg(32610)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=cube.shape[0],
        width=cube.shape[1],
        count=cube.shape[2],
        dtype=cube.dtype.name,
        crs=crs,
        transform=transform,
    ) as dst:
        dst.write(np.moveaxis(cube, -1, 0))
    return crs.to_wkt(), tuple(transform)[:6]


def test_geotiff_from_georeferenced_input_keeps_crs_and_transform(
    loaded: LoadedRun, cube: np.ndarray, tmp_path: Path
) -> None:
    from rasterio.crs import CRS

    from mssfe.data.readers import load_cube

    wkt, transform = _write_georeferenced_cube(tmp_path / "cube.tif", cube)
    read = load_cube(tmp_path / "cube.tif")
    assert read.crs is not None and read.transform is not None
    result = predict_scene([loaded], read.data, progress=False)
    paths = write_prediction(
        tmp_path / "out",
        result,
        class_names=loaded.class_names,
        colours=loaded.colours,
        class_codes=loaded.codes,
        crs=read.crs,
        transform=read.transform,
        simulated=False,
        scene_name="cube",
    )
    back = read_geotiff(paths["class_map_tif"])
    assert CRS.from_wkt(back["crs"]) == CRS.from_wkt(wkt)
    np.testing.assert_allclose(back["transform"], transform)
    codes = np.array([0, *SALINAS_A_CODES])[result.class_map]
    np.testing.assert_array_equal(back["array"], codes)
    assert back["dtype"] == "uint8" and back["nodata"] == 0
    for code, colour in zip(SALINAS_A_CODES, loaded.colours, strict=True):
        assert back["colormap"][code][:3] == hex_to_rgb(colour)
    assert back["tags"]["CLASS_10"] == loaded.class_names[1]
    conf = read_geotiff(paths["confidence_tif"])
    assert CRS.from_wkt(conf["crs"]) == CRS.from_wkt(wkt)
    np.testing.assert_array_equal(conf["array"], result.confidence)
    np.testing.assert_array_equal(np.load(paths["class_map_npy"]), codes)
    from PIL import Image

    with Image.open(paths["class_map_png"]) as png:
        pixels = np.asarray(png.convert("RGB")).reshape(-1, 3)
        assert png.size[0] > 200 and len(np.unique(pixels, axis=0)) > 5


def test_write_prediction_without_georeference_and_sim_flag(
    full_result: predict_mod.PredictionResult, loaded: LoadedRun, tmp_path: Path
) -> None:
    paths = write_prediction(
        tmp_path,
        full_result,
        class_names=loaded.class_names,
        colours=loaded.colours,
        simulated=True,
        scene_name="PaviaU-sim",
        confidence=False,
    )
    assert "confidence_tif" not in paths and not (tmp_path / "confidence.tif").exists()
    back = read_geotiff(paths["class_map_tif"])
    assert back["crs"] is None
    meta = json.loads(paths["json"].read_text())
    assert meta["simulated"] is True and meta["scene"] == "PaviaU-sim"
    assert sum(meta["class_counts"]) == full_result.class_map.size


def test_predict_leaves_no_data_pixels_unclassified(shared_run: Path, tmp_path: Path) -> None:
    """A --cube GeoTIFF's nodata pixels get class 0 and confidence 0; the others a class."""
    import rasterio

    from mssfe.workflows.predict import run_predict

    cube = load_scene("SalinasA").require_cube()[:20, :24].astype(np.float32)
    cube[5:8, 2:9] = -9999.0
    path = tmp_path / "cube.tif"
    with rasterio.open(path, "w", driver="GTiff", height=20, width=24, count=cube.shape[2],
                       dtype="float32", nodata=-9999.0, crs="EPSG:32610") as ds:  # fmt: skip
        ds.write(np.moveaxis(cube, -1, 0))
    with pytest.warns(UserWarning, match="21 of 480 pixels hold no data"):
        done = run_predict([shared_run], tmp_path / "out", cube=str(path), device="cpu",
                           progress=False, confidence=True)  # fmt: skip
    assert done is not None
    class_map = np.load(done.paths["class_map_npy"])
    confidence = np.load(done.paths["confidence_npy"])
    assert (class_map[5:8, 2:9] == 0).all() and (confidence[5:8, 2:9] == 0).all()
    assert np.count_nonzero(class_map) == 480 - 21


def test_a_failed_rewrite_leaves_the_previous_prediction_whole(
    full_result: predict_mod.PredictionResult, loaded: LoadedRun, tmp_path: Path, monkeypatch
) -> None:
    """Writing stops half way (after the new class map): the old set stays, nothing mixes."""
    kwargs = {"class_names": loaded.class_names, "colours": loaded.colours,
              "simulated": False, "scene_name": "first"}  # fmt: skip
    first = write_prediction(tmp_path, full_result, **kwargs)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(predict_mod, "write_float_geotiff", disk_full)
    flipped = dataclasses.replace(full_result, class_map=full_result.class_map[::-1].copy())
    with pytest.raises(OSError, match="No space left"):
        write_prediction(tmp_path, flipped, **{**kwargs, "scene_name": "second"})
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # every file is the first set's, prediction.json included
    assert json.loads(first["json"].read_text())["scene"] == "first"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mssfe-staging")] == []


def test_predict_checks_its_output_before_any_work(run_dir: Path, tmp_path: Path) -> None:
    from mssfe.workflows.predict import run_predict

    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    with pytest.raises(
        MssfeError, match=r"--out .*a-file: expected a directory to write into, got a regular file"
    ):
        run_predict([run_dir], blocker, device="cpu", progress=False)
    assert blocker.read_text() == "keep me"


def test_predict_on_an_array_gives_codes_probabilities_and_confidence(
    loaded: LoadedRun, cube: np.ndarray, full_result: predict_mod.PredictionResult
) -> None:
    done = predict_mod.predict(loaded, cube, device="cpu")
    assert done.class_codes == SALINAS_A_CODES and done.class_names == loaded.class_names
    assert set(np.unique(done.class_map)) <= set(SALINAS_A_CODES)
    np.testing.assert_array_equal(done.class_index() + 1, full_result.class_map)
    assert done.probabilities is not None and done.probabilities.shape == (*cube.shape[:2], 6)
    np.testing.assert_allclose(done.probabilities.sum(axis=2), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(done.probabilities.argmax(axis=2), done.class_index())
    np.testing.assert_allclose(done.confidence, done.probabilities.max(axis=2))
    assert done.scene_name == "array" and done.crs is None and done.paths == {}


def test_predict_takes_a_run_directory_a_scene_name_or_a_file(
    run_dir: Path, cube: np.ndarray, tmp_path: Path, full_result: predict_mod.PredictionResult
) -> None:
    np.save(tmp_path / "crop.npy", cube)
    from_file = predict_mod.predict(run_dir, tmp_path / "crop.npy", probabilities=False)
    assert from_file.probabilities is None and from_file.scene_name == "crop"
    np.testing.assert_array_equal(from_file.class_index() + 1, full_result.class_map)
    from_name = predict_mod.predict([run_dir], "SalinasA", tile_rows=83, device="cpu")
    assert from_name.class_map.shape == (83, 86) and from_name.scene_name == "SalinasA"
    np.testing.assert_array_equal(from_name.class_map[CROP].shape, cube.shape[:2])


def test_mssfe_predict_geotiff_opens_in_a_gis_with_codes_and_names(
    run_dir: Path, loaded: LoadedRun, cube: np.ndarray, tmp_path: Path, gdal_categories: Any
) -> None:
    """The command-line path end to end, read back with rasterio and GDAL as QGIS would."""
    import rasterio
    from rasterio.crs import CRS

    from mssfe.cli import main

    wkt, transform = _write_georeferenced_cube(tmp_path / "field.tif", cube)
    out = tmp_path / "map"
    argv = ["predict", str(run_dir), "--cube", str(tmp_path / "field.tif"), "--out", str(out)]
    assert main([*argv, "--probabilities", "--no-progress", "--device", "cpu"]) == 0
    with rasterio.open(out / "class_map.tif") as dataset:
        values = dataset.read(1)
        assert set(np.unique(values)) <= set(SALINAS_A_CODES)
        assert dataset.crs == CRS.from_wkt(wkt) and tuple(dataset.transform)[:6] == transform
        assert dataset.colormap(1)[10][:3] == hex_to_rgb(loaded.colours[1])
        assert dataset.tags()["CLASS_10"] == loaded.class_names[1]
        assert dataset.profile["tiled"] and dataset.compression.value == "DEFLATE"
    categories, rows = gdal_categories(out / "class_map.tif")
    assert [categories[c] for c in SALINAS_A_CODES] == list(loaded.class_names)
    assert [int(r["Value"]) for r in rows] == list(SALINAS_A_CODES)
    meta = json.loads((out / "prediction.json").read_text())
    assert meta["class_codes"] == list(SALINAS_A_CODES)
    assert [c["name"] for c in meta["classes"]] == list(loaded.class_names)
    with rasterio.open(out / "probabilities.tif") as dataset:
        assert dataset.count == 6 and dataset.descriptions[1] == f"10: {loaded.class_names[1]}"
        assert dataset.crs == CRS.from_wkt(wkt)
        probs = np.moveaxis(dataset.read(), 0, -1)
    index = np.searchsorted(SALINAS_A_CODES, values)
    np.testing.assert_array_equal(probs.argmax(axis=2), index)


def test_test_time_augmentation_makes_the_map_turn_with_the_scene(
    loaded: LoadedRun, cube: np.ndarray
) -> None:
    """With the 8 flips/rotations averaged, rotating the scene rotates the map (probabilities to
    rounding), although the network's own outputs change when its patches turn."""
    small = np.ascontiguousarray(cube[:10, :12])
    turned = np.ascontiguousarray(np.rot90(small, 1, axes=(0, 1)))
    with_tta = predict_scene([loaded], small, progress=False, tta=True)
    turned_tta = predict_scene([loaded], turned, progress=False, tta=True)
    np.testing.assert_allclose(
        np.rot90(with_tta.confidence, 1), turned_tta.confidence, rtol=1e-4, atol=1e-6
    )
    assert (np.rot90(with_tta.class_map, 1) == turned_tta.class_map).mean() > 0.99  # ties aside
    features = loaded.preprocessor.transform(small)
    x, _ = PatchDataset(features, np.arange(20), None, loaded.patch_size).get_batch(range(20))
    with torch.inference_mode():
        plain = loaded.model(x)
        rotated = loaded.model(torch.rot90(x, 1, dims=(-2, -1)))
    assert float((plain - rotated).abs().max()) > 1e-4  # the symmetry comes from the averaging
    assert loaded.tta is False  # a paper run: no TTA unless asked


def test_predict_records_whether_it_averaged_flips(
    shared_run: Path, cube: np.ndarray, tmp_path: Path
) -> None:
    from mssfe.workflows.predict import run_predict

    small = tmp_path / "small.npy"
    np.save(small, cube[:10, :12])
    done = run_predict(
        [shared_run], tmp_path / "map", cube=str(small), progress=False, tta=True, device="cpu"
    )
    assert done is not None and done.tta is True
    assert json.loads((tmp_path / "map" / "prediction.json").read_text())["tta"] == [True]


def test_a_run_on_a_user_cube_predicts_its_own_cube(tmp_path: Path) -> None:
    """Without --scene or --cube, predict loads the run's scene through its config, as
    training did: a user's cube too (it used to look for a registered scene named after it)."""
    from mssfe.cli import main

    rng = np.random.default_rng(0)
    cube_file, labels_file = tmp_path / "mine.npy", tmp_path / "mine_gt.npy"
    np.save(cube_file, rng.normal(size=(12, 12, 16)).astype(np.float32))
    labels = np.ones((12, 12), np.int64)
    labels[6:] = 2
    np.save(labels_file, labels)
    argv = ["train", "--cube", str(cube_file), "--labels", str(labels_file), "--model", "ms2fenet"]
    argv += ["--patch-size", "9", "--model-arg", "n_components=12", "--epochs", "1"]
    argv += ["--split", "random:3", "--no-progress", "--out", str(tmp_path / "runs")]
    assert main(argv) == 0
    (run_dir,) = (p.parent for p in (tmp_path / "runs").rglob("best.pt"))
    assert main(["predict", str(run_dir), "--out", str(tmp_path / "map"), "--no-progress"]) == 0
    assert np.load(tmp_path / "map" / "class_map.npy").shape == (12, 12)


def test_a_run_on_a_user_cube_predicts_its_own_cube_in_its_label_codes(tmp_path: Path) -> None:
    """Codes 3 and 7 in the user's label file come back in the map, not 1 and 2."""
    import mssfe

    rng = np.random.default_rng(0)
    labels = np.zeros((12, 12), dtype=np.int64)
    labels[:, :6], labels[:, 6:] = 3, 7
    cube = rng.normal(size=(12, 12, 6)) + labels[..., None]
    np.save(tmp_path / "field.npy", cube.astype(np.float32))
    np.save(tmp_path / "labels.npy", labels)
    group = mssfe.train(
        cube=str(tmp_path / "field.npy"),
        labels=str(tmp_path / "labels.npy"),
        model="cnn3d",
        split="random:0.5",
        epochs=1,
        out=tmp_path / "runs",
        progress=False,
        device="cpu",
    )
    done = mssfe.predict(group.run_dirs[0], device="cpu")
    assert done.class_codes == (3, 7) and done.scene_name == "field"
    assert done.class_map.shape == (12, 12) and set(np.unique(done.class_map)) <= {3, 7}


@pytest.mark.parametrize(("tile_rows", "batch_size", "tta"), [(7, 97, False), (20, 256, True)])
def test_device_gathered_tiles_give_the_host_maps(
    loaded: LoadedRun, cube: np.ndarray, tile_rows: int, batch_size: int, tta: bool
) -> None:
    """Tiles streamed to the device (on CPU: the same code, synchronous) and cut there give
    the host path's class map, confidence and probabilities exactly, an ensemble included."""
    logits = torch.zeros(loaded.n_classes)
    logits[1] = 1.0
    constant = dataclasses.replace(loaded, model=_ConstantLogits(logits).eval())
    results = [
        predict_scene(
            [loaded, constant],
            cube,
            tile_rows=tile_rows,
            batch_size=batch_size,
            progress=False,
            probabilities=True,
            tta=tta,
            on_device=on_device,
        )
        for on_device in (False, True)
    ]
    host, device = results
    np.testing.assert_array_equal(device.class_map, host.class_map)
    np.testing.assert_array_equal(device.confidence, host.confidence)
    assert device.probabilities is not None and host.probabilities is not None
    np.testing.assert_array_equal(device.probabilities, host.probabilities)
    assert device.tiles == host.tiles and device.timings.forward_seconds > 0
