"""Adam (Kingma & Ba 2015, Algorithm 1) for the app's own optimisation (GAN inversion, the 2-D
lab's fits). ``torch.optim``'s first step imports torch's compiler: about a second, and 130,000
objects that the app's garbage collector would then walk on the GUI thread for as long as it
runs. Trainers, which run outside the app, use ``torch.optim``."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["Adam"]


class Adam:
    """Adam on ``tensors``, each updated in place from its ``.grad`` or from the gradients
    given to :meth:`step`; equal to ``torch.optim.Adam`` without weight decay or amsgrad."""

    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.tensors, self.lr, self.betas, self.eps = list(tensors), lr, betas, eps
        self.m = [torch.zeros_like(x) for x in self.tensors]
        self.v = [torch.zeros_like(x) for x in self.tensors]
        self.steps = [0] * len(self.tensors)  # per tensor: one without a gradient waits

    def zero_grad(self) -> None:
        for x in self.tensors:
            x.grad = None

    @torch.no_grad()
    def step(self, gradients: Sequence[torch.Tensor | None] | None = None) -> None:
        """One update; ``gradients`` default to the tensors' ``.grad`` (None: left as it is)."""
        grads = [x.grad for x in self.tensors] if gradients is None else gradients
        if len(grads) != len(self.tensors):
            raise ValueError(f"{len(grads)} gradients for {len(self.tensors)} tensors")
        given = [(i, g) for i, g in enumerate(grads) if g is not None]
        # the tensors updated together, by their step count (one group unless some tensor
        # went without a gradient): a few multi-tensor operations per group, not several per
        # tensor: every operation lets the GUI thread take the GIL, and beside the lab
        # window's drawing a step of its fit took 23 ms with one operation per tensor, 18 ms
        # with these (7 ms with nothing drawn)
        groups: dict[int, list[tuple[int, torch.Tensor]]] = {}
        for i, g in given:
            self.steps[i] += 1
            groups.setdefault(self.steps[i], []).append((i, g))
        for t, group in groups.items():
            self._update(t, [i for i, _ in group], [g for _, g in group])

    def _update(self, t: int, indices: list[int], grads: list[torch.Tensor]) -> None:
        b1, b2 = self.betas
        xs = [self.tensors[i] for i in indices]
        ms = [self.m[i] for i in indices]
        vs = [self.v[i] for i in indices]
        torch._foreach_lerp_(ms, grads, 1 - b1)
        torch._foreach_mul_(vs, b2)
        torch._foreach_addcmul_(vs, grads, grads, value=1 - b2)
        denominators = torch._foreach_div(vs, 1 - b2**t)
        torch._foreach_sqrt_(denominators)
        torch._foreach_add_(denominators, self.eps)
        torch._foreach_addcdiv_(xs, ms, denominators, value=-self.lr / (1 - b1**t))
