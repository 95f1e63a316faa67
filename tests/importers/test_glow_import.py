"""rosinality/glow-pytorch's Glow imported exactly into LatentLab's Glow family."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from foreign import save_state
from rosinality import glow, latent_parts

from latentlab.cli import main
from latentlab.importers import import_checkpoint
from latentlab.importers.dispatch import FORMATS
from latentlab.importers.reading import read_file, read_tensors
from latentlab.modelfile import ModelFileError, load_model, save_model
from latentlab.models.glow import Glow, GlowConfig

# (channels, n_block, n_flow, affine, conv_lu, size, bits)
CASES = [
    (3, 2, 2, True, True, 16, 5),
    (1, 3, 1, False, True, 32, 8),
    (3, 2, 1, True, False, 16, 4),
    (1, 2, 3, False, False, 16, 5),
    (3, 3, 2, True, True, 32, 3),
]


def imported(tmp_path, net, size, bits, **save):
    path = save_state(tmp_path / "model_000100.pt", net, **save)
    return import_checkpoint(path, image_size=size, bits=bits, reference_size=0).model


def dequantized(channels: int, size: int, bits: int, n: int = 3) -> torch.Tensor:
    """x~ = (k + u) / 2**bits in [0, 1), as rosinality's train.py makes (plus 1/2)."""
    g = torch.Generator().manual_seed(2)
    k = torch.randint(0, 2**bits, (n, channels, size, size), generator=g).float()
    return (k + torch.rand(k.shape, generator=g)) / 2**bits


@pytest.mark.parametrize(("channels", "n_block", "n_flow", "affine", "lu", "size", "bits"), CASES)
def test_the_import_is_the_original(tmp_path, channels, n_block, n_flow, affine, lu, size, bits):
    net = glow(channels, n_flow, n_block, 8, affine, lu, seed=n_block + n_flow)
    model = imported(tmp_path, net, size, bits)
    assert isinstance(model, Glow) and not model.training
    c = model.config
    assert (c.channels, c.height, c.width, c.levels) == (channels, size, size, 2**bits)
    assert (c.scales, c.steps, c.hidden, c.zero_padding) == (n_block, n_flow, 8, "ones")
    assert c.coupling == ("affine" if affine else "additive")
    assert c.permutation == ("lu" if lu else "plain")  # plain: the last block's LU multiplied
    x = dequantized(channels, size, bits)
    d = model.latent_dim
    with torch.no_grad():
        # the same log-density (nats per dim) of the same dequantized input
        log_p, logdet, _ = net(x - 0.5)
        ours = model.log_density(x)
        assert ((ours - (log_p + logdet)) / d).abs().max().item() < 1e-4
        # and the same discrete bound: train.py's loss is -log_prob in bits/dim
        loss = -(log_p + logdet - math.log(2**bits) * d) / (math.log(2) * d)
        levels_term = d * math.log(model.levels)
        assert ((-(ours - levels_term) / (math.log(2) * d)) - loss).abs().max() < 1e-4
        # images on the level grid come back from their latents (float32, as the app runs)
        images = (x * 2**bits).floor() / (2**bits - 1)
        assert torch.equal(model.decode(model.encode(images)), images)
    # in float64 (both; the weights as imported), so that float32 rounding through a randomly
    # drawn, badly conditioned flow does not hide a difference of the two
    net, model, x = copy.deepcopy(net).double(), copy.deepcopy(model).double(), x.double()
    with torch.no_grad():
        log_p, logdet, _ = net(x - 0.5)
        assert (model.log_density(x) - (log_p + logdet)).abs().max().item() < 1e-3  # nats
        # the latent is the original's whitened noise, level by level
        z, _ = model.flow(x)
        back = net.reverse(latent_parts(net, z, size, channels)) + 0.5
        assert (back - x).abs().max().item() < 1e-4
        # round trip of the imported model
        x_back, _ = model.flow.inverse(z)
        assert (x_back - x).abs().max().item() < 1e-6
        # temperature 0: every latent at its prior mean
        zero = torch.zeros(1, d, dtype=torch.float64)
        mean = net.reverse(latent_parts(net, zero, size, channels)) + 0.5
        assert (model.flow.inverse(zero)[0] - mean).abs().max().item() < 1e-4
        levels = model.levels
        expected = (mean * levels).floor().clamp(0, levels - 1) / (levels - 1)
        assert (model.decode(zero) - expected).abs().max().item() < 1e-6


