from __future__ import annotations

import itertools

import pytest
import torch
from helpers import run_to_end

from latentlab.modelfile import build_metadata, load_model, save_model
from latentlab.models.base import ConfigError, config_from_dict, config_to_dict
from latentlab.models.dcgan import DCGAN, DCGANConfig

DIGITS = {"channels": 1, "height": 8, "width": 8, "levels": 17}
FACES = {"channels": 3, "height": 32, "width": 32, "levels": 256}


def make_model(image: dict, latent_dim: int = 16, width: int = 8, seed: int = 0) -> DCGAN:
    """A small untrained DCGAN whose BatchNorm statistics are calibrated, so that different z
    give clearly different images in eval mode."""
    torch.manual_seed(seed)
    model = DCGAN(DCGANConfig(**image, latent_dim=latent_dim, ngf=width, ndf=width))
    model.recalibrate(4, 64, torch.Generator().manual_seed(seed))
    return model.eval()


@pytest.fixture(scope="module")
def faces_model() -> DCGAN:
    return make_model(FACES)


def per_image_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).square().flatten(1).mean(1)


@pytest.mark.parametrize(
    "image",
    [
        DIGITS,
        FACES,
        {**FACES, "height": 16, "width": 16},
        {**DIGITS, "height": 64, "width": 64},
        {**DIGITS, "height": 28, "width": 28, "levels": 256},  # Fashion-MNIST: 7x7 -> 14 -> 28
        {**DIGITS, "height": 14, "width": 14},
    ],
)
def test_shapes_and_level_grid(image):
    model = make_model(image, width=4)
    shape = (image["channels"], image["height"], image["width"])
    assert model.image_shape == shape and model.latent_dim == 16
    z = model.sample_latent(5)
    assert z.shape == (5, 16)
    x = model.decode(z)
    assert x.shape == (5, *shape) and x.min() >= 0 and x.max() <= 1
    k = x * (image["levels"] - 1)
    torch.testing.assert_close(k, k.round(), rtol=0, atol=1e-5)  # exactly on the level grid
    assert len(x.unique()) > 2  # not a constant image
    assert model.discriminate(x).shape == (5,)


@pytest.mark.parametrize(
    "height,width", [(24, 24), (12, 12), (7, 7), (8, 16), (112, 112), (128, 128)]
)
def test_config_rejects_sizes_the_architecture_cannot_make(height, width):
    values = {**config_to_dict(DCGANConfig()), "height": height, "width": width}
    with pytest.raises(ConfigError, match="square"):
        config_from_dict(DCGANConfig, values)


def test_config_fields_are_bounded():
    values = {**config_to_dict(DCGANConfig()), "ngf": 100_000}
    with pytest.raises(ConfigError, match="ngf"):
        config_from_dict(DCGANConfig, values)


def test_the_prior_scales_with_temperature(faces_model):
    assert faces_model.sample_latent(2000, 0.5).std().item() == pytest.approx(0.5, rel=0.05)


def test_eval_mode_samples_do_not_depend_on_the_rest_of_the_batch(faces_model):
    z = faces_model.sample_latent(8, generator=torch.Generator().manual_seed(1))
    others = faces_model.sample_latent(8, generator=torch.Generator().manual_seed(2))
    alone = torch.cat([faces_model.generate(z[i : i + 1]) for i in range(4)])
    mixed = faces_model.generate(torch.cat([z[:4], others]))[:4]
    torch.testing.assert_close(alone, mixed)
    # The check can fail: in train mode (batch statistics) the same images do change.
    faces_model.generator.train()
    try:
        with torch.no_grad():
            changed = faces_model.generate(torch.cat([z[:4], others]))[:4]
            assert (changed - faces_model.generate(z)[:4]).abs().max() > 1e-3
    finally:
        faces_model.generator.eval()


