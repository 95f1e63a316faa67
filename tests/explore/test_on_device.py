"""The family panels' worker jobs make their tensors on the model's device.

There is no GPU in the tests, so the jobs run on CPU models with the default device set to
"meta" (``with torch.device("meta")``): a tensor or draw made without ``device=`` (an input,
a ``torch.randn``) then lands on "meta" and the job fails (a CPU model refuses a "meta" input,
and a "meta" result has no values for numpy), as it would on a GPU where it lands on the CPU.
Made on ``ops.model_device(model)`` as they should be, they stay on the CPU and the results
equal those of a plain run, bit for bit.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import make_tiny_vae

from latentlab.explore import ops
from latentlab.explore.comparison import manifold_grid
from latentlab.explore.flow_levels import resample_levels
from latentlab.explore.flow_trace import trace_flow
from latentlab.explore.gmm import component_means, component_samples
from latentlab.explore.inversion import invert_image
from latentlab.explore.painting import paint
from latentlab.explore.plane import LatentPlane
from latentlab.explore.posterior import posterior_draws, posterior_report, reference_kl_per_dim
from latentlab.explore.posterior_ellipse import posterior_ellipses
from latentlab.modelfile import load_model
from latentlab.models.dcgan import DCGAN, DCGANConfig
from latentlab.models.pixelrnn import PixelRNN, PixelRNNConfig
from latentlab.resources import bundled_models


def _finish(result: Any) -> Any:
    """A long job's returned value (its yields dropped); a plain result as it is."""
    if not hasattr(result, "send"):
        return result
    while True:
        try:
            next(result)
        except StopIteration as stop:
            return stop.value


def _assert_same(a: Any, b: Any) -> None:
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b)
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def _images(shape: tuple[int, ...], n: int | None = None, levels: int = 17) -> np.ndarray:
    size = shape if n is None else (n, *shape)
    return np.random.default_rng(0).integers(0, levels, size=size) / (levels - 1)


def _vae_jobs():
    vae = make_tiny_vae(latent_dim=4, seed=3)
    images = _images(vae.image_shape, 5)
    plane = LatentPlane.axes(4, 0, 1)
    reference = np.random.default_rng(1).normal(size=(9, 4))
    return {
        "posterior_report": lambda: posterior_report(vae, images[0], samples=8),
        "reference_kl_per_dim": lambda: reference_kl_per_dim(vae, images, chunk=2),
        "posterior_draws": lambda: posterior_draws(vae, images[0], n=3, seed=2),
        "posterior_ellipses": lambda: posterior_ellipses(vae, images, plane),
        "manifold_grid": lambda: manifold_grid(vae, 3, reference),
    }


def _checked_inversion(gan: DCGAN) -> DCGAN:
    """``gan`` whose inversion checks where its input and generator are, then runs with the
    CPU as the default device: it indexes with a plain ``torch.arange`` (a CPU index, which a
    GPU tensor accepts)."""
    invert = gan.invert

    def checked(x, *args, generator=None, **kwargs):
        assert x.device == generator.device == ops.model_device(gan)
        with torch.device("cpu"):
            return (yield from invert(x, *args, generator=generator, **kwargs))

    gan.invert = checked
    return gan


def _other_jobs():
    torch.manual_seed(0)
    gan = _checked_inversion(DCGAN(DCGANConfig(latent_dim=8, ngf=8, ndf=8)).eval())
    rnn = PixelRNN(PixelRNNConfig(hidden=8, layers=1)).eval()
    mask = np.zeros(rnn.image_shape[1:], dtype=bool)
    mask[-1, -3:] = True
    gmm = load_model(bundled_models()["gmm-digits"]).model
    flow = load_model(bundled_models()["realnvp-digits"])
    flow_image = flow.reference.images[0].float().numpy() / 255
    return {
        "invert_image": lambda: invert_image(gan, _images(gan.image_shape), steps=2, seed=1),
        "paint": lambda: paint(rnn, _images(rnn.image_shape, levels=rnn.levels), mask, n=2),
        "component_samples": lambda: component_samples(gmm, 1, 3, 0.8, seed=4),
        "component_means": lambda: component_means(gmm),
        "resample_levels": lambda: resample_levels(flow.model, flow_image, count=2, seed=1),
        "trace_flow": lambda: trace_flow(flow.model, flow_image),
    }


@pytest.fixture(scope="module")
def jobs():
    return {**_vae_jobs(), **_other_jobs()}


JOBS = [
    "posterior_report",
    "reference_kl_per_dim",
    "posterior_draws",
    "posterior_ellipses",
    "manifold_grid",
    "invert_image",
    "paint",
    "component_samples",
    "component_means",
    "resample_levels",
    "trace_flow",
]


@pytest.mark.parametrize("name", JOBS)
def test_the_job_makes_its_tensors_on_the_models_device(jobs, name):
    assert jobs.keys() == set(JOBS)
    run = jobs[name]
    expected = _finish(run())
    with torch.device("meta"):  # where a tensor made without device= would land
        got = _finish(run())
    _assert_same(expected, got)


def test_a_tensor_made_without_device_is_caught():
    """The check above is not vacuous: the old way of making an input fails under it."""
    vae = make_tiny_vae(latent_dim=4, seed=3)
    image = _images(vae.image_shape)
    with torch.device("meta"), pytest.raises((RuntimeError, NotImplementedError)):
        vae.posterior(torch.as_tensor(image, dtype=torch.float32)[None])[0].numpy()


JOB_MODULES = [
    "comparison",
    "flow_levels",
    "flow_trace",
    "gmm",
    "inversion",
    "painting",
    "posterior",
    "posterior_ellipse",
]


@pytest.mark.parametrize("name", JOB_MODULES)
def test_no_generator_is_made_without_a_device(name):
    """A generator has no default device to catch it above: each is made by
    ``ops.model_generator`` or names its device."""
    source = (Path(ops.__file__).parent / f"{name}.py").read_text()
    assert "torch.Generator()" not in source
