"""NICE, RealNVP and Glow: every layer and every whole flow through the shared invariant check
(``flowcheck``), then the model protocol: dequantization bound, latents, init, save/load."""

from __future__ import annotations

import copy
import math
import time

import pytest
import torch
import torch.nn.functional as F
from flowcheck import check_flow, perturb
from torch import nn

from latentlab.data import load_digits_split
from latentlab.modelfile import build_metadata, load_model, save_model
from latentlab.models.base import ConfigError, bits_per_dim, config_from_dict, config_to_dict
from latentlab.models.flow_layers import (
    ActNorm,
    Centre,
    Coupling,
    DiagonalAffine,
    Flatten,
    FlowChain,
    FlowLayer,
    FullPrecisionConv2d,
    FullPrecisionLinear,
    InvConv1x1,
    Logit,
    Permute,
    Split,
    Squeeze,
    ZeroConv2d,
    conv3x3,
    mask_tensor,
)
from latentlab.models.glow import CouplingNet, Glow, GlowConfig, zero_conv
from latentlab.models.nice import NICE, NICEConfig
from latentlab.models.realnvp import RealNVP, RealNVPConfig, ResNet

# ----------------------------------------------------------------------------------------------
# Layers


def small_net(c_in: int, c_out: int) -> nn.Module:
    """A coupling network with a zero-initialised last layer, as the families build them."""
    return nn.Sequential(nn.Conv2d(c_in, 8, 3, padding=1), nn.Tanh(), ZeroConv2d(8, c_out))


def coupling(transform: str, split: str, parity: int, c: int = 4, hw: int = 4) -> Coupling:
    out = 1 if transform == "additive" else 2
    if split == "packed":  # a checkerboard applied by packing each row's halves
        mask = mask_tensor("checkerboard", 1, hw, hw, parity)
        return Coupling(small_net(c, out * c), transform, c, mask=mask, parity=parity, packed=True)
    if split == "halves":
        changed = c - c // 2 if parity == 0 else c // 2
        kept = c - changed
        return Coupling(small_net(kept, out * changed), transform, c, parity=parity)
    mask = (
        mask_tensor(split, 1, hw, hw, parity)
        if split == "checkerboard"
        else mask_tensor(
            split, c, 1 if split == "channel" else hw, 1 if split == "channel" else hw, parity
        )
    )
    return Coupling(small_net(c, out * c), transform, c, mask=mask, parity=parity)


def initialized_actnorm(c: int, factor: float) -> ActNorm:
    layer = ActNorm(c, factor)
    layer.train()
    layer(torch.randn(16, c, 4, 4) * 3 + 1)
    return layer


LAYERS = {
    "squeeze": (Squeeze, (2, 3, 4, 4)),
    "flatten": (lambda: Flatten((3, 4, 4)), (2, 3, 4, 4)),
    "centre": (Centre, (2, 3, 4, 4)),
    "actnorm": (lambda: initialized_actnorm(3, 1.0), (2, 3, 4, 4)),
    "actnorm-factor3": (lambda: initialized_actnorm(3, 3.0), (2, 3, 4, 4)),
    "invconv-lu": (lambda: InvConv1x1(6, lu=True), (2, 6, 3, 3)),
    "invconv-plain": (lambda: InvConv1x1(6, lu=False), (2, 6, 3, 3)),
    "permute-reverse": (lambda: Permute(5, "reverse"), (2, 5, 3, 3)),
    "permute-shuffle": (lambda: Permute(5, "shuffle"), (2, 5, 3, 3)),
    "nice-scaling": (lambda: DiagonalAffine((3, 4, 4)), (2, 3, 4, 4)),
    "top-prior": (lambda: DiagonalAffine((3, 4, 4), shift=True), (2, 3, 4, 4)),
    "split-learned": (lambda: Split(4, learned=True), (2, 4, 4, 4)),
    "split-learned-odd": (lambda: Split(5, learned=True), (2, 5, 3, 3)),
    "split-standard": (lambda: Split(4, learned=False), (2, 4, 4, 4)),
    "chain": (
        lambda: FlowChain(
            [Squeeze(), InvConv1x1(4), coupling("affine-sigmoid", "halves", 0, 4, 2)]
        ),
        (2, 1, 4, 4),
    ),
}
for _t in ("additive", "affine-tanh", "affine-sigmoid"):
    for _s in ("checkerboard", "packed", "channel", "alternate", "halves"):
        for _p in (0, 1):
            LAYERS[f"coupling-{_t}-{_s}-{_p}"] = (
                lambda t=_t, s=_s, p=_p: coupling(t, s, p),
                (2, 4, 4, 4),
            )
