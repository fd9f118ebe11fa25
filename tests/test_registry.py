"""Data hub: locating, verifying and downloading dataset files (no network beyond loopback)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import platformdirs
import pytest

from gca_lite.data import registry as reg
from gca_lite.data.abxi_io import sha256_file, write_abxi
from gca_lite.data.dataset import DataError, from_sequences
from gca_lite.data.registry import DataFile, DataNotFoundError, DatasetEntry

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


# ---------------------------------------------------------------------- fixtures
@pytest.fixture
def toy_source(tmp_path: Path) -> Path:
    """A folder ``<src>/toy/`` holding a tiny dataset written in ABXI's format."""
    ds = from_sequences("toy", 2, 2, [(np.array([1, 3, 2]), np.array([10, 10, 20])),
                                      (np.array([4, 2]), np.array([5, 6]))])
    write_abxi(ds, tmp_path / "src" / "toy")
    return tmp_path / "src"


@pytest.fixture
def toy_registry(toy_source: Path) -> dict[str, DatasetEntry]:
    files = tuple(DataFile(f"toy/{fn}", sha256_file(toy_source / "toy" / fn))
                  for fn in ("toy_50_preprocessed.txt", "map_item_50.txt"))
    return {"toy": DatasetEntry("toy", "tiny test dataset", files)}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own settings must not leak into the tests; loopback must bypass any proxy.
    for var in (reg.ENV_DATA_DIR, reg.ENV_DATA_URL, "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    requests_seen: list[str]

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.requests_seen.append(self.path)
        super().do_GET()

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def http_server(toy_source: Path):
    """Serve ``toy_source`` on 127.0.0.1:<free port>; yields (base_url, list of GET paths)."""
    seen: list[str] = []
    handler = type("Handler", (_RecordingHandler,), {"requests_seen": seen})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(toy_source)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------- registry content
def test_registry_pins_abxi_files() -> None:
    sums = {"afk/afk_50_preprocessed.txt": "5f9856f574879920a70c93461add1ebc1c997b1ce6d626ba8d475315f53a4a15",
            "afk/map_item_50.txt": "64a939f71c0c48ba181d6d24e384af1160812bdf244f20c58ef101f5fc54b3c3",
            "abe/abe_50_preprocessed.txt": "e13235003725700fdc709eb78a8865bd7e4ab75dc28ae569f7a4cebcdab1e33b",
            "abe/map_item_50.txt": "4e144f3fea1a5e8037cd56167a084ce4d73c6ccc123187055470b3da9818de74"}
    got = {f.path: f.sha256 for e in reg.REGISTRY.values() for f in e.files}
    assert got == sums
    afk = reg.REGISTRY["afk"]
    assert afk.url(afk.files[0]) == ("https://raw.githubusercontent.com/DiMarzioBian/ABXI/"
                                     "72e52c9f85c740cb5dbdab11f7e5a70eb28ae00d/data/afk/"
                                     "afk_50_preprocessed.txt")
    assert "Grocery" in afk.description and "Electronics" in reg.REGISTRY["abe"].description


# ---------------------------------------------------------------------- data_home
def test_data_home_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert reg.data_home() == Path(platformdirs.user_cache_dir("gca-lite"))
    monkeypatch.setenv(reg.ENV_DATA_DIR, str(tmp_path / "env"))
    assert reg.data_home() == tmp_path / "env"
    assert reg.data_home(tmp_path / "explicit") == tmp_path / "explicit"


def test_locate_uses_env_folder(toy_source, toy_registry, monkeypatch) -> None:
    monkeypatch.setenv(reg.ENV_DATA_DIR, str(toy_source))
    assert reg.locate("toy", registry=toy_registry) == toy_source / "toy"


# ---------------------------------------------------------------------- locate / load
def test_locate_nested_and_flat_layouts(toy_source, toy_registry, tmp_path) -> None:
    assert reg.locate("toy", toy_source, registry=toy_registry) == toy_source / "toy"
    flat = tmp_path / "flat"
    shutil.copytree(toy_source / "toy", flat)
    assert reg.locate("toy", flat, registry=toy_registry) == flat


def test_locate_wrong_checksum_names_file_and_sums(toy_source, toy_registry) -> None:
    target = toy_source / "toy" / "map_item_50.txt"
    target.write_text(target.read_text().replace('"1"', '"one"'))
    expected = toy_registry["toy"].files[1].sha256
    with pytest.raises(DataError) as err:
        reg.locate("toy", toy_source, registry=toy_registry)
    msg = str(err.value)
    assert str(target) in msg and expected in msg and sha256_file(target) in msg
    assert not isinstance(err.value, DataNotFoundError)


def test_locate_missing_says_how_to_download(tmp_path, toy_registry) -> None:
    with pytest.raises(DataNotFoundError, match="gca-lite data download toy") as err:
        reg.locate("toy", tmp_path, registry=toy_registry)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, DataError)


