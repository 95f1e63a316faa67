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
    assert "quantised to 17 levels (all 3 images)" in data.notices
    assert "cropped 16x8 to 8x8 at the centre (1 of 3 images: c.jpg)" in data.notices


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


def test_one_subfolder_per_class_labels_the_images(tmp_path):
    for name, count in (("dogs", 3), ("cats", 2)):
        for i in range(count):
            grey(tmp_path / name / f"{i}.png", 10 * i)
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "birds").mkdir()
    (tmp_path / "birds" / "notes.txt").write_text("no images yet")
    grey(tmp_path / ".thumbnails" / "x.png", 0)
    data = load_image_folder(tmp_path, (1, 8, 8), 256)
    assert data.label_names == ["cats", "dogs"]  # sorted; empty and hidden folders are no class
    # one file of each class in turn
    assert [p.relative_to(tmp_path).as_posix() for p in data.paths] == [
        "cats/0.png",
        "dogs/0.png",
        "cats/1.png",
        "dogs/1.png",
        "dogs/2.png",
    ]
    assert data.labels.tolist() == [0, 1, 0, 1, 1]
    assert "skipped dogs/broken.png: not an image file that LatentLab can read" in data.notices
    assert "ignored 1 subfolder(s) without image files (birds)" in data.notices
    assert "ignored 1 file(s) whose names do not end in an image suffix" in data.notices
    subset = data.subset(slice(0, 2))
    assert subset.label_names == ["cats", "dogs"] and subset.labels.tolist() == [0, 1]


def test_the_limit_keeps_every_class(tmp_path):
    for name in ("a", "b", "c"):
        for i in range(4):
            grey(tmp_path / name / f"{i}.png", i)
    data = load_image_folder(tmp_path, (1, 8, 8), 256, limit=6)
    assert sorted(data.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    assert "stopped at the limit of 6 images; 6 more were not read" in data.notices


def test_images_at_the_top_level_are_read_without_labels_and_subfolders_left_out(tmp_path):
    grey(tmp_path / "a.png", 0)
    grey(tmp_path / "cats" / "b.png", 0)
    (tmp_path / "no-images").mkdir()
    data = load_image_folder(tmp_path, (1, 8, 8), 256)
    assert [p.name for p in data.paths] == ["a.png"]
    assert data.labels is None and data.label_names == []
    assert any(n.startswith("ignored 1 subfolder(s) with images (cats): ") for n in data.notices)
    recursive = load_image_folder(tmp_path, (1, 8, 8), 256, recursive=True)
    assert len(recursive) == 2 and recursive.labels is None
    assert not any("subfolder" in n for n in recursive.notices)
