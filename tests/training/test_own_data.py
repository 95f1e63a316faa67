"""Training on the user's own images: a folder with one subfolder per class gives a model file
with their labels, and what loading it noticed is printed before training starts."""

from __future__ import annotations

import numpy as np
from PIL import Image
from trainer_families import train

from latentlab.data import ImageDataset, Split
from latentlab.modelfile import load_model
from training.common import describe_split


def class_folder(root, per_class=12):
    rng = np.random.default_rng(0)
    for name in ("ankle boot", "bag"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    (root / "bag" / "broken.png").write_bytes(b"not a png")
    return root


def test_a_folder_of_classes_trains_with_its_labels_and_says_what_it_read(tmp_path, capsys):
    folder = class_folder(tmp_path / "clothes")
    out = tmp_path / "mine.safetensors"
    args = ["--data", f"folder:{folder}", "--image-size", "8", "--channels", "1"]
    assert train("vae", out, *args, "--batch-size", "8") == 0
    lines = capsys.readouterr().err.splitlines()
    training_starts = next(i for i, line in enumerate(lines) if line.startswith("estimate: "))
    before = lines[:training_starts]
    assert (
        "  images       clothes: 24 (train 20, validation 2, test 2), 1x8x8, 256 levels" in before
    )
    assert "  labels       2: ankle boot (12), bag (12)" in before
    assert "  notice       resized 16x16 to 8x8 (all 24 images)" in before
    assert (
        "  notice       skipped bag/broken.png: not an image file that LatentLab can read" in before
    )
    assert any(line.startswith("test IWAE k=8: 100%") for line in lines)  # its progress bar
    loaded = load_model(out)
    assert loaded.meta["training"]["test_metric"]["name"] == "test NLL bound, IWAE k=8 (nats)"
    assert loaded.meta["dataset"]["label_names"] == ["ankle boot", "bag"]
    assert loaded.meta["dataset"]["size"] == 24
    assert set(loaded.reference.labels.tolist()) <= {0, 1} and len(loaded.reference.labels) == 2


def test_the_summary_counts_the_first_labels_and_says_how_many_more():
    data = ImageDataset(np.zeros((30, 1, 4, 4), np.uint8), 2, np.arange(30) % 25)
    data.label_names = [f"c{k}" for k in range(25)]
    lines = describe_split(Split("many", data, data.subset(slice(0, 5)), data.subset(slice(5, 6))))
    assert lines[0] == "  images       many: 36 (train 30, validation 5, test 1), 1x4x4, 2 levels"
    assert lines[1].startswith(
        "  labels       25: c0 (3), c1 (3), c2 (3), c3 (3), c4 (3), c5 (2), c6 (1)"
    )
    assert lines[1].endswith("c19 (1), and 5 more")
