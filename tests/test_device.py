"""Choosing the device models run on (``--device``), on the CPU only: CUDA and MPS are faked."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import make_tiny_vae

from latentlab.device import (
    CPU_FAMILIES,
    DeviceError,
    device_choice,
    device_for,
    device_label,
    place_model,
    resolve_device,
)
from latentlab.errors import UserError, one_line
from latentlab.explore import ops


@pytest.fixture
def machine(monkeypatch):
    """This machine's CUDA and MPS, as a test sets them (both absent to begin with)."""

    class Machine:
        cuda = False
        gpus = 1
        mps = False

    fake = Machine()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: fake.cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: fake.gpus if fake.cuda else 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: fake.mps)
    return fake


def test_cpu_is_the_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_on_this_machine_is_the_cpu():
    # tests stay on the CPU: the suite's machine has neither CUDA nor MPS
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_takes_cuda_then_mps_then_the_cpu(machine, cuda, mps, expected):
    machine.cuda, machine.mps = cuda, mps
    assert resolve_device("auto").type == expected


def placed(name: str, family: str) -> tuple[torch.device, str]:
    """Where a model of ``family`` runs for the ``--device`` choice ``name``, as the app and
    the command line place it."""
    return device_for(resolve_device(name), name, family)


@pytest.mark.parametrize("gpu", ["cuda", "mps"])
def test_auto_keeps_pixelrnn_on_the_cpu_and_says_why(machine, gpu):
    """PixelRNN sampled at 0.45 of the CPU's images/s on a GPU (benchmarks/devices.py)."""
    setattr(machine, gpu, True)
    assert CPU_FAMILIES.keys() == {"pixelrnn"}
    device, notice = placed("auto", "pixelrnn")
    assert device == torch.device("cpu")
    assert (
        notice == f"PixelRNN runs on the CPU, where it samples faster (--device {gpu} for the GPU)"
    )
    assert placed(gpu, "pixelrnn") == (torch.device(gpu), "")  # asked for, it goes there
    for family in ("vae", "glow", "gmm", "dcgan", "nice", "realnvp"):
        assert placed("auto", family) == (torch.device(gpu), ""), family


def test_pixelrnn_on_a_machine_without_a_gpu_needs_no_notice(machine):
    assert placed("auto", "pixelrnn") == (torch.device("cpu"), "")
    assert placed("cpu", "pixelrnn") == (torch.device("cpu"), "")


def test_cuda_without_cuda_names_what_is_missing(machine):
    with pytest.raises(DeviceError) as raised:
        resolve_device("cuda")
    message = one_line(raised.value)
    assert message.startswith("--device cuda: this machine has no CUDA device")
    assert isinstance(raised.value, UserError)  # the command line reports it in one line
    if torch.version.cuda is None:
        assert f"torch {torch.__version__} was built without CUDA" in message


def test_a_cuda_device_beyond_those_present(machine):
    machine.cuda, machine.gpus = True, 2
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(DeviceError, match=r"--device cuda:2: .* cuda:0 to cuda:1$"):
        resolve_device("cuda:2")


def test_mps_without_mps(machine):
    with pytest.raises(DeviceError, match="--device mps: this machine has no Apple MPS device"):
        resolve_device("mps")


@pytest.mark.parametrize(
    ("text", "name"), [("auto", "auto"), (" CUDA:1 ", "cuda:1"), ("Mps", "mps")]
)
def test_choices_are_spelled_loosely(text, name):
    assert device_choice(text) == name


@pytest.mark.parametrize(
    "text", ["gpu", "cuda:", "cuda:x", "cuda:\u0661", "cuda1", "cpu:0", "", "xla"]
)
def test_other_choices_are_refused(text):
    with pytest.raises(ValueError, match="is not one of auto, cpu, cuda, cuda:N, mps"):
        device_choice(text)


def test_labels(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Big GPU")
    assert device_label(torch.device("cpu")) == "CPU"
    assert device_label(torch.device("mps")) == "Apple MPS"
    assert device_label(torch.device("cuda:0")) == "CUDA: Big GPU"


def test_a_model_is_placed_on_the_device():
    model = make_tiny_vae()
    assert place_model(model, torch.device("cpu")) == (torch.device("cpu"), "")
    assert ops.model_device(model) == torch.device("cpu")
    assert ops.model_device(model.to("meta")) == torch.device("meta")


def test_a_failed_move_leaves_the_model_on_the_cpu(monkeypatch):
    model = make_tiny_vae()
    moves = []
    real_to = torch.nn.Module.to

    def to(self, device):
        moves.append(torch.device(device).type)
        if torch.device(device).type != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_to(self, device)

    monkeypatch.setattr(type(model), "to", to)
    device, notice = place_model(model, torch.device("cuda"))
    assert device == torch.device("cpu") and moves == ["cuda", "cpu"]
    assert notice.startswith("Moving the model to cuda failed (OutOfMemoryError: CUDA out of")
    assert notice.endswith("; it runs on the CPU") and "\n" not in notice
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_importing_the_module_does_not_import_torch():
    # the command line parses --device at once; torch comes only with a model
    code = "import sys, latentlab.device; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_cpu_thread_count_reaches_blas_libraries_loaded_later():
    # in a fresh process: SciPy's OpenBLAS (scikit-learn's) loads after the count is set
    code = (
        "import numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "from latentlab.device import use_cpu_threads\n"
        "use_cpu_threads(1)\n"
        "import scipy.linalg\n"
        "import torch\n"
        "blas = [p for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "assert len(blas) == 2 and all(p['num_threads'] == 1 for p in blas), blas\n"
        "assert torch.get_num_threads() == 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
