"""A long job that waits for the user (yields None) does not hold the worker; what a job
imports is frozen out of the cycle collector's way."""

from __future__ import annotations

import gc
import importlib
import sys
import threading

import pytest

from latentlab.app.model_code import load_model_code
from latentlab.app.worker import Worker


class Outcomes:
    """Every outcome the worker reported, in order, as the GUI thread receives them."""

    def __init__(self, worker: Worker) -> None:
        self.events: list[tuple] = []
        worker.finished.connect(lambda seq, result: self.events.append(("finished", seq, result)))
        worker.cancelled.connect(lambda seq: self.events.append(("cancelled", seq)))
        worker.failed.connect(lambda seq, message: self.events.append(("failed", seq, message)))


@pytest.fixture
def worker():
    worker = Worker("test worker")
    yield worker
    worker.stop()
    assert worker.wait(5000)


def waits_for(go: threading.Event, said: list[str] | None = None):
    """A long job that yields None until ``go`` is set, then returns "done"; ``said`` gets
    "waiting" when it first waits and "closed" when it is closed."""
    try:
        if said is not None:
            said.append("waiting")
        while not go.wait(0.01):
            yield None
        yield 0.5
        return "done"
    finally:
        if said is not None:
            said.append("closed")


def test_work_queued_behind_a_waiting_job_runs_meanwhile(qtbot, worker):
    outcomes, go = Outcomes(worker), threading.Event()
    worker.submit(1, lambda: waits_for(go))
    worker.submit(2, lambda: "short")
    qtbot.waitUntil(lambda: ("finished", 2, "short") in outcomes.events, timeout=2000)
    assert outcomes.events == [("finished", 2, "short")]  # the waiting job has not ended
    go.set()
    qtbot.waitUntil(lambda: len(outcomes.events) == 2, timeout=2000)
    assert outcomes.events[1] == ("finished", 1, "done")


def test_a_waiting_job_can_be_cancelled(qtbot, worker):
    outcomes, said = Outcomes(worker), []
    worker.submit(1, lambda: waits_for(threading.Event(), said))
    qtbot.waitUntil(lambda: said == ["waiting"], timeout=2000)
    worker.cancel(1)
    qtbot.waitUntil(lambda: outcomes.events == [("cancelled", 1)], timeout=2000)
    assert said == ["waiting", "closed"]


def test_stopping_the_worker_closes_a_waiting_job(qtbot):
    worker, said = Worker("test worker"), []
    worker.submit(1, lambda: waits_for(threading.Event(), said))
    qtbot.waitUntil(lambda: said == ["waiting"], timeout=2000)
    worker.stop()
    assert worker.wait(2000)
    assert said == ["waiting", "closed"]


def test_a_long_job_that_raises_is_reported(qtbot, worker):
    def broken():
        yield None
        raise RuntimeError("bad step")

    outcomes = Outcomes(worker)
    worker.submit(1, broken)
    qtbot.waitUntil(lambda: bool(outcomes.events), timeout=2000)
    [(kind, seq, message)] = outcomes.events
    assert (kind, seq) == ("failed", 1) and "bad step" in message


def test_what_a_job_imports_is_frozen(qtbot, worker, tmp_path, monkeypatch):
    """A module imported by a job (PIL's plugins, by the first image read) is not walked by
    every full collection afterwards, which run on the GUI thread."""
    load_model_code()
    name = "latentlab_test_late_import"
    (tmp_path / f"{name}.py").write_text("TABLE = [[i] for i in range(100)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    outcomes = Outcomes(worker)
    try:
        worker.submit(1, lambda: importlib.import_module(name).TABLE)
        qtbot.waitUntil(lambda: bool(outcomes.events), timeout=5000)
    finally:
        sys.modules.pop(name, None)
    assert outcomes.events[0][:2] == ("finished", 1)
    table = outcomes.events[0][2]
    collected = {id(o) for o in gc.get_objects()}  # the frozen ones are not among them
    assert id(table) not in collected and id(table[0]) not in collected
