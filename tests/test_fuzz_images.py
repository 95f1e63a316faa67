"""Hostile and unusual image files, through ``load_image`` and through ``latentlab encode``:
each gives a converted image with notices or one line of error, never a traceback, a hang or a
blow-up of memory (the heaviest run in a child process under an address-space cap)."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from helpers import write_tiny_vae
from PIL import Image

from latentlab.cli import main
from latentlab.data import DataError, load_image

RNG_SEED = 7
SHAPES = [((1, 8, 8), 17), ((3, 16, 16), 256)]
OK = "ok"
ANY = "any"  # random bytes: either outcome keeps the contract
MIB = 2**20


def chunk(kind: bytes, data: bytes, length: int | None = None) -> bytes:
    """A PNG chunk; ``length`` overrides the declared length (a corrupt chunk)."""
    declared = len(data) if length is None else length
    return struct.pack(">I", declared) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, colour_type=0, bit_depth=8, extra=b"", idat_length=None):
    """A uniform PNG written row by row, so that a huge image costs little to make."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\0" + b"\x40" * (width * channels * bit_depth // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", idat, idat_length)
        + chunk(b"IEND", b"")
    )


def png_header_only(width, height):
    """A PNG that declares ``width`` x ``height`` but holds almost no data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)


def encoded(img, fmt, **options):
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def make_cases():
    """name -> (file bytes, OK, ANY or a regex the one-line error must match)."""
    rng = np.random.default_rng(RNG_SEED)
    photo = encoded(Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)), "JPEG")
    good_png = encoded(Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)), "PNG")
    palette = Image.new("P", (20, 20), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (0, 0, 20, 10))
    frames = [Image.new("L", (8, 8), v) for v in (0, 255)]
    exif = Image.Exif()
    exif[0x0112] = 99  # not an orientation
    text_bomb = chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * 5_000_000))
    cases = {
        "photo.jpg": (photo, OK),
        "cut-in-half.png": (good_png[: len(good_png) // 2], "cannot read the image"),
        "cut-after-header.png": (good_png[:40], "not an image|damaged or truncated"),
        "cut.jpg": (photo[:300], "damaged or truncated|cannot read"),
        "empty.png": (b"", "the file is empty"),
        "bomb-100mp.png": (png_header_only(10_000, 10_000), "50-megapixel limit"),
        "bomb-900mp.png": (png_header_only(30_000, 30_000), "50-megapixel limit"),
        "text-bomb.png": (png(8, 8, extra=text_bomb), "damaged or truncated"),
        "grey16.png": (encoded(Image.fromarray(np.full((9, 9), 50_000, np.uint16)), "PNG"), OK),
        "grey16-7000x7000.png": (png(7000, 7000, bit_depth=16), OK),
        "rgba-6000x6000.png": (png(6000, 6000, colour_type=6), "more than the 256 MiB limit"),
        "cmyk.jpg": (encoded(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG"), OK),
        "palette-transparent.png": (encoded(palette, "PNG", transparency=0), OK),
        "animated.gif": (encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]), OK),
        "1x1.png": (encoded(Image.new("L", (1, 1), 7), "PNG"), OK),
        "1x5000.png": (encoded(Image.new("L", (1, 5000), 7), "PNG"), OK),
        "5000x1.bmp": (encoded(Image.new("RGB", (5000, 1), (1, 2, 3)), "BMP"), OK),
        "float.tif": (encoded(Image.fromarray(np.full((5, 7), 0.5, np.float32)), "TIFF"), OK),
        "bad-orientation.jpg": (encoded(Image.new("RGB", (8, 8)), "JPEG", exif=exif), OK),
        "large-52mp.jpg": (encoded(Image.new("RGB", (8000, 6500), (9, 9, 9)), "JPEG"), OK),
        # corrupted chunk lengths: a read of that length must never be attempted
        "idat-length.png": (png(20, 20, idat_length=0xFFFFFF00), OK),
        "ihdr-length.png": (
            good_png[:8] + struct.pack(">I", 0xFFFFFFF0) + good_png[12:],
            "damaged or truncated",
        ),
        "text-length.png": (png(20, 20, extra=chunk(b"tEXt", b"a\0b", 0xFFFFFF00)), ANY),
        "postscript.png": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n", "not an image"),
    }
    headers = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\0"]
    for i, magic in enumerate(headers):
        noise = rng.integers(0, 256, int(rng.integers(10, 3000)), dtype=np.uint8).tobytes()
        cases[f"random-{i}.png"] = (magic + noise, ANY)
    return cases


CASES = make_cases()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for name, (data, _) in CASES.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return write_tiny_vae(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.mark.parametrize("name", sorted(CASES))
def test_load_image_gives_an_image_or_one_line(files, name):
    expected = CASES[name][1]
    path = files / name
    for shape, levels in SHAPES:
        try:
            image, notices = load_image(path, shape, levels)
        except DataError as exc:
            message = str(exc)
            assert message.startswith(f"{name}: ") and "\n" not in message, message
            assert len(message) < 300, message
            assert expected != OK, message
            if expected != ANY:
                assert re.search(expected, message), message
            continue
        assert expected in (OK, ANY), f"{name} was read, expected {expected!r}"
        assert image.shape == shape and image.dtype == np.float32
        assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
        assert all(isinstance(n, str) and "\n" not in n for n in notices)


def test_what_was_done_to_the_unusual_images_is_noticed(files):
    def notices(name, shape=(1, 8, 8)):
        return load_image(files / name, shape, 256)[1]

    assert notices("grey16-7000x7000.png") == [
        "reduced I;16 to 8 bits per pixel",
        "resized 7000x7000 to 8x8",
    ]
    assert "converted CMYK to RGB" in notices("cmyk.jpg", (3, 8, 8))
    assert "composited transparency onto white" in notices("palette-transparent.png")
    assert "used the first frame of an animated image" in notices("animated.gif")
    assert "cropped 1x5000 to 1x1 at the centre" in notices("1x5000.png")
    assert "resized 6500x6500 to 8x8" in notices("large-52mp.jpg")  # decoded at 1/8 scale


# Inputs that once took gigabytes, each run in a child process whose address space is capped,
# with the most its resident memory may reach: the interpreter, numpy and Pillow take about
# 40 MiB, the 16-bit image 94 MiB decoded (and nothing of its size more); the others are
# refused or reduced before they are decoded.
HEAVY = {
    "grey16-7000x7000.png": 200,
    "rgba-6000x6000.png": 100,
    "large-52mp.jpg": 100,
    "idat-length.png": 100,
    "text-length.png": 100,
    "bomb-900mp.png": 100,
}
ADDRESS_SPACE_CAP = 1024 * MIB
CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]),) * 2)
from latentlab.data import DataError, load_image
try:
    load_image(sys.argv[1], (1, 8, 8), 17)
    outcome = "ok"
except DataError as exc:
    outcome = str(exc)
# VmHWM, unlike ru_maxrss, does not count the parent's memory from before exec
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"outcome": outcome, "peak_kib": int(status["VmHWM"].split()[0])}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="needs RLIMIT_AS and /proc")
@pytest.mark.parametrize("name", sorted(HEAVY))
def test_heavy_images_decode_within_a_memory_cap(files, name):
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(files / name), str(ADDRESS_SPACE_CAP)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    expected = CASES[name][1]
    if expected == OK:
        assert report["outcome"] == "ok"
    elif expected != ANY:
        assert re.search(expected, report["outcome"]), report
    assert "MemoryError" not in report["outcome"]
    assert report["peak_kib"] * 1024 < HEAVY[name] * MIB, report


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_encode_writes_latents_or_one_error_line(files, model_path, name, tmp_path, capsys):
    out = tmp_path / "z.npy"
    code = main(["encode", str(model_path), str(files / name), "-o", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    if code == 0:
        assert CASES[name][1] in (OK, ANY)
        assert all(line.startswith(f"latentlab: {name}: ") for line in lines), err
        assert np.isfinite(np.load(out)).all()
    else:
        assert code == 1 and CASES[name][1] != OK
        assert len(lines) == 1 and lines[0].startswith(f"latentlab: error: {name}: "), err
        assert not out.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="needs RLIMIT_AS")
def test_cli_encodes_a_small_16_bit_file_of_7000x7000_under_a_memory_cap(files, model_path):
    """The file is 95 KB; decoding it whole in floating point once took 1.5 GB at peak. Torch
    with one thread reserves about 700 MiB of address space; the image now adds ~100 MiB."""
    out = files.parent / "deep.npy"
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({5 * 2**28},) * 2)\n"
        "from latentlab.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = ["encode", str(model_path), str(files / "grey16-7000x7000.png"), "-o", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert np.load(out).shape == (1, 2)
