"""The GUI thread's own core (latentlab.cores): the GUI thread on one core, the threads and the
process that run models on the others. Each check runs in a child interpreter, so that the test
process's own threads keep every core."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="cores are reserved on Linux with two or more cores only",
)


# the start of a child that reserves the GUI core as run_app does, with Qt's core application
WITH_APP = """
import os
from PySide6.QtCore import QCoreApplication
from latentlab.cores import reserve_gui_core

app = QCoreApplication([])
everything = os.sched_getaffinity(0)
gui = reserve_gui_core()
"""


def run(code: str, start: str = "") -> str:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("LATENTLAB_COMPUTE_CORES", None)
    done = subprocess.run(
        [sys.executable, "-c", start + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_gui_thread_gets_one_core_and_model_threads_the_others():
    out = run(
        """
        import os, threading
        from latentlab.cores import compute_cores, leave_gui_core, reserve_gui_core

        everything = os.sched_getaffinity(0)
        gui = reserve_gui_core()
        seen = {}

        def model_thread():
            leave_gui_core()
            seen["model"] = os.sched_getaffinity(0)

        thread = threading.Thread(target=model_thread)
        thread.start()
        thread.join()
        assert gui in everything
        assert os.sched_getaffinity(0) == {gui}
        assert compute_cores() == everything - {gui}
        assert seen["model"] == everything - {gui}, seen
        print("ok")
        """
    )
    assert out == "ok"


def test_without_a_reservation_nothing_moves():
    out = run(
        """
        import os
        from latentlab.cores import compute_cores, leave_gui_core

        everything = os.sched_getaffinity(0)
        leave_gui_core()
        assert compute_cores() is None
        assert os.sched_getaffinity(0) == everything
        print("ok")
        """
    )
    assert out == "ok"


def test_a_worker_runs_its_jobs_off_the_gui_core():
    out = run(
        """
        from PySide6.QtCore import QEventLoop, QTimer
        from latentlab.app.worker import Worker, stop_all_workers

        worker = Worker("test worker")
        results = []
        loop = QEventLoop()
        worker.finished.connect(lambda seq, cores: (results.append(cores), loop.quit()))
        worker.submit(1, lambda: os.sched_getaffinity(0))
        QTimer.singleShot(60_000, loop.quit)
        loop.exec()
        stop_all_workers()
        assert results == [everything - {gui}], (results, gui)
        print("ok")
        """,
        WITH_APP,
    )
    assert out == "ok"


def test_the_lab_process_leaves_the_gui_core():
    out = run(
        """
        from PySide6.QtCore import QEventLoop, QTimer
        from latentlab.app.lab_process import end_lab_process, lab_process

        child = lab_process()
        # started by the GUI thread, the child begins on its core and moves itself first thing:
        # the event loop checks at each tick of a timer until it has (as qtbot.waitUntil)
        moved = lambda: os.sched_getaffinity(child.pid) == everything - {gui}
        loop = QEventLoop()
        check = QTimer(interval=10)
        check.timeout.connect(lambda: moved() and loop.quit())
        check.start()
        QTimer.singleShot(60_000, loop.quit)
        loop.exec()
        assert moved(), os.sched_getaffinity(child.pid)
        end_lab_process()
        print("ok")
        """,
        WITH_APP,
    )
    assert out == "ok"
