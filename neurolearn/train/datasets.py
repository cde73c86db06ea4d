"""Datasets read from installed packages or local files (no network at run time)."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from neurolearn.errors import InputError


def digits(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 8x8 digits, pixel values scaled to [0, 1].

    Returns (x_train, y_train, x_test, y_test): x of shape (n, 64) float32, y int64 labels 0-9.
    The split is stratified and fixed by ``seed``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te


FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {  # split -> (images, labels) base names; ".gz" optional, "-idx" or ".idx" both found
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path) -> np.ndarray:
    """An IDX file (the MNIST format, gzipped or not) as a numpy array of its stored type and shape.

    Raises InputError, naming the file, if it is missing, not IDX (bad magic) or truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: unreadable gzip file ({exc})") from None
    magic = data[:4]
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in IDX_TYPES or magic[3] == 0:
        raise InputError(f"{path}: not an IDX file (magic bytes {magic.hex() or 'none'}; expected 0000 + type "
                         "code + number of dimensions, as in MNIST's train-images-idx3-ubyte)")
    ndim, dtype = magic[3], np.dtype(IDX_TYPES[magic[2]])
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", ndim, 4))
    size = int(np.prod(shape)) * dtype.itemsize
    if len(data) != header + size:
        raise InputError(f"{path}: IDX header says shape {shape} ({header + size} bytes) but the file has "
                         f"{len(data)} bytes")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(directory, base: str):
    for name in (base, base.replace("-idx", ".idx")):
        for suffix in (".gz", ""):
            if (directory / (name + suffix)).is_file():
                return directory / (name + suffix)
    raise InputError(f"{directory}: no {base}[.gz] (an MNIST-format directory holds train-images-idx3-ubyte, "
                     "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, gzipped or not)")


def mnist_format(directory=FASHION_MNIST_DIR, split: str = "train"):
    """Images and labels of one split ("train" or "test") of an MNIST-format directory.

    Returns (x, y): x of shape (n, rows * cols) float32 scaled to [0, 1] (from uint8), y int64.
    Default directory: Debian's Fashion-MNIST (``apt-get install dataset-fashion-mnist``).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such directory (give an MNIST-format directory; Fashion-MNIST: "
                         "apt-get install dataset-fashion-mnist)")
    img_path, lbl_path = (_find_idx(directory, base) for base in MNIST_FILES[split])
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise InputError(f"{img_path}: expected 3-d uint8 images, got {images.ndim}-d {images.dtype}")
    if labels.ndim != 1:
        raise InputError(f"{lbl_path}: expected 1-d labels, got shape {labels.shape}")
    if len(labels) != len(images):
        raise InputError(f"{lbl_path}: {len(labels)} labels but {img_path.name} has {len(images)} images")
    return (images.reshape(len(images), -1) / np.float32(255)).astype(np.float32), labels.astype(np.int64)


def fashion_mnist(directory=FASHION_MNIST_DIR):
    """Fashion-MNIST (or any MNIST-format directory): (x_train, y_train, x_test, y_test), x in [0, 1]."""
    x_tr, y_tr = mnist_format(directory, "train")
    x_te, y_te = mnist_format(directory, "test")
    return x_tr, y_tr, x_te, y_te
