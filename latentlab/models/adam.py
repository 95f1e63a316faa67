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
        b1, b2 = self.betas
        grads = [x.grad for x in self.tensors] if gradients is None else gradients
        for i, (x, m, v, g) in enumerate(zip(self.tensors, self.m, self.v, grads, strict=True)):
            if g is None:
                continue
            self.steps[i] += 1
            t = self.steps[i]
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            x.addcdiv_(m, (v / (1 - b2**t)).sqrt_().add_(self.eps), value=-self.lr / (1 - b1**t))
