"""What only the flow trainer does: attribute directions from labelled faces."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.data import synthfaces_split
from latentlab.modelfile import load_model
from training import flow as train_flow


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
                "--threads",
                "1",
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