LAYERS["coupling-halves-odd"] = (lambda: coupling("affine-tanh", "halves", 1, 5, 3), (2, 5, 3, 3))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_is_invertible_with_the_right_logdet(name):
    make, shape = LAYERS[name]
    torch.manual_seed(0)
    layer = perturb(make(), seed=1)
    assert isinstance(layer, FlowLayer | FlowChain)  # every leaf layer is a FlowLayer
    check_flow(layer, torch.randn(shape))


def test_logit_layer():
    torch.manual_seed(0)
    x = torch.rand(3, 2, 4, 4) * 0.98 + 0.01
    check_flow(Logit(0.05), x, y=torch.randn(3, 2, 4, 4))


@pytest.mark.parametrize("factor", [1.0, 3.0])
def test_actnorm_initialises_from_data_once(factor):
    torch.manual_seed(0)
    x = torch.randn(64, 3, 4, 4) * torch.tensor([0.5, 2.0, 7.0]).view(1, 3, 1, 1) + 3
    layer = ActNorm(3, factor)
    y, _ = layer(x)  # training mode: initialises on this batch
    assert layer.initialized.item() == 1
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-4, rtol=0)
    reloaded = ActNorm(3, factor)
    reloaded.load_state_dict(layer.state_dict())
    reloaded(torch.randn(64, 3, 4, 4))  # training mode, other data: must not re-initialise
    for a, b in zip(reloaded.parameters(), layer.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("parity", [0, 1])
def test_a_packed_coupling_copies_the_masks_half_and_changes_the_rest(parity):
    """Packing is only another way to hand the copied half to the network: the entries the
    checkerboard keeps come out unchanged, every other one is transformed, on a non-square
    image too."""
    torch.manual_seed(0)
    mask = mask_tensor("checkerboard", 1, 4, 6, parity)
    layer = perturb(
        Coupling(small_net(2, 4), "affine-tanh", 2, mask=mask, parity=parity, packed=True), seed=1
    )
    x = torch.randn(2, 2, 4, 6)
    y, _ = layer(x)
    kept = mask.bool().expand(2, 2, 4, 6)
    assert torch.equal(y[kept], x[kept])
    assert (y[~kept] != x[~kept]).all()
    check_flow(layer, x)


@pytest.mark.parametrize("parity", [0, 1])
def test_a_packed_coupling_of_odd_width_is_exact(parity):
    """An odd width is packed with an extra column: rows keep 3 and 2 entries of 5 in turn,
    and the extra column adds nothing to the log-det (check_flow: autograd's Jacobian)."""
    torch.manual_seed(0)
    mask = mask_tensor("checkerboard", 1, 3, 5, parity)
    layer = Coupling(small_net(2, 4), "affine-tanh", 2, mask=mask, parity=parity, packed=True)
    layer = perturb(layer, seed=1)
    x = torch.randn(2, 2, 3, 5)
    y, _ = layer(x)
    assert y.shape == x.shape
    kept = mask.bool().expand(2, 2, 3, 5)
    assert torch.equal(y[kept], x[kept]) and (y[~kept] != x[~kept]).all()
    check_flow(layer, x)


def test_packing_needs_half_of_every_row():
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]]).view(1, 1, 2, 4)
    with pytest.raises(ValueError, match="half of every row"):
        Coupling(small_net(1, 2), "affine-tanh", 1, mask=mask, packed=True)


