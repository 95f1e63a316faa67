"""PixelRNN (Row LSTM): causality, an exact and normalised likelihood, and the samplers."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from latentlab.modelfile import build_metadata, load_model, save_model
from latentlab.models.base import ConfigError, config_from_dict, config_to_dict
from latentlab.models.pixelrnn import PixelRNN, PixelRNNConfig, causal_mask, draw_levels


def make_model(seed: int = 0, **values) -> PixelRNN:
    """A small model in float64 with weights spread wide enough that every connection the
    masks leave open carries a visible gradient and the logits differ from position to
    position (the default initialisation would pass weak tests too easily)."""
    torch.manual_seed(seed)
    config = {
        "channels": 1,
        "height": 4,
        "width": 5,
        "levels": 3,
        "hidden": 6,
        "layers": 2,
        "first_kernel": 3,
        "row_kernel": 3,
        **values,
    }
    model = PixelRNN(PixelRNNConfig(**config)).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def leaks(model: PixelRNN) -> list[tuple[int, int]]:
    """(output, input) sub-pixel pairs, indexed in raster order with R, G, B innermost, where
    the logits of the output depend on an input at or after it; also checks the logits do
    depend on the past somewhere, so that an all-zero gradient cannot pass."""
    c, h, w = model.image_shape
    x = torch.rand(1, c, h, w, dtype=torch.float64, requires_grad=True)
    logits = model(x)  # 1, C, L, H, W
    found, past = [], 0.0
    for i, j, ch in itertools.product(range(h), range(w), range(c)):
        (grad,) = torch.autograd.grad(logits[0, ch, :, i, j].sum(), x, retain_graph=True)
        order = grad[0].permute(1, 2, 0).flatten()  # H, W, C: raster order, channel innermost
        out = (i * w + j) * c + ch
        found += [(out, out + int(k)) for k in order[out:].nonzero()]
        past += order[:out].abs().sum().item()
    assert past > 0
    return found


@pytest.mark.parametrize("channels", [1, 3])
def test_logits_never_see_the_present_or_future(channels):
    """Causality (docs/families.md): d logits_i / d x_j is exactly zero for every j >= i."""
    assert leaks(make_model(channels=channels, layers=3, row_kernel=5)) == []


@pytest.mark.parametrize("channels", [1, 3])
def test_the_causality_check_catches_mask_b_on_the_first_layer(channels):
    """The test above can fail: with mask B on the image the model sees its own target."""
    model = make_model(channels=channels)
    first = model.first
    groups = torch.tensor([f * channels // 6 for f in range(6)])
    first.mask.copy_(causal_mask(groups, torch.arange(channels), 3, 3, "B"))
    bad = leaks(model)
    assert bad and all(out == inp for out, inp in bad)  # exactly the pixel itself


@pytest.mark.parametrize(("channels", "levels"), [(1, 3), (3, 2)])
def test_log_prob_is_normalised_over_every_image(channels, levels):
    """On a 2x2 image the probabilities of all levels**(C*4) images sum to one."""
    model = make_model(channels=channels, height=2, width=2, levels=levels)
    values = torch.tensor(list(itertools.product(range(levels), repeat=channels * 4)))
    x = values.view(-1, 2, 2, channels).permute(0, 3, 1, 2).double() / (levels - 1)
    with torch.no_grad():
        total = model.log_prob(x).logsumexp(0).exp().item()
    assert total == pytest.approx(1.0, abs=1e-9)


def test_log_prob_is_the_sum_of_the_conditionals():
    model = make_model()
    k = torch.randint(0, 3, (4, 1, 4, 5))
    with torch.no_grad():
        logp = model(k.double() / 2).log_softmax(2)  # N, C, L, H, W
        expected = torch.zeros(4, dtype=torch.float64)
        for n, i, j in itertools.product(range(4), range(4), range(5)):
            expected[n] += logp[n, 0, k[n, 0, i, j], i, j]
        torch.testing.assert_close(model.log_prob(k.double() / 2), expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_cached_sampler_draws_exactly_as_the_naive_one(channels):
    model = make_model(channels=channels, layers=3, levels=5)
    x = torch.rand(3, channels, 4, 5, dtype=torch.float64)
    mask = torch.rand(x.shape) < 0.7
    mask[:, :, -1, 1:] = False  # nothing to fill after (3, 0): the cached sampler stops there
    runs = []
    for fill in (model.fill_pixels, model.fill_pixels_naive):
        frames = list(_steps(fill(x, mask, 0.8, torch.Generator().manual_seed(5))))
        runs.append(frames)
    cached, naive = runs
    assert len(cached) == len(naive) == 4 * 5 + 1  # one frame per pixel, then the result
    for a, b in zip(cached, naive, strict=True):
        assert torch.equal(a, b)


def _steps(generator):
    """Every yielded frame and then the returned result."""
    while True:
        try:
            yield next(generator)
        except StopIteration as done:
            yield done.value
            return


def test_the_observer_sees_each_distribution_and_the_level_drawn_from_it():
    model = make_model(channels=3, levels=5)
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, :, 1:3] = True
    seen = []
    observed = model.fill_pixels(
        x, mask, 0.7, torch.Generator().manual_seed(2), lambda *draw: seen.append(draw)
    )
    out = list(_steps(observed))[-1]
    plain = list(_steps(model.fill_pixels(x, mask, 0.7, torch.Generator().manual_seed(2))))[-1]
    assert torch.equal(out, plain)  # observing changes nothing
    assert [index for index, _, _ in seen] == [
        (ch, i, j) for i in (1, 2) for j in range(5) for ch in range(3)
    ]
    for (ch, i, j), probabilities, level in seen:
        assert probabilities.shape == (2, 5) and probabilities.dtype == torch.float64
        torch.testing.assert_close(probabilities.sum(1), torch.ones(2, dtype=torch.float64))
        assert torch.equal(out[:, ch, i, j] * 4, level.double())  # the level drawn is painted


def test_frames_fill_in_raster_order():
    """Frame s shows the pixels up to position s as they end up, and nothing after it."""
    model = make_model(channels=3, levels=17)
    x = torch.ones(2, 3, 4, 5, dtype=torch.float64)
    frames = list(_steps(model.fill_pixels(x, torch.ones_like(x, dtype=torch.bool))))
    final = frames.pop()
    for s, frame in enumerate(frames):
        done, todo = frame.flatten(2)[:, :, : s + 1], frame.flatten(2)[:, :, s + 1 :]
        assert torch.equal(done, final.flatten(2)[:, :, : s + 1])
        assert not todo.any()  # masked pixels start at zero, whatever x held there


def test_completion_ignores_what_is_under_the_mask():
    model = make_model(channels=3, levels=4)
    x = torch.rand(4, 3, 4, 5, dtype=torch.float64)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, :, 2:] = True  # the bottom half
    mask[0, 1, 0, 0] = True  # and one green sub-pixel of one image
    out = model.complete(x, mask, torch.Generator().manual_seed(0))
    garbage = torch.where(mask, torch.full_like(x, 0.37), x)
    assert torch.equal(model.complete(garbage, mask, torch.Generator().manual_seed(0)), out)
    filled = out[mask] * 3
    assert torch.equal(filled, filled.round()) and filled.min() >= 0 and filled.max() <= 3


def test_samples_lie_on_the_level_grid():
    model = make_model(levels=17).float()
    a = model.sample(6, 1.0, torch.Generator().manual_seed(1))
    assert a.dtype == torch.float32
    k = a * 16
    assert torch.equal(k, k.round()) and k.min() >= 0 and k.max() <= 16
    assert len(k.unique()) > 3  # sampled, not argmax-collapsed


def test_temperature_divides_the_logits():
    logits = torch.tensor([[0.0, math.log(3)]]).repeat(40000, 1)  # p(level 1) = 3/4
    g = torch.Generator().manual_seed(0)
    assert draw_levels(logits, 1.0, g).double().mean().item() == pytest.approx(0.75, abs=0.01)
    # T=2 halves the logits: p = sqrt(3) / (1 + sqrt(3))
    p = 3**0.5 / (1 + 3**0.5)
    assert draw_levels(logits, 2.0, g).double().mean().item() == pytest.approx(p, abs=0.01)
    with pytest.raises(ValueError, match="temperature"):
        draw_levels(logits, 0.0, g)


def test_model_file_round_trip(tmp_path):
    model = make_model(channels=3, levels=4, hidden=9).float()
    meta = build_metadata(
        model,
        dataset={"name": "test", "size": 1},
        training={"command": "tests", "test_metric": {"name": "test bits/dim", "value": 1.5}},
    )
    save_model(tmp_path / "p.safetensors", model, meta)
    loaded = load_model(tmp_path / "p.safetensors")
    assert loaded.model.config == model.config and loaded.reference is None
    assert loaded.model.latent_dim is None and "complete" in loaded.model.capabilities
    x = torch.rand(2, 3, 4, 5)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.log_prob(x), model.log_prob(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("hidden", 8, "multiple of channels"), ("row_kernel", 4, "odd"), ("layers", 13, "outside")],
)
def test_config_is_checked(field, value, message):
    values = config_to_dict(PixelRNNConfig(channels=3, hidden=9))
    values[field] = value
    with pytest.raises(ConfigError, match=message):
        config_from_dict(PixelRNNConfig, values)
