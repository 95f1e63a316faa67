"""Reading untrusted image files into a model's shape; writing PNGs and GIFs."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from helpers import error_reading_in_a_child
from PIL import Image

from latentlab.data import DataError, load_image, load_image_levels, save_gif, save_png
from latentlab.data import images as images_module

RNG = np.random.default_rng(0)


def grey(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8), "L").save(path)
    return path


def assert_data_error(path, match, shape=(1, 8, 8), levels=17):
    with pytest.raises(DataError, match=match) as info:
        load_image(path, shape, levels)
    message = str(info.value)
    assert message.startswith(path.name + ": ")
    assert "\n" not in message
    return message


def png_header_only(path, width, height):
    """A PNG that declares ``width`` x ``height`` but holds almost no data."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )
    return path


# ---------------------------------------------------------------------------- happy paths


def test_exact_size_greyscale_is_quantised_to_the_levels(tmp_path):
    pixels = RNG.integers(0, 256, (8, 8))
    path = grey(tmp_path / "digit.png", pixels)
    image, notices = load_image(path, (1, 8, 8), 17)
    assert image.dtype == np.float32 and image.shape == (1, 8, 8)
    np.testing.assert_allclose(image[0], np.round(pixels / 255 * 16) / 16, atol=1e-7)
    assert notices == ["quantised to 17 levels"]


def test_256_levels_keeps_every_value_and_notices_nothing(tmp_path):
    pixels = np.arange(64).reshape(8, 8) * 4
    image, notices = load_image(grey(tmp_path / "a.png", pixels), (1, 8, 8), 256)
    np.testing.assert_allclose(image[0], pixels / 255, atol=1e-7)
    assert notices == []


def test_levels_are_indices(tmp_path):
    path = grey(tmp_path / "a.png", np.full((8, 8), 255))
    indices, _ = load_image_levels(path, (1, 8, 8), 17)
    assert indices.dtype == np.uint8 and indices.max() == 16


def test_colour_photo_is_cropped_resized_and_made_grey(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(RNG.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(path)
    image, notices = load_image(path, (1, 8, 8), 17)
    assert image.shape == (1, 8, 8)
    assert notices == [
        "converted RGB to greyscale",
        "cropped 640x480 to 480x480 at the centre",
        "resized 480x480 to 8x8",
        "quantised to 17 levels",
    ]
    assert image.min() >= 0 and image.max() <= 1


def test_centre_crop_keeps_the_middle(tmp_path):
    pixels = np.zeros((10, 30), dtype=np.uint8)
    pixels[:, 10:20] = 255  # white middle square, black sides
    image, notices = load_image(grey(tmp_path / "wide.png", pixels), (1, 10, 10), 256)
    assert (image == 1).all()
    assert notices == ["cropped 30x10 to 10x10 at the centre"]


def test_transparency_is_composited_onto_white(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)  # black everywhere ...
    rgba[:4, :, 3] = 255  # ... opaque in the top half, transparent below
    path = tmp_path / "cut.png"
    Image.fromarray(rgba, "RGBA").save(path)
    image, notices = load_image(path, (1, 8, 8), 256)
    assert (image[0, :4] == 0).all() and (image[0, 4:] == 1).all()
    assert notices == ["composited transparency onto white", "converted RGBA to greyscale"]


def test_palette_with_transparent_index(tmp_path):
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 8, 4))
    path = tmp_path / "pal.png"
    img.save(path, transparency=0)
    image, notices = load_image(path, (3, 8, 8), 256)
    np.testing.assert_array_equal(image[:, 0, 0], [1, 0, 0])  # red, opaque
    np.testing.assert_array_equal(image[:, 7, 7], [1, 1, 1])  # transparent -> white
    assert "composited transparency onto white" in notices


def test_greyscale_to_rgb(tmp_path):
    path = grey(tmp_path / "g.png", RNG.integers(0, 256, (32, 32)))
    image, notices = load_image(path, (3, 32, 32), 256)
    assert image.shape == (3, 32, 32)
    assert (image[0] == image[1]).all() and (image[1] == image[2]).all()
    assert notices == ["converted L to RGB"]


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 257 * 100, dtype=np.uint16)).save(path)
    image, notices = load_image(path, (1, 8, 8), 256)
    np.testing.assert_allclose(image, 100 / 255, atol=1e-7)
    assert notices == ["reduced I;16 to 8 bits per pixel"]


