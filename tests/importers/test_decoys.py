"""What is not an importable checkpoint is refused in one line, and nothing in it runs."""

from __future__ import annotations

import os

import pytest
import torch
from foreign import examples_vae, net_d, net_g, save_state
from helpers import write_tiny_vae
from torch import nn

from latentlab.importers import FORMAT_NAMES, import_checkpoint, load_any
from latentlab.importers.dispatch import FORMATS
from latentlab.modelfile import ModelFileError


def refusal(path, format: str = "auto") -> str:
    """The one line that importing ``path`` is refused with."""
    with pytest.raises(ModelFileError) as refused:
        import_checkpoint(path, format)
    message = str(refused.value)
    assert message.startswith(f"{path.name}: ") and "\n" not in message
    assert "Traceback" not in message and len(message) <= 400
    return message


class Planted:
    """Unpickling it would create the folder ``marker``."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_pickled_whole_module_is_refused_and_says_to_save_its_state_dict(tmp_path):
    for model in (net_g(), nn.Sequential(nn.Linear(3, 2))):
        path = tmp_path / "whole.pth"
        torch.save(model, path)
        message = refusal(path)
        assert "a whole pickled module cannot be opened safely" in message
        assert "torch.save(model.state_dict()" in message


def test_code_in_a_pickle_never_runs(tmp_path):
    marker = tmp_path / "planted"
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "payload": Planted(marker)}, path)
    assert "pickled Python objects" in refusal(path)
    with pytest.raises(ModelFileError):
        load_any(path)
    assert not marker.exists()


def test_an_unknown_architecture_is_described(tmp_path):
    net = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Conv2d(3, 8, 3))
    message = refusal(save_state(tmp_path / "mystery.pth", net))
    assert "a state dict of an unknown architecture" in message
    assert "0.weight [400, 784], 0.bias [400], 2.weight [8, 3, 3, 3], 2.bias [8] (4 tensors)" in (
        message
    )
    assert all(name in message for name in FORMAT_NAMES)


def test_the_discriminator_is_recognised_and_refused(tmp_path):
    for nc in (1, 3):
        message = refusal(save_state(tmp_path / f"netD_epoch_{nc}.pth", net_d(nc=nc)))
        assert "discriminator" in message and "netG_*.pth" in message
    path = save_state(tmp_path / "netD.pth", net_d(ndf=64))  # the examples' own size
    assert "discriminator" in refusal(path, "dcgan-pytorch-examples")


def test_a_file_of_another_format_than_the_one_named(tmp_path):
    path = save_state(tmp_path / "vae.pth", examples_vae(2, 32))
    message = refusal(path, "dcgan-pytorch-examples")
    assert message.startswith("vae.pth: not the generator of the pytorch/examples DCGAN")
    assert "fc1.weight [32, 784]" in message


def test_truncated_empty_and_other_files(tmp_path):
    whole = save_state(tmp_path / "whole.pth", net_g()).read_bytes()
    cases = {
        "truncated.pth": (whole[: len(whole) // 2], "truncated or corrupt"),
        "empty.pth": (b"", "the file is empty"),
        "noise.bin": (b"\x00\x01 no checkpoint" * 20, "neither a PyTorch checkpoint"),
    }
    for name, (data, why) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert why in refusal(path)


def test_what_is_not_a_state_dict(tmp_path):
    cases = {
        "tensor.pth": (torch.zeros(3), "it holds a Tensor, not a state dict"),
        "epochs.pth": ({"epoch": 3, "lr": 0.1}, "its entries are 'epoch', 'lr'"),
        "nothing.pth": ({}, "holds no tensors"),
        "nan.pth": ({"fc1.weight": torch.tensor([float("nan")])}, "NaN or infinite"),
        "complex.pth": (
            {"w": torch.zeros(2, dtype=torch.complex64)},
            "not a dense tensor of real numbers",
        ),
    }
    for name, (content, why) in cases.items():
        torch.save(content, tmp_path / name)
        assert why in refusal(tmp_path / name)


def test_load_any_opens_model_files_and_converts_checkpoints(tmp_path):
    native, notice = load_any(write_tiny_vae(tmp_path / "tiny.safetensors"))
    assert notice == "" and native.model.family == "vae"
    converted, notice = load_any(save_state(tmp_path / "netG.pth", net_g()))
    assert converted.model.family == "dcgan"
    assert notice.startswith("netG.pth: the generator of the pytorch/examples DCGAN, converted")
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(ModelFileError, match=r"notes\.txt: not a safetensors model file"):
        load_any(text)


def test_the_command_line_names_every_format():
    """latentlab.importers names the formats without loading torch; they are the dispatcher's."""
    assert tuple(FORMATS) == FORMAT_NAMES