def test_locate_incomplete_folder(toy_source, toy_registry) -> None:
    (toy_source / "toy" / "map_item_50.txt").unlink()
    with pytest.raises(DataNotFoundError, match="missing map_item_50.txt"):
        reg.locate("toy", toy_source, registry=toy_registry)


def test_unknown_name_lists_known_datasets(tmp_path) -> None:
    for call in (reg.locate, reg.load, reg.download):
        with pytest.raises(DataError, match=r"unknown dataset 'nope'.*abe, afk.*synthetic"):
            call("nope", tmp_path)


def test_load_reads_verified_dataset(toy_source, toy_registry, tmp_path) -> None:
    ds = reg.load("toy", toy_source, registry=toy_registry)
    assert (ds.n_users, ds.n_items_a, ds.n_items_b) == (2, 2, 2)
    np.testing.assert_array_equal(ds.items, [1, 3, 2, 4, 2])
    with pytest.raises(DataNotFoundError):
        reg.load("toy", tmp_path / "empty", registry=toy_registry)


# ---------------------------------------------------------------------- download
def test_download_verifies_and_caches(toy_registry, http_server, tmp_path) -> None:
    url, seen = http_server
    home = tmp_path / "home"
    folder = reg.download("toy", home, progress=True, base_url=url, registry=toy_registry)
    assert folder == home / "toy"
    for f in toy_registry["toy"].files:
        assert sha256_file(folder / f.basename) == f.sha256
    assert sorted(seen) == ["/toy/map_item_50.txt", "/toy/toy_50_preprocessed.txt"]
    # Second call: present and verified, so no request at all.
    assert reg.download("toy", home, progress=False, base_url=url, registry=toy_registry) == folder
    assert len(seen) == 2


def test_download_base_url_from_env(toy_registry, http_server, tmp_path, monkeypatch) -> None:
    url, seen = http_server
    monkeypatch.setenv(reg.ENV_DATA_URL, url + "/")
    ds = reg.load("toy", tmp_path / "home", download=True, registry=toy_registry)
    assert ds.n_users == 2 and len(seen) == 2


def test_download_replaces_corrupt_local_file(toy_registry, http_server, tmp_path) -> None:
    url, seen = http_server
    home = tmp_path / "home"
    reg.download("toy", home, progress=False, base_url=url, registry=toy_registry)
    (home / "toy" / "toy_50_preprocessed.txt").write_text("0 1|1 3|1\n")
    reg.download("toy", home, progress=False, base_url=url, registry=toy_registry)
    assert seen.count("/toy/toy_50_preprocessed.txt") == 2
    assert reg.locate("toy", home, registry=toy_registry) == home / "toy"


def test_download_corrupt_served_file_raises(toy_source, toy_registry, http_server, tmp_path) -> None:
    url, _ = http_server
    with open(toy_source / "toy" / "map_item_50.txt", "a") as f:
        f.write(" ")  # same JSON, different bytes: only the checksum can notice
    with pytest.raises(DataError, match="failed verification") as err:
        reg.download("toy", tmp_path / "home", progress=False, base_url=url, registry=toy_registry)
    assert toy_registry["toy"].files[1].sha256 in str(err.value)
    assert not (tmp_path / "home" / "toy" / "map_item_50.txt").exists()


def test_download_http_error_raises(toy_registry, http_server, tmp_path) -> None:
    url, _ = http_server
    with pytest.raises(DataError, match="download failed"):
        reg.download("toy", tmp_path / "home", progress=False, base_url=url + "/missing",
                      registry=toy_registry)


# ---------------------------------------------------------------------- real data
@pytest.mark.realdata
@pytest.mark.parametrize("name, stats", [
    ("afk", (7144, 11837, 16258, 173548)),  # ABXI.md section 2.3
    ("abe", (4474, 10379, 14188, 114129)),
])
def test_real_data_checksums(name: str, stats: tuple[int, ...]) -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA.resolve()} not present")
    folder = reg.locate(name, SHARED_DATA)
    assert folder.resolve() == (SHARED_DATA / name).resolve()
    sums = dict(reversed(line.split()) for line in (SHARED_DATA / "SHA256SUMS").read_text().splitlines()
                if line.strip())
    for f in reg.REGISTRY[name].files:
        assert sha256_file(folder / f.basename) == f.sha256 == sums[f.path]
    ds = reg.load(name, SHARED_DATA)
    assert (ds.n_users, ds.n_items_a, ds.n_items_b, len(ds.items)) == stats