def test_couplings_start_as_the_identity_or_a_fixed_scale():
    x = torch.randn(2, 4, 4, 4)
    for split in ("checkerboard", "packed", "channel", "halves"):
        for transform in ("additive", "affine-tanh"):
            y, logdet = coupling(transform, split, 0)(x)
            assert torch.equal(y, x) and torch.equal(logdet, torch.zeros(2))
    y, logdet = coupling("affine-sigmoid", "halves", 0)(x)
    torch.testing.assert_close(y[:, :2], x[:, :2])
    torch.testing.assert_close(y[:, 2:], x[:, 2:] * torch.sigmoid(torch.tensor(2.0)))
    torch.testing.assert_close(logdet, torch.full((2,), 32 * F.logsigmoid(torch.tensor(2.0))))


def plain_conv(layer: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
    """The convolution on NCHW-contiguous weights and input."""
    return F.conv2d(h.contiguous(), layer.weight.contiguous(), layer.bias, padding=layer.padding)


def resnet_by_hand(net: ResNet, x: torch.Tensor) -> torch.Tensor:
    h = plain_conv(net.inp, x)
    for block in net.blocks:
        h = h + plain_conv(block[3], F.relu(plain_conv(block[1], F.relu(h))))
    return plain_conv(net.out, F.relu(h))


def glow_net_by_hand(net: CouplingNet, x: torch.Tensor) -> torch.Tensor:
    first, _, second, _, last = net.net
    h = F.relu(plain_conv(second, F.relu(plain_conv(first, x))))
    return plain_conv(last.conv, h) * (3 * last.gain).exp()


NETS = {
    "realnvp": (lambda: ResNet(3, 6, hidden=8, blocks=2), resnet_by_hand),
    "glow": (lambda: CouplingNet(3, 4, hidden=8), glow_net_by_hand),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_channels_last_coupling_nets_match_plain_convolutions(name):
    """The s/t (RealNVP) and coupling (Glow) networks run channels-last for speed; their outputs
    and gradients are those of the same convolutions on NCHW tensors, and they return NCHW."""
    make, by_hand = NETS[name]
    torch.manual_seed(0)
    net = perturb(make(), seed=1)
    x = torch.randn(4, 3, 6, 5, requires_grad=True)
    out = net(x)
    expected = by_hand(net, x)
    assert out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    weights = torch.randn(out.shape)
    grads = torch.autograd.grad((out * weights).sum(), [x, *net.parameters()])
    expected_grads = torch.autograd.grad((expected * weights).sum(), [x, *net.parameters()])
    for a, b in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("out_channels", [2, 8, 9])
@pytest.mark.parametrize("padding", [0, 1])
def test_conv3x3_is_the_convolution_and_trains_thin_ones_transposed(out_channels, padding):
    """conv3x3 gives F.conv2d's outputs and gradients; a trained convolution to at most eight
    channels runs as a transposed convolution, any other as a plain one."""
    torch.manual_seed(0)
    x = torch.randn(3, 5, 7, 6).to(memory_format=torch.channels_last).requires_grad_()
    weight = torch.randn(out_channels, 5, 3, 3, requires_grad=True)
    bias = torch.randn(out_channels, requires_grad=True)
    out = conv3x3(x, weight, bias, padding)
    expected = F.conv2d(x, weight, bias, padding=padding)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert out.grad_fn._saved_transposed == (out_channels <= 8)
    weights = torch.randn(out.shape)
    grads = torch.autograd.grad((out * weights).sum(), [x, weight, bias])
    expected_grads = torch.autograd.grad((expected * weights).sum(), [x, weight, bias])
    for a, b in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # decoding: the plain convolution
        torch.testing.assert_close(conv3x3(x, weight, bias, padding), expected.detach())
    assert conv3x3(x, weight.detach(), bias, padding).grad_fn._saved_transposed is False


# ----------------------------------------------------------------------------------------------
# Whole models


def nice(**kw):
    return NICE(NICEConfig(**{"hidden": 16, "depth": 2, **kw}))


def realnvp(**kw):
    return RealNVP(RealNVPConfig(**{"hidden": 8, "blocks": 1, **kw}))


def glow(**kw):
    return Glow(GlowConfig(**{"hidden": 8, "steps": 2, **kw}))


def shape(c, h, w):
    return {"channels": c, "height": h, "width": w}


MODELS = {
    "nice-alternate-1x4x4": lambda: nice(**shape(1, 4, 4)),
    "nice-checkerboard-3x4x4": lambda: nice(partition="checkerboard", **shape(3, 4, 4)),
    "nice-1x8x8": lambda: nice(couplings=4),
    "nice-odd-1x5x5": lambda: nice(couplings=3, **shape(1, 5, 5)),
    "realnvp-0-scales-1x4x4": lambda: realnvp(scales=0, **shape(1, 4, 4)),
    "realnvp-1-scale-1x8x8": lambda: realnvp(scales=1),
    "realnvp-1-scale-3x4x4": lambda: realnvp(scales=1, **shape(3, 4, 4)),
    "realnvp-2-scales-3x8x8": lambda: realnvp(scales=2, **shape(3, 8, 8)),
    "realnvp-packed-halves-2-scales-3x8x8": lambda: realnvp(
        scales=2, checkerboard="packed", channel_split="halves", **shape(3, 8, 8)
    ),
    # the final scale, 3x3, has an odd width: packed with an extra column
    "realnvp-packed-halves-2-scales-1x12x12": lambda: realnvp(
        scales=2, checkerboard="packed", channel_split="halves", **shape(1, 12, 12)
    ),
    "glow-affine-lu-1x8x8": lambda: glow(scales=2),
    "glow-additive-lu-1x8x8": lambda: glow(scales=2, coupling="additive"),
    "glow-affine-plain-3x4x4": lambda: glow(scales=2, permutation="plain", **shape(3, 4, 4)),
    "glow-additive-plain-1x4x4": lambda: glow(
        scales=1, coupling="additive", permutation="plain", **shape(1, 4, 4)
    ),
    "glow-reverse-no-learntop-1x8x8": lambda: glow(
        scales=3, permutation="reverse", learn_top=False
    ),
    "glow-shuffle-1x4x4": lambda: glow(scales=2, permutation="shuffle", **shape(1, 4, 4)),
    "glow-affine-lu-3x8x8": lambda: glow(scales=3, **shape(3, 8, 8)),
}


def levels_batch(model, n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = model.config
    k = torch.randint(0, c.levels, (n, c.channels, c.height, c.width), generator=g)
    return k.float() / (c.levels - 1)


def trained_looking(name):
    """The model, ActNorm initialised on data, every parameter perturbed, in eval mode."""
    torch.manual_seed(0)
    model = MODELS[name]()
    model.initialize(levels_batch(model, 32))
    return perturb(model, std=0.05, seed=2).eval()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_whole_flow_is_invertible_with_the_right_logdet(name):
    model = trained_looking(name)
    x = torch.rand(4, *model.image_shape) * 0.98 + 0.01  # dequantized images lie in [0, 1)
    check_flow(model.flow, x, jacobian=model.latent_dim <= 64)


@pytest.mark.parametrize("name", [n for n in sorted(MODELS) if n.startswith("glow")])
def test_fused_channel_maps_match_the_layers_one_by_one(name):
    """Without gradients runs of ActNorm and 1x1 convolutions are applied as one fused map:
    outputs and log-dets must match the layer-by-layer computation (which runs with gradients),
    and the fused map must follow a change of the parameters."""
    model = trained_looking(name)
    x = torch.rand(3, *model.image_shape) * 0.98 + 0.01

    def both_ways():
        with torch.no_grad():
            fused = (*model.flow(x), *model.flow.inverse(model.flow(x)[0]))
        one_by_one = (*model.flow(x), *model.flow.inverse(fused[0]))
        for a, b in zip(fused, one_by_one, strict=True):
            torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-4)

    both_ways()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ActNorm):
                module.bias.add_(0.3)
    both_ways()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_exact_round_trip_training_pass_and_temperature(name):
    """What the flows add to the shared protocol checks (test_protocol.py), for every
    architecture: decode(encode(x)) == x, the training pass is log_prob, latents scale with T."""
    model = trained_looking(name)
    x = levels_batch(model)
    with torch.no_grad():
        z = model.encode(x)
        assert z.dtype == torch.float32
        assert torch.equal(model.decode(z), x)  # exact: encode uses the bin centre
        torch.manual_seed(5)
        lp = model.log_prob(x)
        torch.manual_seed(5)
        assert torch.equal(model(x), lp)  # the training pass is the same bound
        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        z1, z2 = model.sample_latent(5, 1.0, g1), model.sample_latent(5, 0.5, g2)
        torch.testing.assert_close(z2, 0.5 * z1)
        images = model.sample(5, 0.7, torch.Generator().manual_seed(4))
        steps = images * (model.levels - 1)
        assert torch.equal(steps, steps.round())  # on the level grid
    assert sum(size for _, size in model.latent_groups()) == model.latent_dim


def test_latent_priors():
    g = torch.Generator().manual_seed(0)
    std = glow(scales=2).sample_latent(4000, 1.0, g).std().item()
    assert std == pytest.approx(1.0, rel=0.02)
    std = nice().sample_latent(4000, 1.0, g).std().item()  # logistic: pi / sqrt(3)
    assert std == pytest.approx(math.pi / math.sqrt(3), rel=0.02)


def test_float64():
    model = trained_looking("glow-affine-lu-1x8x8").double()
    x = levels_batch(model).double()
    assert model.log_prob(x).dtype == torch.float64
    z = model.encode(x)
    assert z.dtype == torch.float64 and torch.equal(model.decode(z), x)


def gaussian_nats(v):
    return (-0.5 * v**2 - 0.5 * math.log(2 * math.pi)).sum(dim=(1, 2, 3))


def logistic_nats(v):
    return -(F.softplus(v) + F.softplus(-v)).sum(dim=(1, 2, 3))


def logit_gaussian_nats(x_tilde, alpha=0.05):
    """N(0, I) density of y = logit(alpha + (1 - 2 alpha) x~) times the Jacobian dy/dx~."""
    y = torch.logit(alpha + (1 - 2 * alpha) * x_tilde)
    return gaussian_nats(y) + (math.log(1 - 2 * alpha) + F.softplus(y) + F.softplus(-y)).sum(
        dim=(1, 2, 3)
    )


BY_HAND = {
    "nice": (lambda: nice(), lambda xt: logistic_nats(xt - 0.5)),
    "glow": (
        lambda: glow(scales=2, coupling="additive", permutation="reverse", learn_top=False),
        lambda xt: gaussian_nats(xt - 0.5),
    ),
    "realnvp": (lambda: realnvp(scales=1), logit_gaussian_nats),
}


@pytest.mark.parametrize("family", sorted(BY_HAND))
def test_dequantized_likelihood_by_hand(family):
    """At init the flows are identities up to permutations (additive couplings and zero priors;
    uninitialised ActNorm; RealNVP's couplings have s = t = 0), so log p is a closed form of the
    dequantized input x~ = (k + u) / levels, minus D log(levels) for the bins' width."""
    torch.manual_seed(0)
    make, density = BY_HAND[family]
    model = make()
    model.eval()
    x = levels_batch(model, 16)
    torch.manual_seed(1)
    lp = model.log_prob(x)
    torch.manual_seed(1)
    k = torch.round(x * 16)
    x_tilde = (k + torch.rand_like(x)) / 17
    expected = density(x_tilde) - 64 * math.log(17)
    torch.testing.assert_close(lp, expected, rtol=1e-5, atol=1e-3)
    nll = -lp.mean().item()
    assert bits_per_dim(nll, model.image_shape) == pytest.approx(nll / (64 * math.log(2)))


@pytest.fixture(scope="module")
def digits():
    return torch.from_numpy(load_digits_split().train.as_float()[:64])


@pytest.mark.parametrize(
    "name",
    ["nice-1x8x8", "realnvp-1-scale-1x8x8", "glow-affine-lu-1x8x8", "glow-additive-lu-1x8x8"],
)
def test_a_few_adam_steps_lower_the_nll(name, digits):
    torch.manual_seed(0)
    model = MODELS[name]()
    model.initialize(digits)

    def nll():
        torch.manual_seed(7)
        with torch.no_grad():
            return -model.log_prob(digits).mean().item()

    before = nll()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(25):
        loss = -model(digits).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    after = nll()
    assert after < before - 5, (before, after)


BFLOAT16_MODELS = [
    "nice-checkerboard-3x4x4",
    "realnvp-packed-halves-2-scales-1x12x12",
    "realnvp-2-scales-3x8x8",
    "glow-affine-lu-3x8x8",
    "glow-additive-lu-1x8x8",
]


def index_copy_of_equal_dtypes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``Tensor.index_copy`` refuse a source of another dtype, as it does on a CUDA GPU:
    there autocast does not widen its operands, as the CPU's autocast does."""
    index_copy = torch.Tensor.index_copy

    def strict(self: torch.Tensor, dim: int, index: torch.Tensor, source: torch.Tensor):
        assert self.dtype == source.dtype, f"index_copy of {source.dtype} into {self.dtype}"
        return index_copy(self, dim, index, source)

    monkeypatch.setattr(torch.Tensor, "index_copy", strict)


@pytest.mark.parametrize("name", BFLOAT16_MODELS)
def test_bfloat16_networks_keep_the_flow_exact_while_training(name, monkeypatch):
    """With the coupling networks in bfloat16, a training pass is still a bijection whose
    log-det matches its inverse's (only the networks' outputs are rounded), gradients reach
    the float32 weights, and evaluation is untouched. Mixed dtypes that a GPU refuses are
    refused here too (NICE's coupling once failed so on one, not on the CPU)."""
    index_copy_of_equal_dtypes(monkeypatch)
    model = trained_looking(name)
    x = torch.rand(4, *model.image_shape) * 0.98 + 0.01
    with torch.no_grad():
        full = model.log_density(x)
    model.train_networks_in(torch.bfloat16)
    with torch.no_grad():
        assert torch.equal(model.log_density(x), full)  # eval mode: full precision
    model.train()
    dtypes: dict[str, set[torch.dtype]] = {"first": set(), "others": set()}
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            kind = (
                "first"
                if isinstance(layer, FullPrecisionConv2d | FullPrecisionLinear)
                else "others"
            )
            layer.register_forward_hook(lambda m, i, out, kind=kind: dtypes[kind].add(out.dtype))
    z, logdet = model.flow(x)
    assert z.dtype == torch.float32
    # the layers that read the data stay float32, the rest of each network runs in bfloat16
    assert dtypes == {"first": {torch.float32}, "others": {torch.bfloat16}}
    back, inverse_logdet = model.flow.inverse(z)
    torch.testing.assert_close(back, x, atol=1e-4, rtol=0)
    torch.testing.assert_close(inverse_logdet, -logdet, atol=1e-3, rtol=1e-5)
    half = model.log_density(x)
    assert not torch.equal(half, full)  # the networks did run in bfloat16
    torch.testing.assert_close(half, full, atol=0.05 * float(full.abs().max()), rtol=0)
    (-half.mean()).backward()
    nets = [p for n, p in model.named_parameters() if ".net." in n]
    assert nets and all(p.dtype == torch.float32 and p.grad is not None for p in nets)
    model.train_networks_in(None)
    with torch.no_grad():
        torch.testing.assert_close(model.log_density(x), full, atol=1e-4, rtol=1e-5)
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(model.log_density(x), full)  # a trainer's autocast stops at the flow


def test_initialize_is_a_no_op_without_actnorm_and_works_under_no_grad(digits):
    model = nice()
    state = copy.deepcopy(model.state_dict())
    model.initialize(digits)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    model = glow().eval()
    with torch.inference_mode():
        model.initialize(digits)
    norms = [m for m in model.modules() if isinstance(m, ActNorm)]
    assert norms and all(m.initialized.item() == 1 for m in norms)
    assert not model.training  # the mode is restored


@pytest.mark.parametrize(
    "name",
    [
        "nice-checkerboard-3x4x4",
        "realnvp-1-scale-1x8x8",
        "glow-affine-lu-1x8x8",
        "glow-shuffle-1x4x4",
    ],
)
def test_save_and_load_round_trip(name, tmp_path):
    model = trained_looking(name)
    meta = build_metadata(
        model,
        dataset={"name": "random", "size": 32},
        training={"command": "tests", "epochs": 0, "steps": 0, "seconds": 0.0, "device": "cpu"},
    )
    save_model(tmp_path / "flow.safetensors", model, meta)
    loaded = load_model(tmp_path / "flow.safetensors").model
    assert type(loaded) is type(model) and not loaded.training
    z = model.sample_latent(6, 0.8, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), model.decode(z))
    norms = [m for m in loaded.modules() if isinstance(m, ActNorm)]
    assert all(m.initialized.item() == 1 for m in norms)
    before = copy.deepcopy(loaded.state_dict())
    loaded.train()
    with torch.no_grad():
        loaded(levels_batch(loaded))  # a training pass must not re-initialise ActNorm
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in before.items())