def test_animated_gif_uses_its_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("L", (8, 8), v) for v in (0, 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    image, notices = load_image(path, (1, 8, 8), 256)
    assert (image == 0).all()
    assert "used the first frame of an animated image" in notices


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((16, 32, 3), dtype=np.uint8)  # 32 wide, 16 high
    pixels[:, 16:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: 16 wide, 32 high, white below
    path = tmp_path / "phone.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    image, notices = load_image(path, (1, 8, 8), 256)
    assert notices[0] == "rotated as its EXIF orientation says"
    assert "cropped 16x32 to 16x16 at the centre" in notices
    assert image[0, :, :].mean() == pytest.approx(0.5, abs=0.1)
    assert image[0, 0].mean() < 0.2 and image[0, 7].mean() > 0.8  # black above, white below


def test_large_jpeg_is_reduced_while_decoding(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (2000, 1500), (200, 100, 50)).save(path)
    image, notices = load_image(path, (3, 8, 8), 256)
    assert image.shape == (3, 8, 8)
    np.testing.assert_allclose(image[:, 4, 4], np.array([200, 100, 50]) / 255, atol=0.03)
    assert "resized 1500x1500 to 8x8" in notices


# ---------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    assert_data_error(tmp_path / "gone.png", "no such file")


def test_directory(tmp_path):
    (tmp_path / "dir.png").mkdir()
    assert_data_error(tmp_path / "dir.png", "folder")


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert_data_error(tmp_path / "empty.png", "empty")


def test_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("hello, world\n" * 10)
    assert_data_error(tmp_path / "notes.png", "not an image")


def test_truncated_image(tmp_path):
    full = grey(tmp_path / "full.png", RNG.integers(0, 256, (64, 64))).read_bytes()
    (tmp_path / "cut.png").write_bytes(full[: len(full) // 2])
    assert_data_error(tmp_path / "cut.png", "cannot read the image")


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "full.jpg"
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    (tmp_path / "cut.jpg").write_bytes(path.read_bytes()[:300])
    assert_data_error(tmp_path / "cut.jpg", "damaged or truncated")


def test_decompression_bomb_over_our_limit(tmp_path):
    path = png_header_only(tmp_path / "bomb.png", 10_000, 10_000)  # 100 MP, Pillow only warns
    assert_data_error(path, "10000x10000, larger than the 50-megapixel limit")


def test_decompression_bomb_over_pillows_limit(tmp_path):
    path = png_header_only(tmp_path / "bomb.png", 30_000, 30_000)  # 900 MP: Pillow refuses
    assert_data_error(path, "50-megapixel limit")


def test_pixel_limit_applies_to_real_images(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "MAX_PIXELS", 100)
    path = grey(tmp_path / "a.png", np.zeros((11, 10)))
    assert_data_error(path, "the image is 10x11, larger than")


def test_the_decoding_budget_counts_bytes_not_only_pixels(tmp_path, monkeypatch):
    """1 byte a pixel for greyscale, 2 for 16 bits, 4 + 4 for RGBA (premultiplied to resize)."""
    monkeypatch.setattr(images_module, "MAX_DECODE_BYTES", 10_000)
    load_image(grey(tmp_path / "grey.png", np.zeros((100, 100))), (1, 8, 8), 256)
    deep = tmp_path / "deep.png"
    Image.fromarray(np.zeros((100, 100), np.uint16)).save(deep)
    assert_data_error(deep, "100x100 in mode I;16, which needs 0 MiB to decode, more than")
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (40, 40)).save(rgba)  # 1,600 pixels
    assert_data_error(rgba, "mode RGBA")
    load_image(grey(tmp_path / "small.png", np.zeros((35, 35))), (1, 8, 8), 256)


def test_a_jpeg_beyond_the_pixel_limit_is_decoded_reduced(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "MAX_PIXELS", 100_000)
    Image.new("RGB", (1000, 800), (200, 100, 50)).save(tmp_path / "big.jpg")
    image, notices = load_image(tmp_path / "big.jpg", (3, 8, 8), 256)  # decoded at 1/4 scale
    np.testing.assert_allclose(image[:, 4, 4], np.array([200, 100, 50]) / 255, atol=0.03)
    assert notices == ["cropped 1000x800 to 800x800 at the centre", "resized 800x800 to 8x8"]
    Image.new("RGB", (1000, 800)).save(tmp_path / "big.png")  # PNG cannot be reduced
    assert_data_error(tmp_path / "big.png", "1000x800, larger than the 0-megapixel limit")


def test_the_file_size_is_capped(tmp_path, monkeypatch):
    path = grey(tmp_path / "a.png", RNG.integers(0, 256, (32, 32)))
    monkeypatch.setattr(images_module, "MAX_FILE_BYTES", path.stat().st_size - 1)
    assert_data_error(path, "the file is larger than")


def test_formats_beyond_the_usual_ones_are_not_read(tmp_path):
    """Pillow could read these, EPS through Ghostscript; LatentLab reads photo formats only."""
    path = tmp_path / "icon.png"
    Image.new("RGB", (16, 16)).save(path, format="ICO")
    assert_data_error(path, "not an image file that LatentLab can read")
    (tmp_path / "page.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n")
    assert_data_error(tmp_path / "page.png", "not an image file that LatentLab can read")


def test_a_nul_in_the_path(tmp_path):
    assert_data_error(tmp_path / "a\0b.png", "NUL")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_not_read(tmp_path):
    """Reading a pipe would wait for a writer for ever; the child is killed after 20 s."""
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    said = error_reading_in_a_child(
        "latentlab.data", "load_image", "DataError", "sys.argv[1], (1, 8, 8), 17", pipe
    )
    assert said == "pipe.png: not a regular file"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file"
)
def test_unreadable_file(tmp_path):
    path = grey(tmp_path / "locked.png", np.zeros((8, 8)))
    path.chmod(0)
    try:
        assert_data_error(path, "cannot read the file")
    finally:
        path.chmod(0o644)


def test_unsupported_channel_count(tmp_path):
    path = grey(tmp_path / "a.png", np.zeros((8, 8)))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        load_image(path, (2, 8, 8), 17)


# ---------------------------------------------------------------------------- writing


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB"), (4, "RGBA")])
def test_save_png_round_trip(tmp_path, channels, mode):
    array = RNG.integers(0, 256, (5, 7, channels), dtype=np.uint8)
    path = tmp_path / "out" / "x.png"  # missing folders are made
    save_png(path, array)
    with Image.open(path) as img:
        assert img.mode == mode and img.size == (7, 5)
        np.testing.assert_array_equal(np.asarray(img).reshape(5, 7, channels), array)
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]  # no temporary file left


def test_save_png_replaces_atomically(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"old")
    save_png(path, np.zeros((2, 2, 1), dtype=np.uint8))
    with Image.open(path) as img:
        assert img.size == (2, 2)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 4)),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4, 3), np.float32),
        np.zeros((0, 4, 3), np.uint8),
    ],
)
def test_save_png_rejects_bad_arrays(tmp_path, array):
    with pytest.raises(DataError, match=r"^x\.png: not saved"):
        save_png(tmp_path / "x.png", array)
    assert not (tmp_path / "x.png").exists()


