"""The lab process's flow fits driven as the window drives them, without a process: each
command's replies, decoded as the window decodes them."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.data.toy2d import make_toy
from latentlab.explore.lab_fits import FlowFits
from latentlab.explore.lab_messages import (
    REPLIES,
    Built,
    Controls,
    Discard,
    Ended,
    Failed,
    Fit,
    Quit,
    Stop,
    Viewed,
    ViewWanted,
)
from latentlab.explore.wire import decode

pytestmark = pytest.mark.usefixtures("one_thread")  # small problems

RUNNING = Controls(False, None, 1)


class Window:
    """The replies sent, decoded, with whether each may be dropped for a newer one."""

    def __init__(self) -> None:
        self.replies: list[tuple[object, bool]] = []
        self.fits = FlowFits(self.receive)

    def receive(self, data: bytes, replaceable: bool) -> None:
        self.replies.append((decode(data, REPLIES), replaceable))

    def taken(self) -> list[object]:
        replies = [reply for reply, _ in self.replies]
        self.replies.clear()
        return replies


def _fit(number=1, points=None, steps=1000, controls=RUNNING) -> Fit:
    points = make_toy("moons", 300) if points is None else points
    return Fit(number, points, "realnvp", 2, steps, controls)


def test_a_fit_is_built_runs_pauses_stops_and_still_answers_views():
    window = Window()
    fits = window.fits
    assert fits.handle(_fit())
    (built,) = window.taken()
    assert isinstance(built, Built) and built.fit == 1 and len(built.steps) == 2
    assert built.shown.shape == (300, 2)
    fits.advance()
    fits.advance()
    (first, _), (second, replaceable) = window.replies
    assert isinstance(second, Viewed) and replaceable and second.fit == 1
    assert first.fraction == 0.0 and second.view.layer == 1
    window.taken()

    fits.handle(Controls(True, (0.5, 0.25), 0))
    fits.advance()
    (paused,) = window.taken()
    assert paused.view.paused and paused.view.layer == 0
    assert paused.view.jacobian.point == (0.5, 0.25)

    fits.handle(Stop())
    assert not fits.running
    (ended,) = window.taken()
    assert isinstance(ended, Ended) and ended.view is None
    fits.handle(ViewWanted())
    (asked,) = window.taken()
    assert isinstance(asked, Viewed) and asked.fraction is None

    fits.handle(Discard())
    fits.handle(ViewWanted())  # forgotten: no view
    assert window.taken() == []
    assert not fits.handle(Quit())


def test_a_run_ends_with_its_last_view_finished():
    window = Window()
    window.fits.handle(_fit(steps=3))
    while window.fits.running:
        window.fits.advance()
    *_, (ended, replaceable) = window.replies
    assert isinstance(ended, Ended) and not replaceable
    assert ended.view.finished and ended.view.step == 3


def test_a_new_fit_replaces_the_running_one():
    window = Window()
    window.fits.handle(_fit(1))
    window.fits.advance()
    window.fits.handle(_fit(2))
    window.fits.advance()
    assert [reply.fit for reply in window.taken()] == [1, 1, 2, 2]


def test_errors_come_back_as_failures_and_the_fits_go_on():
    window = Window()
    bad = np.full((20, 2), np.nan, dtype=np.float32)
    window.fits.handle(_fit(1, points=bad))
    (failed,) = window.taken()
    assert isinstance(failed, Failed) and failed.fit == 1 and "finite" in failed.message
    assert not window.fits.running

    window.fits.handle(_fit(2))
    lab = window.fits.lab

    def diverged() -> float:
        raise FloatingPointError("the training loss became nan at step 1")

    lab.train_step = diverged
    window.fits.advance()  # the first view
    window.fits.advance()  # a training step
    *_, failed = window.taken()
    assert isinstance(failed, Failed) and "the training loss became nan" in failed.message
    assert not window.fits.running
