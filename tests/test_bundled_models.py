"""The bundled models: they load, beat simple baselines, and their attribute directions work.

The baselines are computed here from the same test splits (benchmarks/baselines.py prints
them); a trained model must beat every one of them.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from latentlab.data import load_digits_split, make_faces, synthfaces_split
from latentlab.data.baselines import categorical_nats, gaussian_nats
from latentlab.data.fashion import load_fashion_split
from latentlab.modelfile import load_model, read_metadata
from latentlab.models import FAMILIES
from latentlab.models.base import bits_per_dim
from latentlab.resources import bundled_models, default_model_path

FLOWS = ("nice", "realnvp", "glow")
DEQUANTIZED = (*FLOWS, "gmm")  # continuous densities scored with the dequantization bound


def test_the_default_model_is_bundled():
    assert default_model_path() in bundled_models().values()


@functools.cache
def baseline_bits_per_dim(dataset: str, family: str) -> float:
    """The independent-pixel baseline of the same kind of likelihood on the test split of
    ``dataset``: a categorical per pixel for the VAE's categorical decoder, a Gaussian per
    pixel under the same dequantization bound for the continuous densities."""
    loaders = {
        "digits": load_digits_split,
        "fashion": load_fashion_split,
        "synthfaces": synthfaces_split,
    }
    split = loaders[dataset]()
    baseline = gaussian_nats if family in DEQUANTIZED else categorical_nats
    return bits_per_dim(baseline(split.train, split.test), split.test.image_shape)


def _with_likelihood() -> list[str]:
    return sorted(
        name
        for name, path in bundled_models().items()
        if "log_prob" in FAMILIES[read_metadata(path)["family"]].capabilities
    )


@pytest.mark.parametrize("name", _with_likelihood())
def test_bundled_model_beats_independent_pixels(name):
    meta = read_metadata(bundled_models()[name])
    metric = meta["training"]["test_metric"]
    image = meta["image"]
    shape = (image["channels"], image["height"], image["width"])
    value = (
        metric["value"] if "bits/dim" in metric["name"] else bits_per_dim(metric["value"], shape)
    )
    assert 0 < value < baseline_bits_per_dim(meta["dataset"]["name"], meta["family"])


@pytest.fixture(scope="module")
def smile_judge():
    """An independent judge of smiles: logistic regression on pixels of labelled synthetic
    faces (trained on the generator's labels, never on model outputs)."""
    from sklearn.linear_model import LogisticRegression

    images, attributes = make_faces(2000, seed=101)
    x = images.reshape(len(images), -1) / 255.0
    mean = x.mean(axis=0)
    with threadpool_limits(1):
        judge = LogisticRegression(C=0.1, max_iter=2000).fit(x - mean, attributes["smiling"])

    def p_smile(batch: np.ndarray) -> np.ndarray:  # float images N,3,32,32 in [0, 1]
        with threadpool_limits(1):
            return judge.predict_proba(batch.reshape(len(batch), -1) - mean)[:, 1]

    held_out, held_attributes = make_faces(400, seed=4242)
    accuracy = ((p_smile(held_out / 255.0) > 0.5) == held_attributes["smiling"]).mean()
    assert accuracy > 0.9, f"the judge itself is not good enough ({accuracy:.2f})"
    return p_smile


def test_moving_held_out_faces_along_smiling_makes_them_smile(smile_judge):
    """Issue 4's check: +1 along the stored "smiling" direction raises the judged smile of at
    least 90% of 200 held-out faces."""
    loaded = load_model(default_model_path())
    assert loaded.model.family == "glow" and "smiling" in loaded.attributes
    images, _ = make_faces(200, seed=777)  # seeds differ from every training split
    x = torch.from_numpy(images).float() / 255.0
    with torch.inference_mode():
        z = loaded.model.encode(x)
        before = loaded.model.decode(z).numpy()
        after = loaded.model.decode(z + loaded.attributes["smiling"]).numpy()
    np.testing.assert_array_equal(np.round(before * 255), images)  # exact reconstruction
    raised = smile_judge(after) > smile_judge(before)
    assert raised.mean() >= 0.9, f"only {raised.mean():.0%} of faces smile more"


def test_the_fashion_glow_moves_garments_towards_trousers():
    """The class direction "trouser" (mean latent of trousers minus that of the rest) applied
    to 200 held-out garments that are not trousers raises the judged probability of a trouser
    for at least 90% of them; the judge is a logistic regression on the training images' pixels
    (trained on their labels, never on model outputs)."""
    from sklearn.linear_model import LogisticRegression

    loaded = load_model(bundled_models()["glow-fashion"])
    assert {"trouser", "ankle boot", "t-shirt/top"} <= set(loaded.attributes)
    split = load_fashion_split()
    trouser = split.train.label_names.index("Trouser")
    train = split.train.subset(slice(0, 5_000))
    with threadpool_limits(1):
        judge = LogisticRegression(C=0.01, max_iter=500).fit(
            train.as_float().reshape(len(train), -1), train.labels == trouser
        )
    held_out = split.test.subset(np.flatnonzero(split.test.labels != trouser)[:200])
    x = torch.from_numpy(held_out.as_float())
    with torch.inference_mode():
        z = loaded.model.encode(x)
        before = loaded.model.decode(z).numpy().reshape(len(x), -1)
        after = loaded.model.decode(z + loaded.attributes["trouser"]).numpy().reshape(len(x), -1)
    with threadpool_limits(1):
        raised = judge.predict_proba(after)[:, 1] > judge.predict_proba(before)[:, 1]
    assert raised.mean() >= 0.9, f"only {raised.mean():.0%} of garments look more like trousers"


def test_bits_per_dim_of_flows_is_recorded_consistently():
    for path in bundled_models().values():
        meta = read_metadata(path)
        if meta["family"] in FLOWS:
            assert meta["training"]["test_metric"]["name"] == "test bits/dim"
            assert math.isfinite(meta["training"]["test_metric"]["value"])


def test_bundled_gan_samples_are_closer_to_faces_than_independent_pixels():
    """A GAN has no likelihood: compare its samples with held-out faces by kernel MMD², against
    samples of the independent-Gaussian-per-pixel baseline fitted to the training faces."""
    from latentlab.metrics.mmd import median_distance, mmd2

    loaded = load_model(bundled_models()["dcgan-synthfaces"])
    split = synthfaces_split(n_train=1000, n_validation=1, n_test=1)
    test = torch.from_numpy(make_faces(400, seed=9090)[0]).float() / 255
    train = torch.from_numpy(split.train.as_float())
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        gan = loaded.model.sample(400, generator=generator)
    mean, std = train.mean(0), train.std(0)
    independent = (mean + std * torch.randn(400, *mean.shape, generator=generator)).clamp(0, 1)
    scale = median_distance(test)
    assert mmd2(gan, test, scale) < 0.5 * mmd2(independent, test, scale)  # measured: 0.013, 0.064


def test_every_family_is_bundled_within_the_size_budget():
    paths = bundled_models()
    families = {read_metadata(path)["family"] for path in paths.values()}
    assert families == set(FAMILIES)
    sizes = [path.stat().st_size for path in paths.values()]
    assert max(sizes) < 10 * 2**20 and sum(sizes) < 60 * 2**20