def test_save_png_into_a_file_fails_cleanly(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match=r"^x\.png: cannot write the file"):
        save_png(tmp_path / "file" / "x.png", np.zeros((2, 2, 3), np.uint8))


def test_save_gif(tmp_path):
    frames = [np.full((6, 4, 1), v, dtype=np.uint8) for v in (0, 100, 200)]
    path = tmp_path / "walk.gif"
    save_gif(path, frames, duration_ms=120)
    with Image.open(path) as img:
        assert img.n_frames == 3 and img.size == (4, 6)
        assert img.info["loop"] == 0 and img.info["duration"] == 120
        img.seek(2)
        assert np.asarray(img.convert("L"))[0, 0] == 200


def test_save_gif_once_and_in_colour(tmp_path):
    frames = [RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8) for _ in range(2)]
    save_gif(tmp_path / "a.gif", frames, duration_ms=50, loop=False)
    with Image.open(tmp_path / "a.gif") as img:
        assert img.n_frames == 2 and "loop" not in img.info


@pytest.mark.parametrize(
    "frames, duration, match",
    [
        ([], 100, "at least one frame"),
        ([np.zeros((2, 2, 1), np.uint8), np.zeros((3, 2, 1), np.uint8)], 100, "differ in size"),
        ([np.zeros((2, 2, 1), np.uint8)], 0, "duration"),
    ],
)
def test_save_gif_rejects(tmp_path, frames, duration, match):
    with pytest.raises(DataError, match=f"^a.gif: not saved: .*{match}"):
        save_gif(tmp_path / "a.gif", frames, duration)
