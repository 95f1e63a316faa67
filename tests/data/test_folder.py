"""Folders of the user's own images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from latentlab.data import DataError, FolderImages, ImageDataset, load_image_folder


def grey(path, value, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(path)
    return path


def test_reads_sorted_images_as_level_indices(tmp_path):
    grey(tmp_path / "b.png", 255)
    grey(tmp_path / "a.png", 0)
    grey(tmp_path / "c.jpg", 128, size=(16, 8))
    data = load_image_folder(tmp_path, (1, 8, 8), 17)
    assert isinstance(data, FolderImages) and isinstance(data, ImageDataset)
    assert [p.name for p in data.paths] == ["a.png", "b.png", "c.jpg"]
    assert data.images.shape == (3, 1, 8, 8) and data.images.dtype == np.uint8
    assert data.levels == 17 and data.labels is None
    assert data.images[0].max() == 0 and data.images[1].min() == 16
    assert data.images[2, 0, 4, 4] == round(128 / 255 * 16)
    np.testing.assert_allclose(data.as_float()[1], 1.0)
    assert "quantised to 17 levels (3 of 3 images)" in data.notices
    assert "cropped 16x8 to 8x8 at the centre (1 of 3 images)" in data.notices


def test_skips_unreadable_files_and_says_so(tmp_path):
    grey(tmp_path / "good.png", 10)
    (tmp_path / "broken.png").write_bytes(b"not really a png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("ignore me")
    (tmp_path / ".hidden.png").write_bytes(b"junk")
    data = load_image_folder(tmp_path, (1, 8, 8), 256)
    assert [p.name for p in data.paths] == ["good.png"]
    assert "skipped broken.png: not an image file that LatentLab can read" in data.notices
    assert "skipped empty.jpg: the file is empty" in data.notices
    assert any(n.startswith("ignored 1 file(s)") for n in data.notices)
    assert not any("hidden" in n for n in data.notices)


def test_recursive(tmp_path):
    grey(tmp_path / "z.png", 0)
    grey(tmp_path / "sub" / "a.png", 0)
    grey(tmp_path / "sub" / "deeper" / "b.png", 0)
    grey(tmp_path / ".git" / "c.png", 0)
    assert len(load_image_folder(tmp_path, (1, 8, 8), 17)) == 1
    data = load_image_folder(tmp_path, (1, 8, 8), 17, recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in data.paths] == [
        "sub/a.png",
        "sub/deeper/b.png",
        "z.png",
    ]


def test_limit(tmp_path):
    for i in range(5):
        grey(tmp_path / f"{i}.png", i)
    data = load_image_folder(tmp_path, (3, 8, 8), 256, limit=3)
    assert len(data) == 3 and data.images.shape == (3, 3, 8, 8)
    assert "stopped at the limit of 3 images; 2 more were not read" in data.notices
    with pytest.raises(ValueError, match="limit"):
        load_image_folder(tmp_path, (3, 8, 8), 256, limit=0)


def test_none_readable(tmp_path):
    (tmp_path / "a.png").write_text("text")
    (tmp_path / "b.gif").write_bytes(b"GIF89a")
    with pytest.raises(DataError, match=r"none of its 2 image files could be read \(first: a\.png"):
        load_image_folder(tmp_path, (1, 8, 8), 17)


def test_no_image_files(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match=r"no image files here"):
        load_image_folder(tmp_path, (1, 8, 8), 17)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"^gone: no such folder$"):
        load_image_folder(tmp_path / "gone", (1, 8, 8), 17)


def test_a_file_is_not_a_folder(tmp_path):
    path = grey(tmp_path / "one.png", 0)
    with pytest.raises(DataError, match=r"^one\.png: not a folder$"):
        load_image_folder(path, (1, 8, 8), 17)
