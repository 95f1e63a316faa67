"""What the 2-D lab's window and its flow process say to each other (sent with
:mod:`latentlab.explore.wire`): commands to the process, replies from it. Every reply names
the fit it is about, so that the window can drop the replies about a fit it has since replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentlab.explore.lab_flow import FlowLabView
from latentlab.models.flow2d import Flow2DStep

__all__ = [
    "COMMANDS",
    "REPLIES",
    "Built",
    "Command",
    "Controls",
    "Discard",
    "Ended",
    "Failed",
    "Fit",
    "Quit",
    "Reply",
    "Stop",
    "ViewWanted",
    "Viewed",
]


# commands: the window to the process


@dataclass
class Controls:
    """The fit's controls, all of them whenever one changes."""

    paused: bool
    cursor: tuple[float, float] | None
    layer: int


@dataclass
class Fit:
    """Build a new fit of ``points`` (replacing any other) and run it for ``steps`` steps."""

    fit: int
    points: np.ndarray  # N, 2 float32
    kind: str
    layers: int
    steps: int
    controls: Controls


@dataclass
class Stop:
    """Stop the running fit; its model stays for views."""


@dataclass
class ViewWanted:
    """A view of the stopped fit as its controls are now."""


@dataclass
class Discard:
    """Stop the fit and forget it."""


@dataclass
class Quit:
    """End the process."""


# replies: the process to the window


@dataclass
class Built:
    """The fit is in place: its flow's leaf layers and the points its views show."""

    fit: int
    steps: list[Flow2DStep]
    shown: np.ndarray  # N, 2: FlowLab.shown_points, in the order of the views' points


@dataclass
class Viewed:
    """A view, from the running fit (``fraction`` done) or asked for once stopped (None)."""

    fit: int
    fraction: float | None
    view: FlowLabView


@dataclass
class Ended:
    """The run ended: finished (its last view) or stopped (None)."""

    fit: int
    view: FlowLabView | None


@dataclass
class Failed:
    """Building, running or viewing the fit raised; ``message`` is one line for the user."""

    fit: int
    message: str


Command = Controls | Fit | Stop | ViewWanted | Discard | Quit
Reply = Built | Viewed | Ended | Failed

COMMANDS: dict[str, type] = {
    c.__name__: c for c in (Controls, Fit, Stop, ViewWanted, Discard, Quit)
}
REPLIES: dict[str, type] = {c.__name__: c for c in (Built, Viewed, Ended, Failed)}