def test_the_top_prior_varies_at_the_border(tmp_path):
    net = glow(3, 1, 2, seed=3)
    model = imported(tmp_path, net, 16, 5)
    top = model.flow.top
    assert top is not None and top.bias is not None
    bias = top.bias[0, 0]
    assert (bias[0, 0] - bias[1, 1]).abs().item() > 1e-4  # corner != inside
    assert (bias[1, 1] - bias[2, 2]).abs().item() < 1e-6  # inside: constant


def test_module_prefix_old_checkpoints_and_a_reload(tmp_path):
    net = glow(1, 2, 2, seed=5)
    x = dequantized(1, 16, 5)
    with torch.no_grad():
        log_p, logdet, _ = net(x - 0.5)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("initialized")}
    old = tmp_path / "model_000001.pt"
    torch.save(state, old)
    prefixed = save_state(tmp_path / "ddp.pt", net, prefix="module.")
    for path in (old, prefixed):
        loaded = import_checkpoint(path, "glow-rosinality", image_size=16, reference_size=0)
        with torch.no_grad():
            got = loaded.model.log_density(x)
        assert ((got - (log_p + logdet)) / 256).abs().max().item() < 1e-4
    out = tmp_path / "glow.safetensors"
    save_model(out, loaded.model, loaded.meta)
    again = load_model(out)
    assert again.model.config.zero_padding == "ones"
    with torch.no_grad():
        assert torch.allclose(again.model.log_density(x), got, atol=1e-3)
    assert "--image-size 16 --bits 5" in again.meta["training"]["command"]


def test_auto_recognises_it_and_defaults_are_64_and_5_bits(tmp_path):
    path = save_state(tmp_path / "model_000100.pt", glow(3, 1, 2, seed=1))
    loaded = import_checkpoint(path, reference_size=2)
    c = loaded.model.config
    assert (c.height, c.width, c.levels) == (64, 64, 32)
    assert loaded.meta["training"]["format"] == "glow-rosinality"
    assert loaded.reference is not None and loaded.reference.images.shape == (2, 3, 64, 64)
    names = read_tensors(path, read_file(path)).keys()  # as the importer reads it
    assert FORMATS["glow-rosinality"].matches(names)
    assert not FORMATS["dcgan-pytorch-examples"].matches(names)


def test_older_glow_files_read_without_the_new_field():
    from latentlab.models.base import config_from_dict, config_to_dict

    values = config_to_dict(Glow.tiny_config())
    del values["zero_padding"]
    assert config_from_dict(GlowConfig, values).zero_padding == "zeros"


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_inconsistent_shapes_and_bad_buffers_are_refused_in_one_line(tmp_path):
    state = glow(3, 2, 2, seed=1).state_dict()
    bad = dict(state)
    bad["blocks.1.flows.0.coupling.net.0.weight"] = torch.zeros(8, 5, 3, 3)
    path = tmp_path / "bad.pt"
    torch.save(bad, path)
    with pytest.raises(ModelFileError) as exc:
        import_checkpoint(path, image_size=16)
    assert "blocks.1.flows.0.coupling.net.0.weight" in one_line(exc)
    bad = dict(state)
    bad["blocks.0.flows.1.invconv.l_mask"] = torch.ones(12, 12)
    torch.save(bad, path)
    with pytest.raises(ModelFileError) as exc:
        import_checkpoint(path, image_size=16)
    assert "l_mask" in one_line(exc)
    bad = dict(state)
    del bad["blocks.0.flows.1.coupling.net.2.bias"]  # not the layout: not recognised
    torch.save(bad, path)
    with pytest.raises(ModelFileError) as exc:
        import_checkpoint(path, image_size=16)
    assert "unknown architecture" in one_line(exc)
    with pytest.raises(ModelFileError) as exc:  # 16 is not divisible by 2**3
        import_checkpoint(save_state(path, glow(1, 1, 3, seed=1)), image_size=12)
    assert "divisible" in one_line(exc)


def test_the_options_belong_to_this_format(tmp_path):
    from foreign import net_g

    path = save_state(tmp_path / "netG.pth", net_g())
    with pytest.raises(ModelFileError) as exc:
        import_checkpoint(path, image_size=32)
    assert "--image-size" in one_line(exc)


def test_the_command_line_takes_the_size_and_bits(tmp_path, capsys):
    source = save_state(tmp_path / "model_000100.pt", glow(1, 1, 2, seed=2))
    out = tmp_path / "glow.safetensors"
    args = ["import", str(source), "--image-size", "16", "--bits", "4", "-o", str(out)]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}: a glow model converted from model_000100.pt")
    c = load_model(out).model.config
    assert (c.height, c.levels, c.zero_padding) == (16, 16, "ones")
    assert main([*args[:3], "0", "-o", str(out)]) == 2  # argparse refuses size 0
