"""No trainer goes silent after training: each evaluation over batches of images (the test
metric, the flows' attribute directions, the DCGAN's nearest-neighbour check) shows a progress
bar on stderr, and validation, which runs under the training loop's bar, shows none."""

from __future__ import annotations

import re

import pytest
from trainer_families import train

FINISHED = re.compile(r"(.+?): 100%\|[^|]*\| (\d+/\d+) ")


def finished_bars(err: str) -> dict[str, str]:
    """Each progress bar that reached 100% (its description) -> its count, "done/total"."""
    return {m[1]: m[2] for line in err.splitlines() if (m := FINISHED.match(line))}


@pytest.mark.parametrize(
    ("family", "extra", "bars"),
    [
        (
            "realnvp",
            (),  # digits: labels without attributes, one direction per class
            {
                "test bits/dim": "64/64",
                "attribute latents": "256/256",
                "attribute directions": "10/10",
                "reference set": "64/64",
            },
        ),
        ("pixelrnn", (), {"test bits/dim": "64/64"}),
        (
            "gmm",
            (),
            {"validation bits/dim": "64/64", "test bits/dim": "64/64", "reference set": "64/64"},
        ),
        ("dcgan", (), {"nearest training images": "128/128"}),  # 64 samples, 64 test images
        (
            "nice",
            ("--data", "synthfaces"),  # attribute labels: directions too
            {
                "test bits/dim": "64/64",
                "attribute latents": "256/256",
                "attribute directions": "9/9",
                "reference set": "64/64",
            },
        ),
    ],
)
def test_evaluation_shows_its_progress(family, extra, bars, tmp_path, capsys):
    assert train(family, tmp_path / "model.safetensors", *extra) == 0
    err = capsys.readouterr().err
    shown = finished_bars(err)
    assert {desc: n for desc, n in shown.items() if not desc.startswith("epoch ")} == bars
    # and how the likelihood models' test bits/dim spread over the images
    number = r"[\d.]+"
    spread = (
        rf"^test bits/dim per image: median {number}, 99th percentile {number}, "
        rf"worst {number} \(test image \d+\)$"
    )
    assert len(re.findall(spread, err, re.M)) == ("test bits/dim" in bars), err
