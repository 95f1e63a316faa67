"""MNIST IDX files: the happy paths and every way a file can be wrong."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from latentlab.data import DataError, load_mnist, read_idx
from latentlab.data import mnist as mnist_module

CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    big = array.astype(array.dtype.newbyteorder(">"))
    header = struct.pack(">HBB", 0, CODES[big.dtype], array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + big.tobytes()


def write_idx(path, array, compress=False):
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_mnist(folder, n=5, prefix="train", compress=False, labels=True, side=28):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
    gz = ".gz" if compress else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{gz}", images, compress)
    digits = (np.arange(n) % 10).astype(np.uint8)
    if labels:
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{gz}", digits, compress)
    return images, digits


def assert_data_error(call, path, match):
    with pytest.raises(DataError, match=match) as info:
        call(path)
    assert str(info.value).startswith(path.name + ": ")
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_every_dtype(tmp_path, dtype):
    signed = dtype is not np.uint8
    array = (np.arange(24).reshape(2, 3, 4) - 5 * signed).astype(dtype)
    got = read_idx(write_idx(tmp_path / "a.idx", array))
    np.testing.assert_array_equal(got, array)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and got.flags.writeable


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_folder(tmp_path, compress):
    images, digits = write_mnist(tmp_path / "mnist", compress=compress)
    data = load_mnist(tmp_path / "mnist")
    assert data.images.shape == (5, 1, 28, 28) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images[:, 0], images)
    np.testing.assert_array_equal(data.labels, digits)
    assert data.levels == 256 and data.label_names == [str(d) for d in range(5)]
    assert data.as_float().max() <= 1.0


def test_load_mnist_test_split_and_dotted_names(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder, n=3, prefix="train")
    folder.joinpath("t10k-images.idx3-ubyte").write_bytes(
        idx_bytes(np.zeros((2, 28, 28), np.uint8))
    )
    data = load_mnist(folder, split="test")
    assert len(data) == 2 and data.labels is None


def test_load_mnist_images_file_without_labels(tmp_path):
    write_mnist(tmp_path / "m", labels=False, side=8)
    data = load_mnist(tmp_path / "m" / "train-images-idx3-ubyte")
    assert data.images.shape == (5, 1, 8, 8) and data.labels is None


def test_load_mnist_mixed_compression(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(4, dtype=np.uint8), True)
    assert load_mnist(folder / "train-images-idx3-ubyte").labels.tolist() == [0, 1, 2, 3]


# ---------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    assert_data_error(read_idx, tmp_path / "gone-idx3-ubyte", "no such file")


def test_folder_is_not_a_file(tmp_path):
    (tmp_path / "dir").mkdir()
    assert_data_error(read_idx, tmp_path / "dir", "not a file")


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "too short"),
        (b"\x00\x00", "too short"),
        (b"PK\x03\x04" + bytes(20), "magic number"),
        (b"\x00\x00\x07\x01" + bytes(8), "data type code 0x07"),
        (b"\x00\x00\x08\x00" + bytes(8), "0 dimensions"),
        (b"\x00\x00\x08\x09" + bytes(64), "9 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated \\(in its header\\)"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated: .*\\[5\\].*holds 3"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x02abc", "1 bytes beyond"),
        (b"\x00\x00\x08\x02\xff\xff\xff\xff\xff\xff\xff\xff", "more than the 512 MiB limit"),
    ],
)
def test_bad_idx(tmp_path, data, match):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(data)
    assert_data_error(read_idx, path, match)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(30))
    assert_data_error(read_idx, path, "gzip data is corrupt")


def test_truncated_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    assert_data_error(read_idx, path, "corrupt or truncated")


def test_gzip_bomb_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_module, "MAX_IDX_BYTES", 1000)
    path = write_idx(tmp_path / "big.gz", np.zeros((10, 28, 28), np.uint8), compress=True)
    assert path.stat().st_size < 1000
    assert_data_error(read_idx, path, "decompressed data is larger than")


def test_file_size_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_module, "MAX_IDX_BYTES", 1000)
    path = write_idx(tmp_path / "big-idx3-ubyte", np.zeros((10, 28, 28), np.uint8))
    assert_data_error(read_idx, path, "the file is larger than")


def test_images_must_be_bytes_in_three_dimensions(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.float32))
    assert_data_error(load_mnist, path, "not an MNIST images file")
    path = write_idx(tmp_path / "x-images-idx3-ubyte", np.zeros((2, 28), np.uint8))
    assert_data_error(load_mnist, path, "not an MNIST images file")


def test_no_images(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((0, 28, 28), np.uint8))
    assert_data_error(load_mnist, path, "holds no images")


def test_huge_image_side(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((1, 2000, 1), np.uint8))
    assert_data_error(load_mnist, path, "2000x1 pixels are not supported")


def test_label_count_mismatch(tmp_path):
    write_mnist(tmp_path / "m", n=5)
    write_idx(tmp_path / "m" / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match=r"^train-labels-idx1-ubyte: holds 4 labels for 5"):
        load_mnist(tmp_path / "m")


def test_labels_wrong_shape(tmp_path):
    write_mnist(tmp_path / "m", n=4)
    write_idx(tmp_path / "m" / "train-labels-idx1-ubyte", np.zeros((4, 1), np.uint8))
    with pytest.raises(DataError, match=r"^train-labels-idx1-ubyte: not an MNIST labels file"):
        load_mnist(tmp_path / "m")


def test_broken_labels_file(tmp_path):
    write_mnist(tmp_path / "m", n=4)
    (tmp_path / "m" / "train-labels-idx1-ubyte").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"^train-labels-idx1-ubyte: not an IDX file"):
        load_mnist(tmp_path / "m")


def test_folder_without_mnist(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_data_error(load_mnist, tmp_path / "empty", "no MNIST train images here")


def test_missing_path(tmp_path):
    assert_data_error(load_mnist, tmp_path / "nowhere", "no such file")


def test_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, split="validation")
