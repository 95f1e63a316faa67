"""The pytorch/examples DCGAN generator imported into LatentLab's DCGAN family."""

from __future__ import annotations

import pytest
import torch
from foreign import generated, net_g, save_state

from latentlab.importers import import_checkpoint
from latentlab.modelfile import ModelFileError, load_model, save_model
from latentlab.models.dcgan import DCGAN

HALF_LEVEL = 0.5 / 255  # decode puts each value on the nearest of the 256 levels


def latents(nz: int, n: int = 4) -> torch.Tensor:
    return torch.randn(n, nz, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(("nz", "ngf", "nc"), [(8, 4, 3), (5, 8, 1), (16, 4, 1)])
def test_the_import_generates_what_the_original_does(tmp_path, nz, ngf, nc):
    net = net_g(nz, ngf, nc)
    loaded = import_checkpoint(save_state(tmp_path / "netG_epoch_24.pth", net))
    model = loaded.model
    assert isinstance(model, DCGAN) and not model.training
    c = model.config
    assert (c.latent_dim, c.ngf, c.channels, c.height, c.width, c.levels) == (
        nz,
        ngf,
        nc,
        64,
        64,
        256,
    )
    z = latents(nz)
    with torch.no_grad():
        expected = generated(net, z)
        assert (model.generate(z) - expected).abs().max().item() < 1e-4
        assert (model.decode(z) - expected).abs().max().item() <= HALF_LEVEL + 1e-4


def test_module_prefixed_and_nested_state_dicts(tmp_path):
    net = net_g()
    z = latents(8)
    prefixed = save_state(tmp_path / "ddp.pth", net, prefix="module.")
    nested = tmp_path / "nested.pth"
    torch.save({"epoch": 3, "state_dict": net.state_dict()}, nested)
    for path in (prefixed, nested):
        with torch.no_grad():
            got = import_checkpoint(path, "dcgan-pytorch-examples").model.generate(z)
        assert (got - generated(net, z)).abs().max().item() < 1e-4


def test_files_without_batch_counters_and_in_the_old_format_import(tmp_path):
    """Files from before PyTorch 0.4.1 have no num_batches_tracked; before 1.6, no zip."""
    net = net_g()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    z = latents(8)
    with torch.no_grad():
        got = import_checkpoint(path).model.generate(z)
    assert (got - generated(net, z)).abs().max().item() < 1e-4


def test_the_model_says_where_it_came_from_and_what_was_not_imported(tmp_path):
    loaded = import_checkpoint(save_state(tmp_path / "netG_epoch_3.pth", net_g()))
    training = loaded.meta["training"]
    assert training["imported_from"] == "netG_epoch_3.pth"
    assert training["format"] == "dcgan-pytorch-examples"
    assert "discriminator was not imported" in training["note"]
    assert loaded.name == "netG_epoch_3" and loaded.meta["family"] == "dcgan"
    reference = loaded.reference
    assert reference is not None and reference.images.shape == (32, 3, 64, 64)
    with torch.no_grad():
        thumbnails = (loaded.model.decode(reference.latents) * 255).round().to(torch.uint8)
    assert torch.equal(reference.images, thumbnails)


def test_saved_and_loaded_again_it_decodes_the_same(tmp_path):
    loaded = import_checkpoint(save_state(tmp_path / "netG.pth", net_g(nc=1)))
    out = tmp_path / "netG.safetensors"
    save_model(out, loaded.model, loaded.meta, reference=loaded.reference)
    again = load_model(out)
    z = latents(8)
    with torch.no_grad():
        assert torch.equal(again.model.decode(z), loaded.model.decode(z))
    assert again.meta["training"] == loaded.meta["training"]
    assert torch.equal(again.reference.latents, loaded.reference.latents)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update({"main.6.weight": torch.zeros(16, 4, 4, 4)}), "'main.6.weight' has"),
        (lambda s: s.update({"main.4.running_var": torch.ones(7)}), "'main.4.running_var'"),
        (lambda s: s.update({"main.0.weight": torch.zeros(8, 32)}), "not 4-D"),
    ],
)
def test_a_wrong_shape_is_refused_in_one_line(tmp_path, change, message):
    state = net_g().state_dict()
    change(state)
    path = tmp_path / "netG.pth"
    torch.save(state, path)
    with pytest.raises(ModelFileError, match=message) as refused:
        import_checkpoint(path)
    assert str(refused.value).startswith("netG.pth: ") and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("nz", "ngf", "bound"), [(600, 4, "latent_dim=600 is outside"), (4, 2, "ngf=2 is outside")]
)
def test_sizes_beyond_the_family_are_refused(tmp_path, nz, ngf, bound):
    path = save_state(tmp_path / "netG.pth", net_g(nz, ngf))
    with pytest.raises(ModelFileError, match=bound) as refused:
        import_checkpoint(path)
    assert f"nz={nz}, ngf={ngf}, nc=3" in str(refused.value)


def test_an_imported_model_says_where_it_came_from_instead_of_how_it_was_trained(tmp_path):
    from latentlab.explore.describe import describe, model_info

    loaded = import_checkpoint(save_state(tmp_path / "netG_epoch_24.pth", net_g()))
    lines = dict(describe(model_info(loaded)))
    assert lines["dataset"] == "unknown (trained elsewhere)"
    assert lines["training"].startswith(
        "imported from netG_epoch_24.pth (dcgan-pytorch-examples): the file holds the generator"
    )
    assert "?" not in lines["training"]
