"""The flow trainer on its smoke preset: each architecture, and attribute directions."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.data import synthfaces_split
from latentlab.modelfile import load_model
from training import flow as train_flow


@pytest.mark.parametrize("arch", ["nice", "realnvp", "glow"])
def test_smoke_run_on_digits_writes_a_model(tmp_path, arch):
    out = tmp_path / f"{arch}.safetensors"
    assert train_flow.main(["--arch", arch, "--preset", "smoke", "--out", str(out)]) == 0
    loaded = load_model(out)
    assert loaded.model.family == arch
    metric = loaded.meta["training"]["test_metric"]
    assert metric["name"] == "test bits/dim" and 0 < metric["value"] < 20
    assert loaded.reference.latents.shape == (64, 64)
    assert loaded.attributes == {}


@pytest.mark.parametrize("method", ["mean-difference", "classifier"])
def test_faces_get_one_direction_per_attribute(tmp_path, method):
    out = tmp_path / "glow-faces.safetensors"
    assert (
        train_flow.main(
            [
                "--arch",
                "glow",
                "--data",
                "synthfaces",
                "--image-size",
                "16",
                "--preset",
                "smoke",
                "--attribute-samples",
                "256",
                "--direction-method",
                method,
                "--out",
                str(out),
            ]
        )
        == 0
    )
    loaded = load_model(out)
    names = loaded.meta["dataset"]["attribute_names"]
    assert "smiling" in names and sorted(loaded.attributes) == sorted(names)
    assert loaded.model.image_shape == (3, 16, 16)
    for direction in loaded.attributes.values():
        assert direction.shape == (3 * 16 * 16,) and np.linalg.norm(direction.numpy()) > 0
    # the map can colour its reference faces by each attribute: the test faces' own values
    reference = loaded.reference
    assert sorted(reference.attributes) == sorted(names)
    test = synthfaces_split(size=16).test
    n = len(reference.latents)
    for name, values in reference.attributes.items():
        np.testing.assert_array_equal(values.numpy(), test.attributes[name][:n])