# ----------------------------------------------------------------------------------------------
# Configs


CONFIGS = [
    NICEConfig(),
    RealNVPConfig(),
    GlowConfig(),
    GlowConfig(channels=3, height=32, width=32, scales=3, coupling="additive"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_configs_round_trip_and_build_fast_on_meta(config):
    assert config_from_dict(type(config), config_to_dict(config)) == config
    cls = {NICEConfig: NICE, RealNVPConfig: RealNVP, GlowConfig: Glow}[type(config)]
    start = time.perf_counter()
    with torch.device("meta"):
        model = cls(config)
    assert time.perf_counter() - start < 1.0
    assert next(model.parameters()).device.type == "meta"


BIGGEST = [
    NICEConfig(channels=1, height=64, width=64, couplings=8, hidden=1024, depth=6),
    RealNVPConfig(channels=4, height=128, width=128, scales=3, blocks=8, hidden=64),
    GlowConfig(channels=4, height=128, width=128, scales=5, steps=32, hidden=512),
]


@pytest.mark.parametrize("config", BIGGEST, ids=lambda c: type(c).__name__)
def test_no_config_asks_for_a_gigabyte(config):
    cls = {NICEConfig: NICE, RealNVPConfig: RealNVP, GlowConfig: Glow}[type(config)]
    config.check()
    with torch.device("meta"):
        model = cls(config)
    assert sum(p.numel() for p in model.parameters()) < 250_000_000  # 1 GB of float32


BAD = [
    (GlowConfig, {"height": 10}, "divisible by 4"),
    (GlowConfig, {"coupling": "exp"}, "must be one of"),
    (GlowConfig, {"permutation": 1}, "must be one of"),
    (GlowConfig, {"learn_top": 1}, "true or false"),
    (GlowConfig, {"steps": 0}, "outside"),
    (GlowConfig, {"scales": 6}, "outside"),
    (RealNVPConfig, {"scales": 3}, "at least 2x2"),
    (RealNVPConfig, {"width": 9}, "divisible by 2"),
    (RealNVPConfig, {"hidden": 1000}, "outside"),
    (NICEConfig, {"channels": 3, "height": 64, "width": 64}, "at most 4096"),
    (NICEConfig, {"partition": "random"}, "must be one of"),
    (NICEConfig, {"depth": 2.0}, "must be an integer"),
]


@pytest.mark.parametrize(("cls", "change", "message"), BAD)
def test_bad_configs_raise_config_error(cls, change, message):
    values = {**config_to_dict(cls()), **change}
    with pytest.raises(ConfigError, match=message):
        config_from_dict(cls, values)


@pytest.mark.parametrize("padding", ["zeros", "ones"])
def test_a_zero_convolutions_kept_kernel_follows_its_parameters(padding):
    """Decoding, the gain is folded into a kept kernel: it must be the convolution's output
    times exp(3 g) after every change of the weight, bias or gain, and carry gradients when
    training."""
    torch.manual_seed(0)
    layer = zero_conv(4, 6, padding).eval()
    x = torch.randn(2, 4, 5, 5)

    def expected() -> torch.Tensor:
        padded = F.pad(x, [1, 1, 1, 1], value=1.0 if padding == "ones" else 0.0)
        return F.conv2d(padded, layer.conv.weight, layer.conv.bias) * (3 * layer.gain).exp()

    with torch.no_grad():
        for parameter in (layer.conv.weight, layer.conv.bias, layer.gain):
            parameter.add_(0.3 * torch.randn_like(parameter))  # in place, as an optimiser does
            torch.testing.assert_close(layer(x), expected(), rtol=1e-5, atol=1e-5)
        layer.load_state_dict({k: v + 0.3 for k, v in layer.state_dict().items()})
        torch.testing.assert_close(layer(x), expected(), rtol=1e-5, atol=1e-5)
    layer(x).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())


def assert_scores_as_a_fresh_copy(model: nn.Module, x: torch.Tensor) -> None:
    """``model`` scores ``x`` as a deep copy of it does (the copy keeps nothing: its tensors are
    new), with the same dequantization noise."""
    fresh = copy.deepcopy(model)
    with torch.no_grad():
        torch.manual_seed(1)
        after = model.log_prob(x)
        torch.manual_seed(1)
        expected = fresh.log_prob(x)
    torch.testing.assert_close(after, expected)


def test_a_fused_optimisers_update_reaches_the_inference_caches():
    """Without gradients a Glow applies its ActNorm and 1x1 convolutions from caches keyed by
    the parameters' version counters, which torch's fused Adam leaves as they were: leaving
    training mode drops the caches, so an evaluation scores the parameters as they are."""
    torch.manual_seed(0)
    model = glow(scales=2)
    x = torch.rand(8, 1, 8, 8)
    model.eval()
    with torch.no_grad():
        model.log_prob(x)  # the caches filled
    model.train()
    adam = torch.optim.Adam(model.parameters(), lr=0.05, fused=True)
    (-model.log_prob(x).mean()).backward()  # ActNorm initialises here, in training mode
    versions = [p._version for p in model.parameters()]
    adam.step()
    assert [p._version for p in model.parameters()] == versions  # the counters did not move
    model.eval()
    assert_scores_as_a_fresh_copy(model, x)


def test_an_evaluation_in_training_mode_sees_a_fused_optimisers_update():
    """Without gradients but in training mode (a trainer's ActNorm initialisation runs so)
    nothing is kept: a fused update, which leaves the version counters as they were, shows in
    the next evaluation without a change of mode."""
    torch.manual_seed(0)
    model = glow(scales=2)
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        model.log_prob(x)  # ActNorm initialises here
    adam = torch.optim.Adam(model.parameters(), lr=0.05, fused=True)
    (-model.log_prob(x).mean()).backward()
    adam.step()
    assert_scores_as_a_fresh_copy(model, x)
