"""Downloads against a local HTTP server: verified, atomic, and failing with useful messages."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mssfe.data import download
from mssfe.data.download import fetch, locate_file, search_dirs, verify_file
from mssfe.data.registry import RemoteFile
from mssfe.errors import ChecksumError, DatasetNotFoundError

GOOD = b"hyperspectral bytes " * 512  # 10 KiB
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
OTHER = b"something else entirely " * 100


class _Handler(http.server.BaseHTTPRequestHandler):
    """/good: the file; /other: bytes of another hash; /cut: half the bytes, then hang up."""

    def do_GET(self) -> None:
        if self.path.startswith("/good"):
            self._send(GOOD, len(GOOD))
        elif self.path.startswith("/other"):
            self._send(OTHER, len(OTHER))
        elif self.path.startswith("/cut"):
            self._send(GOOD[: len(GOOD) // 2], len(GOOD))
            self.close_connection = True
        else:
            self.send_error(404)

    def _send(self, body: bytes, length: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


class _Server:
    def __init__(self) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    yield running
    running.stop()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connection refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _remote(
    url: str, name: str = "scene.mat", sha: str | None = GOOD_SHA, size: int | None = len(GOOD)
) -> RemoteFile:
    return RemoteFile(name, url, "scene", size, sha)


def _visible_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ---------------------------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------------------------


def test_download_verifies_then_reuses_local_copy(server: _Server, tmp_path: Path) -> None:
    remote = _remote(f"{server.url}/good/scene.mat")
    path = locate_file(remote, tmp_path, progress=False)
    assert path == tmp_path / "scene.mat"
    assert path.read_bytes() == GOOD
    assert (tmp_path / "scene.mat.sha256ok").is_file()
    server.stop()  # a second lookup must not need the network
    assert locate_file(remote, tmp_path, progress=False) == path


def test_fetch_direct(server: _Server, tmp_path: Path) -> None:
    path = fetch(_remote(f"{server.url}/good/x"), tmp_path / "new", progress=True)
    assert path.read_bytes() == GOOD
    assert _visible_files(tmp_path / "new") == ["scene.mat"]


def test_wrong_checksum_leaves_nothing(server: _Server, tmp_path: Path) -> None:
    remote = _remote(f"{server.url}/other/scene.mat", size=None)
    with pytest.raises(ChecksumError) as info:
        locate_file(remote, tmp_path, progress=False)
    message = str(info.value)
    assert "scene.mat" in message
    assert GOOD_SHA in message
    assert hashlib.sha256(OTHER).hexdigest() in message
    assert _visible_files(tmp_path) == []


def test_wrong_size_leaves_nothing(server: _Server, tmp_path: Path) -> None:
    remote = _remote(f"{server.url}/other/scene.mat")
    with pytest.raises(ChecksumError) as info:
        locate_file(remote, tmp_path, progress=False)
    assert f"{len(GOOD)} bytes" in str(info.value) and f"{len(OTHER)} bytes" in str(info.value)
    assert _visible_files(tmp_path) == []


def test_connection_cut_midway_leaves_no_partial_file(server: _Server, tmp_path: Path) -> None:
    remote = _remote(f"{server.url}/cut/scene.mat")
    with pytest.raises(DatasetNotFoundError) as info:
        locate_file(remote, tmp_path, progress=False)
    assert "scene.mat" in str(info.value)
    assert remote.url is not None and remote.url in str(info.value)
    assert _visible_files(tmp_path) == []


def test_http_404_is_dataset_not_found(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="404"):
        fetch(_remote(f"{server.url}/missing/scene.mat"), tmp_path, progress=False)
    assert _visible_files(tmp_path) == []


def test_no_network_names_file_dirs_and_url(
    closed_port_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir = tmp_path / "env"
    monkeypatch.setenv(download.ENV_VAR, str(env_dir))
    remote = _remote(f"{closed_port_url}/good/scene.mat")
    data_dir = tmp_path / "data"
    with pytest.raises(DatasetNotFoundError) as info:
        locate_file(remote, data_dir, extra_dirs=[tmp_path / "embedded"], progress=False)
    message = str(info.value)
    assert "scene.mat" in message
    assert f"{closed_port_url}/good/scene.mat" in message
    for directory in [tmp_path / "embedded", *search_dirs(data_dir)]:
        assert str(directory) in message
    assert _visible_files(data_dir) == []


def test_no_sha256_means_no_download(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fetch(*args: object, **kwargs: object) -> Path:
        raise AssertionError("fetch must not be called without a SHA-256")

    monkeypatch.setattr(download, "fetch", no_fetch)
    remote = _remote(f"{server.url}/good/scene.mat", sha=None)
    with pytest.raises(DatasetNotFoundError) as info:
        locate_file(remote, tmp_path)
    message = str(info.value)
    assert "SHA-256" in message and str(tmp_path) in message and remote.url in message


def test_no_url_and_download_disabled(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="no public download URL"):
        locate_file(RemoteFile("Houston.tif", None), tmp_path)
    with pytest.raises(DatasetNotFoundError, match="downloading is disabled"):
        locate_file(_remote("http://127.0.0.1:9/x"), tmp_path, download=False)


# ---------------------------------------------------------------------------------------------
# Local files and search order
# ---------------------------------------------------------------------------------------------


def test_search_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_data_dirs: Path
) -> None:
    data_dir, env_dir = tmp_path / "data", tmp_path / "env"
    monkeypatch.setenv(download.ENV_VAR, str(env_dir))
    assert search_dirs(data_dir) == [data_dir, env_dir, _isolated_data_dirs]
    assert search_dirs() == [env_dir, _isolated_data_dirs]
    monkeypatch.delenv(download.ENV_VAR)
    assert search_dirs() == [_isolated_data_dirs]


def test_lookup_prefers_earlier_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_data_dirs: Path
) -> None:
    data_dir, env_dir, extra = tmp_path / "data", tmp_path / "env", tmp_path / "extra"
    monkeypatch.setenv(download.ENV_VAR, str(env_dir))
    remote = _remote("http://127.0.0.1:9/never", size=None, sha=None)
    for directory in (extra, data_dir, env_dir, _isolated_data_dirs):
        directory.mkdir(exist_ok=True)
        (directory / "scene.mat").write_bytes(GOOD)
    assert locate_file(remote, data_dir, extra_dirs=[extra]) == extra / "scene.mat"
    (extra / "scene.mat").unlink()
    assert locate_file(remote, data_dir) == data_dir / "scene.mat"
    assert locate_file(remote) == env_dir / "scene.mat"
    monkeypatch.delenv(download.ENV_VAR)
    assert locate_file(remote) == _isolated_data_dirs / "scene.mat"


def test_download_goes_to_first_search_dir(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_data_dirs: Path
) -> None:
    monkeypatch.setenv(download.ENV_VAR, str(tmp_path / "env"))
    remote = _remote(f"{server.url}/good/scene.mat")
    assert locate_file(remote, progress=False) == tmp_path / "env" / "scene.mat"
    monkeypatch.delenv(download.ENV_VAR)
    (tmp_path / "env" / "scene.mat").unlink()
    assert locate_file(remote, progress=False) == _isolated_data_dirs / "scene.mat"


def test_local_file_with_wrong_sha_is_never_used(tmp_path: Path) -> None:
    (tmp_path / "scene.mat").write_bytes(OTHER)
    remote = _remote("http://127.0.0.1:9/x", size=None)
    with pytest.raises(ChecksumError) as info:
        locate_file(remote, tmp_path)
    message = str(info.value)
    assert str(tmp_path / "scene.mat") in message
    assert GOOD_SHA in message and hashlib.sha256(OTHER).hexdigest() in message
    assert (tmp_path / "scene.mat").read_bytes() == OTHER  # the user's file is not deleted


def test_stamp_skips_rehash_until_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "scene.mat"
    path.write_bytes(GOOD)
    remote = _remote("http://127.0.0.1:9/x")
    locate_file(remote, tmp_path)
    calls: list[Path] = []
    real_sha = download.sha256_file
    monkeypatch.setattr(download, "sha256_file", lambda p: calls.append(p) or real_sha(p))
    locate_file(remote, tmp_path)
    assert calls == []  # stamp current: no re-hash
    tampered = bytearray(GOOD)
    tampered[0] ^= 1
    path.write_bytes(bytes(tampered))
    os.utime(path, ns=(1, 1))
    with pytest.raises(ChecksumError):
        locate_file(remote, tmp_path)
    assert calls == [path]


def test_read_only_dir_verifies_every_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "scene.mat"
    path.write_bytes(GOOD)
    monkeypatch.setattr(download.os, "access", lambda p, mode: False)
    calls: list[Path] = []
    real_sha = download.sha256_file
    monkeypatch.setattr(download, "sha256_file", lambda p: calls.append(p) or real_sha(p))
    remote = _remote("http://127.0.0.1:9/x")
    locate_file(remote, tmp_path)
    locate_file(remote, tmp_path)
    assert calls == [path, path]
    assert not (tmp_path / "scene.mat.sha256ok").exists()


def test_extra_dirs_are_verified_but_never_stamped(tmp_path: Path) -> None:
    extra = tmp_path / "embedded"
    extra.mkdir()
    (extra / "scene.mat").write_bytes(GOOD)
    remote = _remote("http://127.0.0.1:9/x")
    assert locate_file(remote, tmp_path / "data", extra_dirs=[extra]) == extra / "scene.mat"
    assert _visible_files(extra) == ["scene.mat"]
    (extra / "scene.mat").write_bytes(OTHER)
    with pytest.raises(ChecksumError):
        locate_file(remote, tmp_path / "data", extra_dirs=[extra])


def test_verify_file_reports_size_first(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    with pytest.raises(ChecksumError, match="size") as info:
        verify_file(path, _remote("u", sha="0" * 64))
    assert info.value.field == "size"
    assert str(path) in str(info.value)
