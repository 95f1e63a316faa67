"""The change of variables layer by layer adds up to the flow's own likelihood."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.explore.flow_trace import trace_flow
from latentlab.modelfile import load_model
from latentlab.models.flow_layers import InvConv1x1
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


def _coupling_inputs(model, image):
    """Each coupling of ``model``'s flow with the input it gets for ``image`` (C,H,W)."""
    from latentlab.models.flow_layers import Coupling

    seen = []
    hooks = [
        m.register_forward_hook(lambda layer, inputs, _out: seen.append((layer, inputs[0])))
        for m in model.modules()
        if isinstance(m, Coupling)
    ]
    try:
        with torch.no_grad():
            model.flow(model.dequantize(torch.from_numpy(image)[None], noise=False))
    finally:
        for hook in hooks:
            hook.remove()
    return seen


@pytest.mark.parametrize("name", ["nice-digits", "realnvp-digits", "glow-synthfaces"])
def test_a_couplings_mask_marks_exactly_the_positions_it_copies(name):
    loaded = load_model(bundled_models()[name])
    model = loaded.model
    image = loaded.reference.images[3].float().numpy() / 255
    masks = [t.mask for t in trace_flow(model, image).layers if t.label.startswith("coupling")]
    inputs = _coupling_inputs(model, image)
    assert len(masks) == len(inputs) > 0 and all(m is not None for m in masks)
    for mask, (coupling, x) in zip(masks, inputs, strict=True):
        kept = torch.from_numpy(mask)
        assert mask.shape == tuple(x.shape[1:]) and 0 < kept.sum() < kept.numel()
        with torch.no_grad():
            y = coupling(x)[0]
            nudged = x.clone()
            nudged[0][~kept] += 0.5  # every transformed position
            y_nudged = coupling(nudged)[0]
            x_kept = x.clone()
            x_kept[0][kept] += 0.5  # every copied position
            y_kept = coupling(x_kept)[0]
        assert torch.equal(y[0][kept], x[0][kept])  # copied as they are
        assert torch.equal(y_nudged[0][kept], y[0][kept])  # ... and depend on nothing else
        assert not torch.equal(y_nudged[0][~kept], y[0][~kept])
        # the copied half conditions the transformed one (an untrained net could ignore it)
        assert not torch.equal(y_kept[0][~kept], y[0][~kept])


def test_the_masks_alternate_and_say_what_they_copy():
    model = load_model(bundled_models()["realnvp-digits"]).model
    couplings = [
        t
        for t in trace_flow(model, torch.full((1, 8, 8), 0.5).numpy()).layers
        if t.mask is not None
    ]
    first, second = couplings[0], couplings[1]
    assert np.array_equal(first.mask, ~second.mask)  # the alternation of RealNVP Fig. 3
    assert first.detail == "copies the squares with i+j even, transforms the odd ones"
    assert first.mask_picture.shape == first.picture.shape
    assert first.mask_picture[0, 0, 0] == 1.0 and first.mask_picture[0, 0, 1] == 0.0
    channel = [t for t in couplings if t.detail.startswith("copies channels")]
    assert channel[0].detail == "copies channels 1-2, transforms channels 3-4"


def test_glow_shows_its_1x1_convolutions_and_what_each_level_factors_out():
    loaded = load_model(bundled_models()["glow-synthfaces"])
    model = loaded.model
    trace = trace_flow(model, loaded.reference.images[0].float().numpy() / 255)
    config = model.config
    labels = [t.label for t in trace.layers]
    steps = config.scales * config.steps
    assert labels.count("actnorm") == labels.count("1x1 convolution") == steps
    assert labels.count("coupling (additive)") == steps
    splits = [t for t in trace.layers if t.label.startswith("split")]
    assert len(splits) == config.scales - 1
    convs = [layer for layer in model.modules() if isinstance(layer, InvConv1x1)]
    rows = [t for t in trace.layers if t.label == "1x1 convolution"]
    for conv, row in zip(convs, rows, strict=True):
        c, h, w = row.shape
        with torch.no_grad():
            weight = conv.channel_affine()[0]
        np.testing.assert_allclose(row.weight, weight.numpy())
        assert row.weight.shape == (c, c)
        expected = h * w * torch.linalg.slogdet(weight)[1].item()
        assert h * w * row.weight_logabsdet == pytest.approx(expected, rel=1e-9)
        assert row.logdet == pytest.approx(expected, rel=1e-5)
    for level, (split, shape) in enumerate(zip(splits, model.flow.shapes, strict=False), 1):
        c, h, w = shape
        assert split.detail == f"level {level}: factors out {c}x{h}x{w}"
        assert split.factored.ndim == 3 and split.factored.size >= c * h * w
    x = torch.from_numpy(loaded.reference.images[0].float().numpy() / 255)[None]
    with torch.no_grad():
        density = model.log_density(model.dequantize(x, noise=False)).item()
    assert trace.log_density == pytest.approx(density, rel=1e-5, abs=1e-3)
