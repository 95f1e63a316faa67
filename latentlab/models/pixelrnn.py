"""PixelRNN with Row LSTM layers: an exact autoregressive likelihood over discrete pixels.

van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks" (ICML 2016):
§2 (the raster and R, G, B ordering; a softmax over discrete levels), §3.1 (Row LSTM, eq. 3),
§3.3 (residual connections), §3.4 (masks A and B), §4 and Table 1 (a k x k mask-A convolution
first, then the recurrent layers, two 1x1 ReLU layers and a softmax last).

    p(x) = prod_i p(x_i | x_<i),  i over sub-pixels in raster order, R before G before B.

Layout, all widths ``hidden``:

* a k x k convolution with mask A on the image (it never sees the sub-pixel it predicts);
* ``layers`` Row LSTM layers, each with a residual connection around it. The input-to-state
  part is a 1 x k convolution along the row with mask B, computed for the whole map at once;
  the state-to-state part is a width-3 1-D convolution over the previous row's hidden state,
  run row by row: [i, f, g, o] = K_ss * h_{r-1} + K_is * x_r, c_r = s(f) c_{r-1} + s(i) tanh(g),
  h_r = s(o) tanh(c_r) (eq. 3; gates in PyTorch's order). The initial h and c are learned;
* ReLU, 1x1 conv (mask B), ReLU, 1x1 conv (mask B) to a softmax over the data's levels for
  every sub-pixel.

With three channels every feature belongs to one of three groups (R, G, B); a group-g feature
may see group < g at the same position (mask A) or group <= g (mask B), and everything earlier
in raster order. The previous row is wholly in the past, so the state-to-state conv is unmasked.

Sampling carries the recurrent state (:meth:`PixelRNN.fill_pixels`): each sub-pixel costs one
step of every layer at its own position instead of a pass over the whole image.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from latentlab.models.base import (
    ConfigError,
    GenerativeModel,
    ImageConfig,
    bounded,
    run_to_end,
    to_levels,
)

__all__ = [
    "DrawObserver",
    "PixelRNN",
    "PixelRNNConfig",
    "draw_from",
    "draw_levels",
    "level_probabilities",
]

#: Called by the sampler with each sub-pixel it draws: its (channel, row, column), the
#: distribution over levels it drew from (``N, levels``, float64) and the levels drawn (``N``).
DrawObserver = Callable[[tuple[int, int, int], torch.Tensor, torch.Tensor], None]


@dataclass
class PixelRNNConfig(ImageConfig):
    hidden: int = bounded(64, 3, 256, "features per layer (a multiple of channels)")
    layers: int = bounded(2, 1, 12, "Row LSTM layers")
    first_kernel: int = bounded(5, 3, 7, "size k of the first, mask-A k x k convolution (odd)")
    row_kernel: int = bounded(
        3,
        3,
        7,
        "width k of each layer's masked 1 x k input-to-state convolution along the row (odd)",
    )

    def check(self) -> None:
        if self.hidden % self.channels:
            raise ConfigError(
                f"PixelRNN hidden ({self.hidden}) must be a multiple of channels ({self.channels})"
            )
        if self.first_kernel % 2 == 0 or self.row_kernel % 2 == 0:
            raise ConfigError("PixelRNN kernel sizes must be odd")


def _groups(size: int, channels: int, repeats: int = 1) -> torch.Tensor:
    """Colour group (0=R, 1=G, 2=B) of each of ``repeats`` consecutive blocks of ``size``
    features: contiguous runs of size/channels. On the CPU whatever the default device: see
    :func:`causal_mask`."""
    return torch.tensor([f * channels // size for f in range(size)] * repeats, device="cpu")


def causal_mask(
    out_groups: torch.Tensor, in_groups: torch.Tensor, kh: int, kw: int, kind: str
) -> torch.Tensor:
    """Mask ``out, in, kh, kw`` of a convolution centred on the predicted position (§3.4).

    Taps above the centre row, and left of the centre on it, are in the past: open. Taps right
    of or below the centre are in the future: shut. At the centre a group-g output sees group
    < g inputs (mask "A") or <= g (mask "B").
    """
    # Built on the CPU and moved: comparisons on the meta device (the model-file checks build
    # a skeleton there) import torch's compiler, which costs seconds.
    mask = torch.zeros(len(out_groups), len(in_groups), kh, kw, device="cpu")
    mask[:, :, : kh // 2] = 1
    mask[:, :, kh // 2, : kw // 2] = 1
    later = in_groups.view(1, -1) < out_groups.view(-1, 1)
    same = in_groups.view(1, -1) == out_groups.view(-1, 1)
    mask[:, :, kh // 2, kw // 2] = (later | same).float() if kind == "B" else later.float()
    return mask.to(torch.get_default_device())


class MaskedConv2d(nn.Conv2d):
    """A convolution whose weights are multiplied by a fixed causal mask on every use."""

    mask: torch.Tensor  # a non-persistent buffer
    bias: torch.Tensor  # never None: built with nn.Conv2d's default bias=True

    def __init__(
        self, in_groups: torch.Tensor, out_groups: torch.Tensor, kh: int, kw: int, kind: str
    ) -> None:
        super().__init__(len(in_groups), len(out_groups), (kh, kw), padding=(kh // 2, kw // 2))
        self.register_buffer(
            "mask", causal_mask(out_groups, in_groups, kh, kw, kind), persistent=False
        )

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.masked_weight(), self.bias, padding=self.padding)


def lstm_cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM update from pre-activations [i, f, g, o] along dim 1 (paper eq. 3)."""
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class RowLSTM(nn.Module):
    """One Row LSTM layer with a residual connection: ``N, hidden, H, W`` in and out."""

    def __init__(self, c: PixelRNNConfig) -> None:
        super().__init__()
        h = c.hidden
        groups = _groups(h, c.channels)
        self.input_to_state = MaskedConv2d(groups, _groups(h, c.channels, 4), 1, c.row_kernel, "B")
        self.state_to_state = nn.Conv1d(h, 4 * h, 3, padding=1)
        self.h0 = nn.Parameter(torch.zeros(h, c.width))  # learned initial states
        self.c0 = nn.Parameter(torch.zeros(h, c.width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, _ = x.shape
        gates_in = self.input_to_state(x)  # N, 4h, H, W: the whole map in one convolution
        h, c = self.h0.expand(n, -1, -1), self.c0.expand(n, -1, -1)  # N, h, W
        rows = []
        for r in range(height):  # the recurrence runs down the rows, all columns at once
            h, c = lstm_cell(gates_in[:, :, r] + self.state_to_state(h), c)
            rows.append(h)
        return torch.stack(rows, dim=2) + x  # N, h, H, W; residual (§3.3)


class PixelRNN(GenerativeModel):
    family = "pixelrnn"
    config_class = PixelRNNConfig
    capabilities = frozenset({"sample", "log_prob", "complete"})
    metric_name = "exact NLL"

    @classmethod
    def tiny_config(cls) -> PixelRNNConfig:
        return PixelRNNConfig(
            channels=3, height=4, width=4, levels=4, hidden=6, layers=1, first_kernel=3
        )

    def __init__(self, config: PixelRNNConfig) -> None:
        super().__init__(config)
        c, h = config, config.hidden
        groups = _groups(h, c.channels)
        self.first = MaskedConv2d(
            _groups(c.channels, c.channels), groups, c.first_kernel, c.first_kernel, "A"
        )
        self.rows = nn.ModuleList(RowLSTM(c) for _ in range(c.layers))
        self.head1 = MaskedConv2d(groups, groups, 1, 1, "B")
        # logits are laid out channel-major (channel * levels + level): group = channel
        self.head2 = MaskedConv2d(groups, _groups(c.channels * c.levels, c.channels), 1, 1, "B")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``N, C, levels, H, W`` of p(x_i | x_<i) for every sub-pixel (teacher forcing)."""
        c = self.config
        features = self.first(x * 2 - 1)
        for layer in self.rows:
            features = layer(features)
        logits = self.head2(F.relu(self.head1(F.relu(features))))  # N, C*levels, H, W
        return logits.view(-1, c.channels, c.levels, c.height, c.width)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) in nats per image: the sum over sub-pixels of log-softmax terms."""
        logp = self(x).log_softmax(dim=2)  # N, C, L, H, W
        return logp.gather(2, to_levels(x, self.levels).unsqueeze(2)).sum(dim=(1, 2, 3, 4))

    def fill_pixels(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        observe: DrawObserver | None = None,
    ) -> Generator[torch.Tensor, None, torch.Tensor]:
        """Sample the sub-pixels of ``x`` (``N,C,H,W`` in [0, 1]) where ``mask`` is True, in
        raster order, carrying the recurrent state: one step of every layer at each position.

        Pixels where ``mask`` is False are kept exactly. Yields a copy of the images after each
        pixel position (H*W times) and returns the finished images. ``observe`` is told of
        every sub-pixel drawn where any image fills it (see :data:`DrawObserver`).
        """
        return _fill_cached(self, x, mask, temperature, generator, observe)

    def fill_pixels_naive(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Generator[torch.Tensor, None, torch.Tensor]:
        """The reference sampler: a full forward pass for every sub-pixel. It draws exactly as
        :meth:`fill_pixels` does from the same generator; slow, for tests and benchmarks."""
        return _fill_naive(self, x, mask, temperature, generator)

    def complete(
        self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Fill the masked sub-pixels of ``x`` by sampling; the rest are returned unchanged."""
        return run_to_end(self.fill_pixels(x, mask, 1.0, generator))

    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` images drawn pixel by pixel, each level from softmax(logits / temperature)."""
        return run_to_end(self.sample_steps(n, temperature, generator))

    def sample_steps(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> Generator[float, None, torch.Tensor]:
        """:meth:`sample`, yielding the fraction done after each row of pixels."""
        blank = torch.zeros(n, *self.image_shape, device=self.head2.weight.device)
        steps = self.fill_pixels(
            blank, torch.ones_like(blank, dtype=torch.bool), temperature, generator
        )
        width, positions = self.config.width, self.config.height * self.config.width
        done = 0
        while True:
            try:
                next(steps)
            except StopIteration as end:
                return end.value
            done += 1
            if done % width == 0:
                yield done / positions


def level_probabilities(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / temperature) over the levels of each row of ``logits`` (``N, levels``),
    in float64: the distribution :func:`draw_levels` draws from."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return torch.softmax(logits.double() / temperature, dim=1)


def draw_levels(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None
) -> torch.Tensor:
    """One level per row of ``logits`` (``N, levels``) from softmax(logits / temperature)."""
    return draw_from(level_probabilities(logits, temperature), generator)


def draw_from(probabilities: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One level per row of ``probabilities`` (``N, levels``).

    Inverse-CDF with one uniform per row, so two samplers that compute (nearly) the same logits
    draw the same levels from the same generator. Never argmax: that collapses to the mode.
    """
    cdf = probabilities.cumsum(dim=1)
    device = probabilities.device
    u = torch.rand(
        len(probabilities),
        1,
        generator=generator,
        dtype=torch.float64,
        device=generator.device if generator is not None else device,
    )
    level = (cdf < u.to(device) * cdf[:, -1:]).sum(dim=1)
    return level.clamp(max=probabilities.shape[1] - 1)


def _check_fill(model: PixelRNN, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The images to fill, with zeros under the mask: what lies there is never seen."""
    if x.shape[1:] != model.image_shape or mask.shape != x.shape or mask.dtype != torch.bool:
        raise ValueError(
            f"expected images N,{','.join(map(str, model.image_shape))} and a "
            f"bool mask of the same shape, got {tuple(x.shape)} and "
            f"{tuple(mask.shape)} {mask.dtype}"
        )
    return torch.where(mask, torch.zeros((), dtype=x.dtype, device=x.device), x)


def _put(
    x: torch.Tensor,
    mask: torch.Tensor,
    index: tuple[int, int, int],
    level: torch.Tensor,
    levels: int,
) -> torch.Tensor:
    """Write a drawn level into sub-pixel ``index`` (channel, row, column) where masked."""
    ch, i, j = index
    value = torch.where(mask[:, ch, i, j], level.to(x.dtype) / (levels - 1), x[:, ch, i, j])
    x[:, ch, i, j] = value
    return value


@torch.no_grad()
def _fill_naive(
    model: PixelRNN,
    x: torch.Tensor,
    mask: torch.Tensor,
    temperature: float,
    generator: torch.Generator | None,
) -> Generator[torch.Tensor, None, torch.Tensor]:
    x = _check_fill(model, x, mask)
    channels, height, width = model.image_shape
    for i in range(height):
        for j in range(width):
            for ch in range(channels):
                logits = model(x)[:, ch, :, i, j]  # N, L: the whole image for one sub-pixel
                _put(x, mask, (ch, i, j), draw_levels(logits, temperature, generator), model.levels)
            yield x.clone()
    return x


@torch.no_grad()
def _fill_cached(
    model: PixelRNN,
    x: torch.Tensor,
    mask: torch.Tensor,
    temperature: float,
    generator: torch.Generator | None,
    observe: DrawObserver | None = None,
) -> Generator[torch.Tensor, None, torch.Tensor]:
    """The sampler of :meth:`PixelRNN.fill_pixels`; the same arithmetic as ``forward``,
    reorganised so that all a position needs is kept from the positions before it.

    Per layer it keeps the current row's input features (position-major, left-padded for the
    1 x k convolution), the current and previous rows' h and c, and the state-to-state part of
    the gates for the whole current row, computed once when the row starts.
    """
    x = _check_fill(model, x, mask)
    rows = cast(list[RowLSTM], list(model.rows))  # ModuleList items are typed Module
    c = model.config
    n, hid, levels = len(x), c.hidden, c.levels
    r1, r2 = c.first_kernel // 2, c.row_kernel // 2
    # 2x-1 as in forward, zero-padded as its convolution pads: left, right and top
    x_in = F.pad(x * 2 - 1, (r1, r1, r1, 0))  # N, C, r1+H, W+2*r1
    w_first = model.first.masked_weight()[:, :, : r1 + 1].reshape(hid, -1).T  # C*(r1+1)*k, h
    w_rows = [
        layer.input_to_state.masked_weight()[:, :, 0, : r2 + 1]  # 4h, h, r2+1
        .permute(2, 1, 0)
        .reshape(-1, 4 * hid)
        for layer in rows
    ]  # (r2+1)*h, 4h
    w_head1 = model.head1.masked_weight()[:, :, 0, 0].T  # h, h
    w_head2 = model.head2.masked_weight()[:, :, 0, 0].T  # h, C*L
    inputs = [x.new_zeros(n, r2 + c.width, hid) for _ in rows]  # position-major rows
    h_prev = [layer.h0.expand(n, -1, -1) for layer in rows]  # N, h, W
    c_prev = [layer.c0.T.expand(n, -1, -1) for layer in rows]  # N, W, h
    h_cur = [x.new_zeros(n, c.width, hid) for _ in rows]
    c_cur = [x.new_zeros(n, c.width, hid) for _ in rows]
    masked = mask.flatten(2).any(dim=1).any(dim=0).nonzero()  # positions any image fills
    last = int(masked[-1]) if len(masked) else -1
    for i in range(c.height):
        gates_prev = [  # N, W, 4h: state-to-state for the whole row plus the input bias
            (layer.state_to_state(h).transpose(1, 2) + layer.input_to_state.bias)
            for layer, h in zip(rows, h_prev, strict=True)
        ]
        for j in range(c.width):
            if i * c.width + j > last:  # nothing left to fill: keep the rest as it is
                yield x.clone()
                continue
            for ch in range(c.channels):
                window = x_in[:, :, i : i + r1 + 1, j : j + 2 * r1 + 1].reshape(n, -1)
                feature = torch.addmm(model.first.bias, window, w_first)  # N, h
                for k in range(c.layers):
                    inputs[k][:, r2 + j] = feature
                    gates = torch.addmm(
                        gates_prev[k][:, j], inputs[k][:, j : j + r2 + 1].reshape(n, -1), w_rows[k]
                    )
                    h_new, c_cur[k][:, j] = lstm_cell(gates, c_prev[k][:, j])
                    h_cur[k][:, j] = h_new
                    feature = h_new + feature  # the residual connection
                hidden = torch.addmm(model.head1.bias, F.relu(feature), w_head1).relu_()
                part = slice(ch * levels, (ch + 1) * levels)
                logits = torch.addmm(model.head2.bias[part], hidden, w_head2[:, part])
                probabilities = level_probabilities(logits, temperature)
                level = draw_from(probabilities, generator)
                if observe is not None and bool(mask[:, ch, i, j].any()):
                    observe((ch, i, j), probabilities, level)
                value = _put(x, mask, (ch, i, j), level, levels)
                x_in[:, ch, r1 + i, r1 + j] = value * 2 - 1
            yield x.clone()
        h_prev = [h.transpose(1, 2) for h in h_cur]  # N, h, W
        c_prev, h_cur = c_cur, [x.new_zeros(n, c.width, hid) for _ in rows]
        c_cur = [x.new_zeros(n, c.width, hid) for _ in rows]
    return x
