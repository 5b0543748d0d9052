"""Data sets of the tutorial: MNIST, Fashion-MNIST and scikit-learn's 8x8 digits.

``load_mnist`` and ``load_fashion_mnist`` look, in order, in:

1. ``data_dir`` if given: a folder of classic IDX files (gzipped or raw), or
   a folder holding ``mnist/`` and ``fashion-mnist/`` such folders. A named
   folder is the only place looked: without the data there, the load fails;
2. ``$FASTMLP_DATA/mnist`` (resp. ``fashion-mnist``);
3. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` (Debian's
   ``dataset-fashion-mnist`` package);
4. fastmlp's cache of an earlier OpenML download, under scikit-learn's
   ``data_home`` (``~/scikit_learn_data`` unless set);
5. ``sklearn.datasets.fetch_openml`` (network), whose result is then
   cached as ``.npy`` files so the next load is instant.

Each returns a :class:`sklearn.utils.Bunch` with ``X_train`` (60000, 784)
and ``X_test`` (10000, 784) float32 pixels in [0, 1], integer labels
``y_train``/``y_test``, ``target_names`` and ``source`` (where the data came
from). Where none of the sources has the data, :class:`DatasetNotFoundError`
lists every place looked.
"""

import gzip
import os
from pathlib import Path

import numpy as np
from sklearn.datasets import fetch_openml, get_data_home, load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

__all__ = [
    "DatasetNotFoundError",
    "load_dataset",
    "load_digits_split",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
]

IDX_UBYTE = 0x08
# The four files of a classic MNIST-format folder, under both common spellings.
IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
N_TRAIN, N_TEST, IMAGE_SHAPE = 60000, 10000, (28, 28)

_SPECS = {
    "mnist": dict(
        folder="mnist",
        openml=("mnist_784", 1),
        system_dirs=(),
        target_names=[str(d) for d in range(10)],
    ),
    "fashion-mnist": dict(
        folder="fashion-mnist",
        openml=("Fashion-MNIST", 1),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        target_names=[
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ],
    ),
}


class DatasetNotFoundError(FileNotFoundError):
    """No source had the data set; ``searched`` lists what was tried."""

    def __init__(self, name, searched):
        self.searched = list(searched)
        lines = "\n".join(f"  - {entry}" for entry in self.searched)
        super().__init__(f"{name} was not found. Looked in:\n{lines}")


def read_idx(path, expected_ndim=None):
    """Read one IDX file (gzipped or raw) into a uint8 array, validating it.

    The header is two zero bytes, a type code (0x08: unsigned byte), the
    number of dimensions, then each dimension as a big-endian uint32; the
    payload must hold exactly their product of bytes.

    Parameters
    ----------
    path : str or Path
    expected_ndim : int, optional
        Raise if the file declares another number of dimensions.

    Returns
    -------
    ndarray of dtype uint8

    Raises
    ------
    ValueError
        For a corrupt, truncated or unsupported file (the message names it).
    """
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    type_code, ndim = raw[2], raw[3]
    if type_code != IDX_UBYTE:
        raise ValueError(
            f"{path}: IDX element type 0x{type_code:02x} is not supported "
            "(only unsigned bytes, 0x08)"
        )
    if ndim == 0 or (expected_ndim is not None and ndim != expected_ndim):
        raise ValueError(
            f"{path}: IDX file has {ndim} dimensions, expected {expected_ndim}"
        )
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(raw) - header_size
    if actual != expected:
        raise ValueError(
            f"{path}: IDX header declares shape {dims} ({expected} bytes) but the "
            f"file holds {actual} bytes of data"
            + (" (truncated)" if actual < expected else "")
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(dims)


def _find_idx_file(folder, key):
    for stem in IDX_FILES[key]:
        for candidate in (folder / (stem + ".gz"), folder / stem):
            if candidate.is_file():
                return candidate
    return None


def _read_idx_folder(folder):
    """Read the four IDX files of ``folder``; None if it holds none of them."""
    found = {key: _find_idx_file(folder, key) for key in IDX_FILES}
    if not any(found.values()):
        return None
    missing = [IDX_FILES[k][0] for k, v in found.items() if v is None]
    if missing:
        raise ValueError(f"{folder}: incomplete IDX folder, missing {', '.join(missing)}")
    arrays = {}
    for key, path in found.items():
        arrays[key] = read_idx(path, expected_ndim=3 if key.endswith("images") else 1)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{folder}: {split} set has {images.shape[0]} images but "
                f"{labels.shape[0]} labels"
            )
        if images.shape[1:] != IMAGE_SHAPE:
            raise ValueError(f"{folder}: {split} images are {images.shape[1:]}, not 28x28")
        if labels.size and labels.max() > 9:
            raise ValueError(f"{folder}: {split} labels go up to {labels.max()}, not 0-9")
    return (
        arrays["train_images"].reshape(-1, 784), arrays["train_labels"],
        arrays["test_images"].reshape(-1, 784), arrays["test_labels"],
    )


def _candidate_folders(spec, data_dir):
    if data_dir is not None:
        # A folder the caller named is the only place looked: falling back to
        # other copies would hide a wrong path.
        data_dir = Path(data_dir)
        return [data_dir / spec["folder"], data_dir]
    folders = []
    env = os.environ.get("FASTMLP_DATA")
    if env:
        folders.append(Path(env) / spec["folder"])
    return folders + [Path(d) for d in spec["system_dirs"]]