def test_recalibration_matches_eval_images_to_train_mode_images():
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(**FACES, latent_dim=16, ngf=8, ndf=8))
    z = model.sample_latent(256, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        spread_train = model.train().generate(z).std().item()
        spread_fresh = model.eval().generate(z).std().item()  # running stats still at init
        model.recalibrate(8, 128, torch.Generator().manual_seed(4))
        assert not model.generator.training
        spread_eval = model.generate(z).std().item()
    assert spread_fresh < 0.5 * spread_train
    assert spread_eval == pytest.approx(spread_train, rel=0.1)


def test_inversion_recovers_an_image_the_generator_made(faces_model):
    z_true = faces_model.sample_latent(2, generator=torch.Generator().manual_seed(11))
    x = faces_model.decode(z_true)
    random_z = faces_model.sample_latent(64, generator=torch.Generator().manual_seed(12))
    chance = per_image_mse(faces_model.decode(random_z), x[:1]).median()
    reports, (z, mse) = run_to_end(
        faces_model.invert(x, steps=60, generator=torch.Generator().manual_seed(0))
    )
    assert len(reports) == 60 and reports[-1][0] == 1.0
    assert all(0 < f1 < f2 for (f1, _), (f2, _) in itertools.pairwise(reports))
    assert reports[-1][1] < reports[0][1]  # the error went down
    assert z.shape == (2, 16) and mse.shape == (2,)
    torch.testing.assert_close(mse, per_image_mse(faces_model.decode(z), x))
    assert (mse < 0.01 * chance).all(), (mse, chance)


def test_inversion_works_inside_inference_mode_and_leaves_it_on(faces_model):
    x = faces_model.decode(
        faces_model.sample_latent(1, generator=torch.Generator().manual_seed(21))
    )
    with torch.inference_mode():
        x_inference = x.clone()  # an inference tensor, as the app's worker would pass
        steps = faces_model.invert(x_inference, steps=20)
        for _ in steps:
            # Between steps the caller's modes hold: no gradients leak out of the job.
            assert torch.is_inference_mode_enabled() and not torch.is_grad_enabled()
        z = faces_model.encode(x_inference)
        decoded = faces_model.decode(z)
    assert z.shape == (1, 16)
    assert per_image_mse(decoded, x).item() < 1e-3
    assert all(p.grad is None for p in faces_model.parameters())  # only z had gradients


def test_cancelled_inversion_restores_the_generator_mode(faces_model):
    faces_model.generator.train()
    try:
        steps = faces_model.invert(torch.rand(1, 3, 32, 32), steps=50)
        next(steps)
        assert not faces_model.generator.training  # inversion runs in eval mode
        steps.close()  # what the app's worker does on cancel
        assert faces_model.generator.training
    finally:
        faces_model.eval()


def test_round_trip_through_a_model_file(tmp_path, faces_model):
    path = tmp_path / "dcgan.safetensors"
    meta = build_metadata(
        faces_model,
        dataset={"name": "synthfaces", "size": 12000},
        training={
            "command": "tests",
            "epochs": 0,
            "steps": 0,
            "seconds": 0.0,
            "device": "cpu",
            "test_metric": {"name": "test MMD²", "value": 0.5},
        },
    )
    save_model(path, faces_model, meta)
    loaded = load_model(path)
    model = loaded.model
    assert isinstance(model, DCGAN) and not model.training
    assert model.capabilities == {"sample", "decode", "encode"}
    z = faces_model.sample_latent(3, generator=torch.Generator().manual_seed(31))
    x = faces_model.decode(z)
    torch.testing.assert_close(model.decode(z), x)
    torch.testing.assert_close(model.discriminate(x), faces_model.discriminate(x))


def test_opening_and_inverting_imports_no_compiler(tmp_path, faces_model):
    """torch.optim and normal_ on the meta device import torch's compiler: a second on the
    worker and 130,000 objects that every later full garbage collection of the app walks."""
    import subprocess
    import sys

    path = tmp_path / "dcgan.safetensors"
    save_model(path, faces_model, build_metadata(faces_model, {"name": "test"}, {}))
    code = (
        "import sys, torch\n"
        "from latentlab.modelfile import load_model\n"
        f"model = load_model({str(path)!r}).model\n"
        "steps = model.invert(model.decode(model.sample_latent(1)), steps=3)\n"
        "while True:\n"
        "    try: next(steps)\n"
        "    except StopIteration: break\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
