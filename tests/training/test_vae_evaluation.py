"""The VAE's test metric: the IWAE bound in chunks under a memory cap, and k by image size."""

from __future__ import annotations

import pytest
import torch

from latentlab.models.vae import IWAE_CHUNK_BYTES, VAE, VAEConfig
from training import vae

DIGIT_DECODE = 1 * 8 * 8 * 17 * 4  # bytes of one decode's logits: 8x8 greyscale, 17 levels


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return VAE(VAEConfig(latent_dim=2, hidden=4, dense=8)).eval()


def bound(model, x, max_bytes, samples=10, progress=None):
    torch.manual_seed(3)
    with torch.no_grad():
        return model.log_prob(x, samples=samples, max_bytes=max_bytes, progress=progress)


def test_the_chunks_fill_the_cap_with_whole_images_first(tiny):
    assert tiny.iwae_chunks(10, 30 * DIGIT_DECODE) == (3, 10)  # all of an image's samples
    assert tiny.iwae_chunks(10, 3 * DIGIT_DECODE) == (1, 3)  # one image, samples in chunks
    assert tiny.iwae_chunks(10, 1) == (1, 1)  # never less than one decode


@pytest.mark.parametrize(
    ("shape", "k", "chunks"),
    [((1, 28, 28), 64, (5, 64)), ((1, 28, 28), 1000, (1, 334)), ((3, 128, 128), 64, (1, 5))],
)
def test_a_chunk_of_bigger_images_stays_under_the_cap(shape, k, chunks):
    c, h, w = shape
    with torch.device("meta"):  # the shapes only
        model = VAE(VAEConfig(channels=c, height=h, width=w, levels=256, hidden=4, dense=8))
    images, samples = model.iwae_chunks(k)
    assert (images, samples) == chunks
    assert images * samples * c * h * w * 256 * 4 <= IWAE_CHUNK_BYTES


def test_chunking_does_not_change_the_bound(tiny):
    x = torch.rand(7, 1, 8, 8)
    whole = bound(tiny, x, max_bytes=2**40)  # one chunk: the unchunked computation
    done = []
    for cap in (3 * DIGIT_DECODE, 25 * DIGIT_DECODE):  # (1 image, 3 samples), (2 images, 10)
        torch.testing.assert_close(bound(tiny, x, cap, progress=done.append), whole)
    assert done == [1] * 7 + [2, 2, 2, 1]  # images done per chunk of images
    assert torch.isfinite(whole).all() and whole.shape == (7,)


def test_k_defaults_by_image_size():
    config = vae.parse(["--out", "x.safetensors"])
    shapes = [(1, 8, 8), (1, 16, 16), (1, 28, 28), (3, 32, 32)]
    assert [vae.iwae_samples(config, s) for s in shapes] == [1000, 1000, 64, 64]
    chosen = vae.parse(["--out", "x.safetensors", "--iwae-k", "5"])
    assert vae.iwae_samples(chosen, (3, 64, 64)) == 5
