"""The change of variables layer by layer adds up to the flow's own likelihood."""

from __future__ import annotations

import pytest
import torch

from latentlab.explore.flow_trace import trace_flow
from latentlab.modelfile import load_model
from latentlab.resources import bundled_models


@pytest.mark.parametrize("name", ["nice-digits", "realnvp-digits", "glow-synthfaces"])
def test_the_layers_log_dets_and_the_prior_add_up_to_the_likelihood(name):
    loaded = load_model(bundled_models()[name])
    model = loaded.model
    image = loaded.reference.images[0].float().numpy() / 255
    trace = trace_flow(model, image)
    x = torch.from_numpy(image)[None]
    with torch.no_grad():
        density = model.log_density(model.dequantize(x, noise=False)).item()
    assert trace.log_density == pytest.approx(density, rel=1e-5, abs=1e-3)
    assert all(len(t.shape) == 3 for t in trace.layers)
    for layer in trace.layers:
        assert layer.picture.ndim == 3 and 0 <= layer.picture.min() <= layer.picture.max() <= 1
        if layer.label in ("coupling (additive)", "squeeze 2x2", "centre: x - 1/2"):
            assert layer.logdet == 0.0  # volume-preserving layers
    # the model is left as it was: no hooks, inference still fused
    assert all(not m._forward_hooks for m in model.modules())


def test_nice_changes_volume_only_in_its_scaling_layer():
    trace = trace_flow(
        load_model(bundled_models()["nice-digits"]).model, torch.full((1, 8, 8), 0.5).numpy()
    )
    labels = [layer.label for layer in trace.layers]
    assert labels[0] == "centre: x - 1/2" and labels[-1] == "diagonal scaling"
    assert labels.count("coupling (additive)") == len(labels) - 2
    assert trace.layers[-1].logdet != 0


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        (
            "realnvp-digits",
            {"logit", "coupling (affine-tanh)", "squeeze 2x2", "split: half leaves"},
        ),
        (
            "glow-synthfaces",
            {
                "centre: x - 1/2",
                "squeeze 2x2",
                "actnorm",
                "1x1 convolution",
                "coupling (additive)",
                "split: half leaves (learned prior)",
                "learned prior (whiten)",
            },
        ),
    ],
)
def test_each_layer_is_shown_by_its_label(name, labels):
    model = load_model(bundled_models()[name]).model
    trace = trace_flow(model, torch.full(model.image_shape, 0.5).numpy())
    assert {layer.label for layer in trace.layers} == labels
