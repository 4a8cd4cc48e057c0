"""Streamed prediction of a cube file: the same maps as in memory, read tile by tile and
written tile by tile, a window of the scene with its own georeference, ranks dealt their own
tiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mssfe.data.scenes import load_scene
from mssfe.data.windowed import WindowedCube
from mssfe.viz.geotiff import read_geotiff
from mssfe.workflows.predict import load_run, predict, predict_scene, run_predict
from mssfe.workflows.predict_stream import (
    PixelWindow,
    check_window,
    parse_window,
    shift_transform,
    tile_rounds,
)

ROWS, COLS = 37, 30  # a Salinas-A crop: 37 rows make tiles of 8 end unevenly
TRANSFORM = (3.7, 0.0, 588000.0, 0.0, -3.7, 4_140_000.0)
CRS = "EPSG:32610"


@pytest.fixture(scope="module")
def cube() -> np.ndarray:
    return np.ascontiguousarray(load_scene("SalinasA").require_cube()[:ROWS, :COLS])


@pytest.fixture(scope="module")
def in_memory(shared_run: Path, cube: np.ndarray) -> dict[str, np.ndarray]:
    run = load_run(shared_run)
    result = predict_scene([run], cube, progress=False, probabilities=True)
    codes = np.array([0, *run.codes])
    assert result.probabilities is not None
    return {
        "class_map": codes[result.class_map],
        "confidence": result.confidence,
        "probabilities": result.probabilities,
    }


def _envi(path: Path, cube: np.ndarray) -> Path:
    import spectral.io.envi as envi

    envi.save_image(str(path), cube, ext=".img", interleave="bil")
    return path


def _geotiff(path: Path, cube: np.ndarray) -> Path:
    import rasterio
    from affine import Affine

    with rasterio.open(
        path, "w", driver="GTiff", height=cube.shape[0], width=cube.shape[1],
        count=cube.shape[2], dtype=cube.dtype.name, tiled=True, blockxsize=16, blockysize=16,
        crs=CRS, transform=Affine(*TRANSFORM),
    ) as dataset:  # fmt: skip
        dataset.write(np.moveaxis(cube, -1, 0))
    return path


def _stream(run: Path, cube_file: Path, out: Path, **kwargs: object) -> dict[str, Path]:
    done = run_predict([run], out, cube=str(cube_file), device="cpu", progress=False,
                       tile_rows=8, confidence=True, probabilities=True, **kwargs)  # type: ignore[arg-type]  # fmt: skip
    assert done is not None and done.result is None  # streamed: the maps are only on disk
    return done.paths


def test_tiles_are_dealt_round_robin_each_once() -> None:
    rounds = tile_rounds(37, 8, 2)
    assert rounds == [((0, 8), (8, 16)), ((16, 24), (24, 32)), ((32, 37), None)]
    for world in (1, 2, 3, 5):
        rounds = tile_rounds(101, 7, world)
        flat = [tile for r in rounds for tile in r if tile is not None]
        assert flat == [(r0, min(101, r0 + 7)) for r0 in range(0, 101, 7)]  # in order, once
        for rank in range(world):
            mine = [r[rank] for r in rounds if r[rank] is not None]
            assert mine == flat[rank::world]


def _npy(path: Path, cube: np.ndarray) -> Path:
    np.save(path, cube)
    return path


def _hdf5(path: Path, cube: np.ndarray) -> Path:
    import h5py

    with h5py.File(path, "w") as handle:
        handle["cube"] = cube
    return path


WRITERS = {"c.hdr": _envi, "c.tif": _geotiff, "c.npy": _npy, "c.h5": _hdf5}


@pytest.mark.parametrize("name", list(WRITERS))
def test_streamed_maps_equal_the_in_memory_maps(
    name: str, shared_run: Path, cube: np.ndarray, in_memory: dict, tmp_path: Path
) -> None:
    source = WRITERS[name](tmp_path / name, cube)
    paths = _stream(shared_run, source, tmp_path / "out")
    np.testing.assert_array_equal(np.load(paths["class_map_npy"]), in_memory["class_map"])
    np.testing.assert_array_equal(read_geotiff(paths["class_map_tif"])["array"],
                                  in_memory["class_map"])  # fmt: skip
    np.testing.assert_allclose(np.load(paths["confidence_npy"]), in_memory["confidence"],
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(np.load(paths["probabilities_npy"]), in_memory["probabilities"],
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    record = json.loads(paths["json"].read_text())
    assert record["streamed"] and record["window"] == f"0:{ROWS},0:{COLS}"
    assert record["shape"] == [ROWS, COLS] and record["read_by_windows"]
    assert sum(record["class_counts"]) == ROWS * COLS
    assert paths["class_map_png"].is_file()
    assert not [p for p in (tmp_path / "out").iterdir() if "partial" in p.name]


def test_streamed_geotiffs_are_tiled_compressed_cogs_for_a_gis(
    shared_run: Path, cube: np.ndarray, tmp_path: Path
) -> None:
    paths = _stream(shared_run, _geotiff(tmp_path / "c.tif", cube), tmp_path / "out")
    tif = read_geotiff(paths["class_map_tif"])
    assert tif["layout"] == "COG" and tif["compression"] == "DEFLATE"
    assert tif["block_shape"] == (256, 256) and tif["nodata"] == 0
    assert tif["tags"]["CLASS_CODES"] == "1,10,11,12,13,14" and tif["colormap"][0][3] == 0
    assert tif["crs"] is not None and tif["transform"] == pytest.approx(TRANSFORM)
    aux = Path(f"{paths['class_map_tif']}.aux.xml").read_text()
    assert "<CategoryNames>" in aux and "Count" in aux
    probs = read_geotiff(paths["probabilities_tif"])
    assert probs["count"] == 6 and probs["layout"] == "COG" and probs["dtype"] == "float32"


def test_a_window_is_the_crop_of_the_full_map_and_georeferenced_to_it(
    shared_run: Path, cube: np.ndarray, in_memory: dict, tmp_path: Path
) -> None:
    paths = _stream(shared_run, _geotiff(tmp_path / "c.tif", cube), tmp_path / "out",
                    window="5:30,3:25")  # fmt: skip
    crop = (slice(5, 30), slice(3, 25))
    np.testing.assert_array_equal(np.load(paths["class_map_npy"]), in_memory["class_map"][crop])
    np.testing.assert_allclose(np.load(paths["confidence_npy"]), in_memory["confidence"][crop],
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    a, b, c, d, e, f = TRANSFORM
    shifted = (a, b, c + 3 * a, d, e, f + 5 * e)
    assert read_geotiff(paths["class_map_tif"])["transform"] == pytest.approx(shifted)
    assert json.loads(paths["json"].read_text())["transform"] == pytest.approx(list(shifted))
    # the Python API: a window of an array or a scene, the same crop
    done = predict(shared_run, cube, window=(5, 30, 3, 25), device="cpu", tile_rows=6)
    np.testing.assert_array_equal(done.class_map, in_memory["class_map"][crop])
    assert done.probabilities is not None and done.probabilities.shape == (25, 22, 6)


def test_a_large_cube_is_never_read_whole(
    shared_run: Path, cube: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read is one tile and its halo; a window reads only the rows around it."""
    reads: list[int] = []
    rows_read: set[int] = set()
    real = WindowedCube.rows

    def spy(self: WindowedCube, index: np.ndarray) -> np.ndarray:
        reads.append(len(index))
        rows_read.update(int(i) for i in index)
        return real(self, index)

    monkeypatch.setattr(WindowedCube, "rows", spy)
    tall = np.concatenate([cube] * 4)  # 148 rows
    source = _envi(tmp_path / "tall.hdr", tall)
    _stream(shared_run, source, tmp_path / "out")
    halo = load_run(shared_run).patch_size // 2
    n_tiles = -(-148 // 8)
    assert len(reads) == n_tiles and max(reads) == 8 + 2 * halo  # one read per tile + halo
    rows_read.clear()
    _stream(shared_run, source, tmp_path / "win", window="100:110,0:30")
    assert rows_read == set(range(100 - halo, 110 + halo))  # the window and its halo only


def test_window_values_are_checked_against_the_cube(tmp_path: Path) -> None:
    assert parse_window(" 0:5 , 2:9 ") == PixelWindow(0, 5, 2, 9)
    assert check_window(PixelWindow(0, 5, 2, 9), (5, 9, 3)) == PixelWindow(0, 5, 2, 9)
    with pytest.raises(Exception, match=r"ROW1 <= 83.*cube 83 x 86 x 204.*got 0:500,0:10"):
        check_window(parse_window("0:500,0:10"), (83, 86, 204))
    with pytest.raises(Exception, match=r"ROW0:ROW1,COL0:COL1.*'10:5'"):
        parse_window("10:5")
    assert shift_transform(None, PixelWindow(1, 2, 3, 4)) is None


def test_mssfe_predict_names_a_bad_window_in_one_line(
    shared_run: Path, cube: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mssfe.cli import main

    source = _envi(tmp_path / "c.hdr", cube)
    argv = ["predict", str(shared_run), "--cube", str(source), "--out", str(tmp_path / "o"),
            "--window", "0:500,0:10", "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--window" in err and "0:500,0:10" in err and f"cube {ROWS} x {COLS} x 204" in err


def test_two_ranks_read_their_own_tiles_and_rank_0_writes_the_same_map(
    shared_run: Path, cube: np.ndarray, tmp_path: Path
) -> None:
    source = _envi(tmp_path / "c.hdr", cube)

    def run(nproc: int, out: Path) -> np.ndarray:
        launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
        cmd = [sys.executable, *(launcher if nproc > 1 else []), "-m", "mssfe", "predict",
               str(shared_run), "--cube", str(source), "--window", "3:37,0:30", "--out",
               str(out), "--tile-rows", "5", "--no-progress", "--device", "cpu"]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads((out / "prediction.json").read_text())["ranks"] == nproc
        return np.load(out / "class_map.npy")

    np.testing.assert_array_equal(run(2, tmp_path / "two"), run(1, tmp_path / "one"))


def test_a_stream_stopped_half_way_leaves_the_previous_prediction_whole(
    shared_run: Path, cube: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tiles go into a staging set: a failure after some tiles were written changes
    nothing in --out and leaves no partial file behind."""
    from mssfe.workflows import predict_stream

    source = _envi(tmp_path / "c.hdr", cube)
    out = tmp_path / "out"
    _stream(shared_run, source, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real, calls = predict_stream.classify_tile, []

    def fail_on_third(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(predict_stream, "classify_tile", fail_on_third)
    with pytest.raises(OSError, match="No space left"):
        _stream(shared_run, source, out, window="0:30,0:30")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert [p.name for p in out.iterdir() if p.is_dir() or "partial" in p.name] == []
