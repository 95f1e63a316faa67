"""One description of a model for ``latentlab info`` and the app's model panel."""

from __future__ import annotations

from latentlab.explore.describe import describe, model_info
from latentlab.modelfile import load_model


def test_the_lines_word_the_facts(tiny_vae_path):
    loaded = load_model(tiny_vae_path)
    lines = dict(describe(model_info(loaded)))
    assert lines["name"] == "tiny-vae" and lines["path"] == str(tiny_vae_path)
    assert lines["image"] == "1x8x8 (channels x height x width), 17 levels"
    assert lines["dataset"] == "digits, 1797 images, labels 0 1 2 3 4 5 6 7 8 9"
    assert lines["training"] == "0 epochs, 0 steps, 0.0 s on cpu"
    assert lines["test metric"] == "IWAE bound (nats): -150.000"
    assert lines["latent dim"] == "2" and lines["attributes"] == "none"


def test_a_selection_keeps_the_order_and_missing_facts_say_so(tiny_vae_path):
    loaded = load_model(tiny_vae_path)
    loaded.path = None
    info = model_info(loaded)
    assert [label for label, _ in describe(info, {"parameters", "family", "path"})] == [
        "path",
        "family",
        "parameters",
    ]
    assert dict(describe(info))["path"] == "unsaved"
    no_latent = dict(describe({**info, "latent_dim": None, "test_metric": None}))
    assert no_latent["latent dim"] == "none" and no_latent["test metric"] == "-"