def _openml_cache_dir(spec, data_home):
    name, version = spec["openml"]
    return Path(get_data_home(data_home)) / "fastmlp" / f"{name}-v{version}"


def _load_openml_cache(cache_dir):
    try:
        return np.load(cache_dir / "X.npy"), np.load(cache_dir / "y.npy")
    except (OSError, ValueError):
        return None


def _fetch_and_cache(spec, data_home, cache_dir):
    name, version = spec["openml"]
    bunch = fetch_openml(name, version=version, data_home=data_home, as_frame=False,
                         parser="liac-arff")
    X = np.asarray(bunch.data)
    y = np.asarray(bunch.target).astype(np.int64)
    if X.shape != (N_TRAIN + N_TEST, 784) or y.shape != (N_TRAIN + N_TEST,):
        raise ValueError(
            f"OpenML {name} v{version} has shape {X.shape}, expected "
            f"({N_TRAIN + N_TEST}, 784)"
        )
    if X.min() < 0 or X.max() > 255:
        raise ValueError(f"OpenML {name}: pixel values outside 0-255")
    X = np.rint(X).astype(np.uint8)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for fname, arr in (("X.npy", X), ("y.npy", y)):
        tmp = cache_dir / (fname + ".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, cache_dir / fname)
    return X, y


def _as_bunch(X_train, y_train, X_test, y_test, spec, source):
    scale = np.float32(1 / 255)
    return Bunch(
        X_train=X_train.astype(np.float32) * scale,
        y_train=y_train.astype(np.int64),
        X_test=X_test.astype(np.float32) * scale,
        y_test=y_test.astype(np.int64),
        target_names=list(spec["target_names"]),
        source=source,
    )


def _load_mnist_like(name, data_dir, data_home, download):
    spec = _SPECS[name]
    searched = []
    for folder in _candidate_folders(spec, data_dir):
        arrays = _read_idx_folder(folder) if folder.is_dir() else None
        if arrays is not None:
            return _as_bunch(*arrays, spec, source=f"IDX files in {folder}")
        searched.append(f"{folder} (no IDX files)" if folder.is_dir() else f"{folder} (missing)")
    if data_dir is not None:
        raise DatasetNotFoundError(name, searched)
    if not os.environ.get("FASTMLP_DATA"):
        searched.append("$FASTMLP_DATA (not set)")

    cache_dir = _openml_cache_dir(spec, data_home)
    cached = _load_openml_cache(cache_dir)
    if cached is not None:
        X, y = cached
        return _as_bunch(X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:], spec,
                         source=f"cached OpenML download in {cache_dir}")
    searched.append(f"{cache_dir} (no cached OpenML download)")
    if not download:
        searched.append("fetch_openml (download=False)")
        raise DatasetNotFoundError(name, searched)
    openml_name, version = spec["openml"]
    try:
        X, y = _fetch_and_cache(spec, data_home, cache_dir)
    except OSError as exc:  # URLError, HTTPError, timeouts: no usable network
        searched.append(f"fetch_openml({openml_name!r}, version={version}): {exc}")
        raise DatasetNotFoundError(name, searched) from exc
    return _as_bunch(X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:], spec,
                     source=f"OpenML {openml_name} v{version}, cached in {cache_dir}")


def load_mnist(data_dir=None, *, data_home=None, download=True):
    """Load MNIST: the standard 60,000 training and 10,000 test images.

    Parameters
    ----------
    data_dir : str or Path, optional
        Folder of IDX files, or a folder holding ``mnist/``. When given, the
        only place looked.
    data_home : str or Path, optional
        scikit-learn's data folder for the OpenML download and its cache.
    download : bool, default=True
        Allow ``fetch_openml`` when no local copy exists.

    Returns
    -------
    Bunch
        ``X_train``, ``y_train``, ``X_test``, ``y_test``, ``target_names``, ``source``.
    """
    return _load_mnist_like("mnist", data_dir, data_home, download)


def load_fashion_mnist(data_dir=None, *, data_home=None, download=True):
    """Load Fashion-MNIST (same form and search order as :func:`load_mnist`,
    plus Debian's ``/usr/share/datasets/fashion-mnist``)."""
    return _load_mnist_like("fashion-mnist", data_dir, data_home, download)


def load_digits_split(test_size=0.2, random_state=0):
    """scikit-learn's bundled 8x8 digits as a train/test Bunch (no download).

    Pixels are scaled to [0, 1] (float32); the split is stratified.
    """
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=test_size, stratify=digits.target,
        random_state=random_state,
    )
    return Bunch(
        X_train=X_train, y_train=y_train.astype(np.int64), X_test=X_test,
        y_test=y_test.astype(np.int64), target_names=[str(d) for d in range(10)],
        source="scikit-learn's bundled 8x8 digits (sklearn.datasets.load_digits)",
    )


def load_dataset(name, data_dir=None, *, data_home=None, download=True):
    """Load ``'mnist'``, ``'fashion-mnist'`` or ``'digits'`` by name."""
    if name == "digits":
        return load_digits_split()
    if name not in _SPECS:
        raise ValueError(
            f"dataset must be one of ['digits', 'fashion-mnist', 'mnist'], got {name!r}"
        )
    return _load_mnist_like(name, data_dir, data_home, download)
