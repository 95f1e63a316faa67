"""The 2-D flows of the lab: the shared flow invariants, per-layer log-dets against autograd,
the couplings' triangular Jacobians, and a density that integrates to 1."""

from __future__ import annotations

import math

import pytest
import torch
from flowcheck import check_flow, perturb

from latentlab.data.toy2d import make_toy
from latentlab.explore.lab_flow import Box, density_grid
from latentlab.models.flow2d import FLOW2D_KINDS, Flow2D

KINDS = list(FLOW2D_KINDS)


pytestmark = pytest.mark.usefixtures("one_thread")  # small problems


def _moons(n: int = 512) -> torch.Tensor:
    return torch.from_numpy(make_toy("moons", n))


def _perturbed(kind: str, layers: int) -> Flow2D:
    flow = Flow2D(kind, layers, hidden=16)
    flow.initialize(_moons())
    return perturb(flow, std=0.3).eval()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers", [1, 2, 5])
def test_round_trip_and_log_dets_add_up(kind, layers):
    flow = _perturbed(kind, layers)
    x = _moons(64)
    check_flow(flow.chain, x[:8].view(-1, 2, 1, 1))
    with torch.no_grad():
        z, logdet = flow(x)
        back, inverse_logdet = flow.inverse(z)
        torch.testing.assert_close(back, x, atol=1e-4, rtol=0)
        torch.testing.assert_close(inverse_logdet, -logdet, atol=1e-4, rtol=1e-5)
        assert torch.equal(flow.invert(z), back)
        outputs = flow.forward_layers(x)
    assert len(outputs) == len(flow.steps)
    torch.testing.assert_close(outputs[-1][0], z)
    torch.testing.assert_close(sum(ld for _, ld in outputs), logdet, atol=1e-5, rtol=1e-5)
    assert logdet.abs().max() > 1e-3 or (kind == "nice" and layers == 1)  # not trivially zero


@pytest.mark.parametrize("kind", KINDS)
def test_each_layer_log_det_is_log_abs_det_of_its_jacobian(kind):
    flow = _perturbed(kind, 3).double()
    x = _moons(4).double()
    with torch.no_grad():
        outputs = flow.forward_layers(x)
        inputs = [x, *[out for out, _ in outputs][:-1]]
        logdets = [ld for _, ld in outputs]
    for i, step in enumerate(flow.steps):
        layer = flow.layer(i)
        for n in range(len(x)):
            jac = torch.autograd.functional.jacobian(
                lambda v, layer=layer: layer(v.view(1, 2, 1, 1))[0].flatten(), inputs[i][n]
            )
            assert abs(torch.linalg.slogdet(jac)[1].item() - logdets[i][n].item()) < 1e-9
            if step.copied is not None:
                # the copied coordinate passes unchanged: its row of the Jacobian is a unit row
                row = jac[step.copied]
                assert row[step.copied].item() == 1.0 and row[step.transformed].item() == 0.0
                assert jac[step.transformed, step.copied].abs().item() > 0  # t depends on it


@pytest.mark.parametrize("kind", KINDS)
def test_steps_name_the_layers_and_alternate(kind):
    flow = Flow2D(kind, 4)
    couplings = [s for s in flow.steps if s.copied is not None]
    assert [s.copied for s in couplings] == [0, 1, 0, 1]
    assert [s.transformed for s in couplings] == [1, 0, 1, 0]
    assert couplings[0].label.startswith("coupling 1 (")
    assert "copies x1, transforms x2" in couplings[0].label
    expected = {"nice": 5, "realnvp": 4, "glow": 12}[kind]
    assert len(flow.steps) == expected == len(flow.chain.layers)
    if kind == "glow":
        assert [s.label for s in flow.steps[:2]] == ["actnorm", "2x2 mixing"]
    if kind == "nice":
        assert flow.steps[-1].label == "diagonal scaling"


def test_same_seed_same_flow_and_global_rng_untouched():
    torch.manual_seed(7)
    expected = torch.rand(1)
    torch.manual_seed(7)
    a, b = Flow2D("glow", 3, seed=5), Flow2D("glow", 3, seed=5)
    assert torch.rand(1) == expected
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_actnorm_initialises_on_the_first_batch():
    x = _moons(1000) * 3 + 5
    flow = Flow2D("glow", 2)
    flow.train()
    with torch.no_grad():
        h = flow.layer(0)(x.view(-1, 2, 1, 1))[0].view(-1, 2)
    torch.testing.assert_close(h.mean(0), torch.zeros(2), atol=1e-4, rtol=0)
    torch.testing.assert_close(h.std(0, correction=0), torch.ones(2), atol=1e-4, rtol=0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown 2-D flow"):
        Flow2D("maf", 2)
    with pytest.raises(ValueError, match="layers"):
        Flow2D("realnvp", 0)
    with pytest.raises(ValueError, match="layers"):
        Flow2D("realnvp", 33)


def _mass(flow: Flow2D) -> float:
    """The integral of p(x) over [-6, 6]^2 (holding the data, within [-4, 4]^2) by the
    midpoint rule on a fine grid."""
    box = Box(-6.0, 6.0, -6.0, 6.0)
    density, _ = density_grid(flow.eval(), box, 400)
    return float(density.astype("float64").sum() * box.cell_area(400))


@pytest.mark.parametrize("kind", KINDS)
def test_density_integrates_to_one_at_init_and_after_training(kind):
    x = _moons(2000)
    flow = Flow2D(kind, 4, hidden=32)
    flow.initialize(x)
    assert abs(_mass(flow) - 1) < 0.02
    optimizer = torch.optim.Adam(flow.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(0)
    flow.train()
    start = -flow.log_prob(x).mean().item()
    for _ in range(150):
        batch = x[torch.randint(len(x), (256,), generator=generator)]
        loss = -flow.log_prob(batch).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        assert -flow.log_prob(x).mean().item() < start - 0.2  # it learned something
    assert abs(_mass(flow) - 1) < 0.02


def test_log_prob_and_samples():
    flow = _perturbed("realnvp", 3)
    x = _moons(10)
    with torch.no_grad():
        z, logdet = flow(x)
        expected = -0.5 * (z**2).sum(1) - math.log(2 * math.pi) + logdet
        torch.testing.assert_close(flow.log_prob(x), expected)
        samples = flow.sample(100, generator=torch.Generator().manual_seed(1))
        again = flow.sample(100, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (100, 2) and torch.equal(samples, again)
