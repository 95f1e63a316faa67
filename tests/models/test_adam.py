"""The app's own Adam takes torch.optim.Adam's steps, without importing torch's compiler."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from latentlab.models.adam import Adam


def test_it_takes_torchs_adam_steps_on_several_tensors():
    torch.manual_seed(0)
    ours = [torch.randn(6), torch.randn(2, 3)]
    theirs = [x.clone().requires_grad_() for x in ours]
    adam, reference = Adam(ours, 0.05), torch.optim.Adam(theirs, lr=0.05)
    for step in range(40):
        gradients = [4 * (x - 1) ** 3 for x in ours]  # the gradient of sum((x - 1)^4)
        gradients[1] = None if step % 5 == 0 else gradients[1]  # a tensor without a gradient
        adam.step(gradients)
        for x, g in zip(theirs, gradients, strict=True):
            x.grad = None if g is None else 4 * (x.detach() - 1) ** 3
        reference.step()
    for x, y in zip(ours, theirs, strict=True):
        assert torch.allclose(x, y.detach(), atol=1e-6)
        assert not torch.allclose(x, torch.zeros_like(x))


def test_gradients_must_match_the_tensors():
    adam = Adam([torch.ones(2), torch.ones(3)], lr=0.1)
    with pytest.raises(ValueError, match="1 gradients for 2 tensors"):
        adam.step([torch.ones(2)])


def test_it_reads_grad_and_zero_grad_clears_it():
    x = torch.ones(3, requires_grad=True)
    adam = Adam([x], lr=0.1)
    (x**2).sum().backward()
    adam.step()
    assert torch.all(x.detach() < 1)
    adam.zero_grad()
    assert x.grad is None


def test_a_lab_fit_imports_no_compiler():
    """torch.optim's first step imports torch._dynamo (and sympy): on the lab's worker that was
    a stall of the GUI thread and 130,000 objects for every later garbage collection."""
    code = (
        "import sys\n"
        "from latentlab.data.toy2d import make_toy\n"
        "from latentlab.explore.lab_flow import FlowLab\n"
        "lab = FlowLab(make_toy('moons', 300), 'glow', 2)\n"
        "for _ in lab.run(5, frame_seconds=0.0): pass\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
