"""fastmlp.datasets: the IDX reader on files written here, the search order,
the OpenML path offline (fetch_openml replaced), and the real files if present."""

import gzip
import io
import json
import hashlib
import struct
from urllib.error import URLError

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastmlp import datasets
from fastmlp.datasets import DatasetNotFoundError, load_fashion_mnist, load_mnist, read_idx

from _testutils import mnist_dir


def idx_bytes(array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path, array, compress):
    data = idx_bytes(array)
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_mnist_folder(folder, n_train=50, n_test=20, seed=0, compress=True):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_idx(folder / name, array, compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "a-idx3-ubyte", array, compress)
    assert_array_equal(read_idx(path), array)
    assert_array_equal(read_idx(path, expected_ndim=3), array)


@pytest.mark.parametrize("mutate, match", [
    (lambda b: b"\x01" + b[1:], "not an IDX file"),
    (lambda b: b[:2] + b"\x0d" + b[3:], "not supported"),
    (lambda b: b[:-5], "truncated"),
    (lambda b: b + b"\x00", "holds 25 bytes"),
    (lambda b: b[:6], "truncated IDX header"),
    (lambda b: b[:2], "not an IDX file"),
])
def test_read_idx_rejects_corrupt_files(tmp_path, mutate, match):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(mutate(idx_bytes(np.zeros((1, 4, 6), dtype=np.uint8))))
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_truncated_gzip_and_wrong_rank(tmp_path):
    good = write_idx(tmp_path / "x-idx1-ubyte", np.arange(100, dtype=np.uint8), True)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good.read_bytes()[:-12])
    with pytest.raises(ValueError, match="gzip"):
        read_idx(cut)
    with pytest.raises(ValueError, match="dimensions"):
        read_idx(good, expected_ndim=3)


@pytest.mark.parametrize("compress", [True, False])
def test_load_mnist_from_a_folder(tmp_path, offline_machine, compress):
    arrays = write_mnist_folder(tmp_path / "data" / "mnist", compress=compress)
    for data_dir in (tmp_path / "data", tmp_path / "data" / "mnist"):
        data = load_mnist(data_dir)
        assert data.X_train.shape == (50, 784) and data.X_test.shape == (20, 784)
        assert data.X_train.dtype == np.float32
        expected = arrays["train-images-idx3-ubyte"].reshape(50, 784) / 255
        np.testing.assert_allclose(data.X_train, expected, rtol=1e-6)
        assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte"])
        assert data.y_train.dtype.kind == "i"
        assert "IDX files" in data.source


def test_fastmlp_data_variable_is_searched(tmp_path, offline_machine, monkeypatch):
    write_mnist_folder(tmp_path / "root" / "fashion-mnist", seed=1)
    write_mnist_folder(tmp_path / "root" / "mnist", seed=2)
    monkeypatch.setenv("FASTMLP_DATA", str(tmp_path / "root"))
    assert str(tmp_path / "root" / "mnist") in load_mnist().source
    assert str(tmp_path / "root" / "fashion-mnist") in load_fashion_mnist().source


def test_fashion_mnist_reads_debians_folder(tmp_path, offline_machine, monkeypatch):
    write_mnist_folder(tmp_path / "usr-share-fashion")
    monkeypatch.setitem(datasets._SPECS["fashion-mnist"], "system_dirs",
                        (str(tmp_path / "usr-share-fashion"),))
    data = load_fashion_mnist()
    assert data.target_names[9] == "Ankle boot" and "usr-share-fashion" in data.source


def test_incomplete_or_inconsistent_folders_are_errors(tmp_path, offline_machine):
    folder = tmp_path / "mnist"
    write_mnist_folder(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="missing t10k-labels"):
        load_mnist(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(19, np.uint8), compress=False)
    with pytest.raises(ValueError, match="20 images but 19 labels"):
        load_mnist(folder)


def test_not_found_lists_every_place_looked(tmp_path, offline_machine):
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    for fragment in ("$FASTMLP_DATA (not set)", "no cached OpenML download",
                     "fetch_openml('mnist_784', version=1)", "no network in tests"):
        assert fragment in message


def test_a_named_folder_is_the_only_place_looked(tmp_path, offline_machine, monkeypatch):
    write_mnist_folder(tmp_path / "root" / "mnist")
    monkeypatch.setenv("FASTMLP_DATA", str(tmp_path / "root"))
    assert "root" in load_mnist().source
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(tmp_path / "nowhere")
    assert "nowhere" in str(info.value) and "fetch_openml" not in str(info.value)


def test_openml_download_is_cached_as_npy(tmp_path, offline_machine, monkeypatch):
    # A miniature OpenML answer: 7 + 3 rows; the loader splits first/last.
    monkeypatch.setattr(datasets, "N_TRAIN", 7)
    monkeypatch.setattr(datasets, "N_TEST", 3)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (10, 784)).astype(np.float64)
    labels = np.array([str(d) for d in rng.integers(0, 10, 10)], dtype=object)
    calls = []

    def fake_fetch_openml(name, version, data_home, as_frame, parser):
        calls.append((name, version, data_home, as_frame))
        return datasets.Bunch(data=pixels, target=labels)

    monkeypatch.setattr(datasets, "fetch_openml", fake_fetch_openml)
    home = tmp_path / "home"
    first = load_mnist(data_home=home)
    assert calls == [("mnist_784", 1, home, False)]
    assert "OpenML mnist_784" in first.source
    np.testing.assert_allclose(first.X_test, pixels[7:] / 255, rtol=1e-6)
    assert_array_equal(first.y_train, labels[:7].astype(int))
    assert (home / "fastmlp" / "mnist_784-v1" / "X.npy").is_file()

    def must_not_download(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(datasets, "fetch_openml", must_not_download)
    second = load_mnist(data_home=home)
    assert "cached OpenML download" in second.source
    assert_array_equal(second.X_train, first.X_train)
    assert_array_equal(second.y_test, first.y_test)


def test_download_false_never_calls_fetch_openml(tmp_path, offline_machine, monkeypatch):
    monkeypatch.setattr(datasets, "fetch_openml", lambda *a, **k: pytest.fail("called"))
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_mnist(download=False)


def test_load_dataset_rejects_unknown_names():
    with pytest.raises(ValueError, match="dataset must be one of"):
        datasets.load_dataset("cifar10")


def test_digits_split_is_stratified_and_scaled():
    data = datasets.load_digits_split()
    assert data.X_train.shape == (1437, 64) and data.X_test.shape == (360, 64)
    assert 0 <= data.X_train.min() and data.X_train.max() <= 1
    assert np.bincount(data.y_test).min() >= 35


@pytest.mark.slow
def test_real_mnist_files_match_their_checksums():
    folder = mnist_dir()
    sums = {}
    for line in (folder / "SHA256SUMS.uncompressed").read_text().splitlines():
        digest, name = line.split()
        sums[name.lstrip("*")] = digest
    data = load_mnist(folder)
    assert data.X_train.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    assert 0 <= data.X_train.min() and data.X_train.max() == 1
    assert sorted(np.unique(data.y_test)) == list(range(10))
    # Rebuild each file from what the reader returned: byte for byte the original.
    rebuilt = {
        "train-images-idx3-ubyte": np.rint(data.X_train * 255).reshape(-1, 28, 28),
        "train-labels-idx1-ubyte": data.y_train,
        "t10k-images-idx3-ubyte": np.rint(data.X_test * 255).reshape(-1, 28, 28),
        "t10k-labels-idx1-ubyte": data.y_test,
    }
    for name, array in rebuilt.items():
        digest = hashlib.sha256(idx_bytes(array.astype(np.uint8))).hexdigest()
        assert digest == sums[name], name


class _FakeOpenMLResponse(io.BytesIO):
    """What urllib's urlopen returns, as far as fetch_openml looks: a stream
    with headers; every body is served gzip-encoded, as OpenML does."""

    def __init__(self, payload):
        super().__init__(gzip.compress(payload))

    def info(self):
        return {"Content-Encoding": "gzip"}


def _fake_openml_server(n_rows, seed=0):
    """URL -> body for a miniature 'mnist_784' (784 pixel columns + 'class')."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (n_rows, 784))
    labels = rng.integers(0, 10, n_rows)
    lines = ["@relation mnist_784"]
    lines += [f"@attribute pixel{i + 1} numeric" for i in range(784)]
    lines += ["@attribute class {0,1,2,3,4,5,6,7,8,9}", "@data"]
    lines += [",".join(map(str, row)) + f",{label}" for row, label in zip(pixels, labels)]
    arff = ("\n".join(lines) + "\n").encode()
    did, file_id = 554, 52667
    features = [
        {"index": str(i), "name": f"pixel{i + 1}", "data_type": "numeric",
         "is_target": "false", "is_ignore": "false", "is_row_identifier": "false",
         "number_of_missing_values": "0"}
        for i in range(784)
    ] + [{"index": "784", "name": "class", "data_type": "nominal",
          "nominal_value": [str(d) for d in range(10)], "is_target": "true",
          "is_ignore": "false", "is_row_identifier": "false",
          "number_of_missing_values": "0"}]
    api = "https://www.openml.org/api/v1/json"
    routes = {
        f"{api}/data/list/data_name/mnist_784/limit/2/data_version/1": {
            "data": {"dataset": [{"did": did, "name": "mnist_784", "version": 1,
                                  "status": "active", "format": "ARFF"}]}},
        f"{api}/data/{did}": {"data_set_description": {
            "id": str(did), "name": "mnist_784", "version": "1", "format": "ARFF",
            "status": "active", "file_id": str(file_id),
            "url": f"https://api.openml.org/data/v1/download/{file_id}/mnist_784.arff",
            "default_target_attribute": "class", "description": "test fixture",
            "md5_checksum": hashlib.md5(arff).hexdigest()}},
        f"{api}/data/features/{did}": {"data_features": {"feature": features}},
        f"{api}/data/qualities/{did}": {"data_qualities": {"quality": [
            {"name": "NumberOfInstances", "value": f"{n_rows}.0"},
            {"name": "NumberOfFeatures", "value": "785.0"}]}},
    }
    bodies = {url: json.dumps(body).encode() for url, body in routes.items()}
    bodies[f"https://api.openml.org/data/v1/download/{file_id}/mnist_784.arff"] = arff
    return bodies, pixels, labels


def test_fetch_openml_path_with_its_http_layer_mocked(tmp_path, offline_machine, monkeypatch):
    """The real fetch_openml call, only urllib's urlopen replaced (as
    scikit-learn's own tests do): our arguments, ARFF parsing, split and cache."""
    import sklearn.datasets._openml as openml_module

    monkeypatch.setattr(datasets, "fetch_openml", openml_module.fetch_openml)
    monkeypatch.setattr(datasets, "N_TRAIN", 8)
    monkeypatch.setattr(datasets, "N_TEST", 4)
    bodies, pixels, labels = _fake_openml_server(12)
    requested = []

    def fake_urlopen(request, *args, **kwargs):
        url = getattr(request, "full_url", request)
        requested.append(url)
        if url not in bodies:
            raise URLError(f"unexpected URL in test: {url}")
        return _FakeOpenMLResponse(bodies[url])

    monkeypatch.setattr(openml_module, "urlopen", fake_urlopen)
    data = load_mnist(data_home=tmp_path / "home")
    assert any(url.endswith("mnist_784.arff") for url in requested)
    np.testing.assert_allclose(data.X_train, pixels[:8] / 255, rtol=1e-6)
    np.testing.assert_allclose(data.X_test, pixels[8:] / 255, rtol=1e-6)
    assert_array_equal(data.y_test, labels[8:])
    assert "OpenML mnist_784 v1" in data.source
