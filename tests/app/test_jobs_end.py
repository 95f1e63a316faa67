"""Switching models or closing the window while a long job runs: the GUI never waits for the
job, the job's thread ends within a second, and nothing is left running."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from latentlab.app.worker import live_workers
from latentlab.resources import bundled_models

MODELS = bundled_models()


def start_fit(window, _tmp_path, _monkeypatch):
    window.family_panel.fit_button.click()
    return window.family_panel.fit_button


def start_completion(window, _tmp_path, _monkeypatch):
    window.family_panel.paint_button.click()
    return window.family_panel.paint_button


def start_inversion(window, _tmp_path, _monkeypatch):
    panel = window.family_panel
    panel.steps.setValue(2000)
    panel.set_target(window.current_image())
    panel.invert_button.click()
    return panel.invert_button


def start_encoding(window, tmp_path, _monkeypatch):
    paths = []
    for i in range(40):
        path = tmp_path / f"face{i}.png"
        Image.new("RGB", (32, 32), (5 * i, 100, 200)).save(path)
        paths.append(path)
    window.encode_images(paths)


def start_analysis(window, _tmp_path, _monkeypatch):
    window.family_panel.source.use_current_image()  # first the reference set's mean KL


def start_export(window, _tmp_path, _monkeypatch):
    window.interpolation.set_endpoint("A")
    window.explorer.move_to(3.0, 3.0)
    window.interpolation.set_endpoint("B")
    window.interpolation_panel.steps.setValue(64)
    window.interpolation.export("gif")


def start_sampling(window, _tmp_path, monkeypatch):
    monkeypatch.setattr("latentlab.app.sample_wiring.SAMPLES", 100)  # seconds of drawing
    window.sample_panel.request()


JOBS = {
    "EM fit": ("gmm-digits", start_fit),
    "PixelRNN completion": ("pixelrnn-digits", start_completion),
    "GAN inversion": ("dcgan-synthfaces", start_inversion),
    "encoding images": ("glow-synthfaces", start_encoding),
    "encoding by optimisation": ("dcgan-synthfaces", start_encoding),
    "export": ("glow-synthfaces", start_export),
    "PixelRNN sampling": ("pixelrnn-fashion", start_sampling),
    "VAE posterior analysis": ("vae-fashion-latent16", start_analysis),
}


@pytest.fixture
def running_job(open_window, qtbot, tmp_path, monkeypatch, request):
    """A window on the job's model with the job under way (its first progress seen)."""
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "walk.gif"), "")
    )
    model, start = JOBS[request.param]
    window = open_window(MODELS[model])
    progressed = []
    window.jobs.failed.connect(lambda message, _watched: pytest.fail(message))
    original = window.jobs.submit

    def submit(*args, **kwargs):
        job = original(*args, **kwargs)
        job.progressed.connect(progressed.append)
        return job

    monkeypatch.setattr(window.jobs, "submit", submit)
    start(window, tmp_path, monkeypatch)
    qtbot.waitUntil(lambda: len(progressed) > 0, timeout=10_000)
    return window


@pytest.mark.parametrize("running_job", sorted(JOBS), indirect=True)
def test_switching_models_during_a_job(running_job, qtbot, tiny_vae_path):
    window = running_job
    old_worker = window.worker
    start = time.perf_counter()
    with qtbot.waitSignal(window.modelOpened, timeout=5000):
        window.open_model(tiny_vae_path)
    assert time.perf_counter() - start < 1.0
    qtbot.waitUntil(lambda: not old_worker.running, timeout=1000)  # the job's thread ended
    assert old_worker.loaded is None  # and let go of its model
    assert len(live_workers()) == 2  # the new model's worker and the loader


@pytest.mark.parametrize("running_job", sorted(JOBS), indirect=True)
def test_closing_the_window_during_a_job(running_job, qtbot):
    window = running_job
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 0.1  # the GUI never waits for the job
    start = time.perf_counter()
    qtbot.waitUntil(lambda: not live_workers(), timeout=1000)
    assert time.perf_counter() - start < 1.0


def test_closing_the_window_as_a_model_opens(open_window, qtbot, tiny_vae_path):
    """Closed in the very turn that installs a model, before the turn that shows its family
    panel (a mixture's panel submits a job as it shows): nothing may run on the closed window."""
    from PySide6.QtCore import QEventLoop, QTimer

    window = open_window(tiny_vae_path)
    window.loader.opened.connect(lambda *_: window.close())  # after _install, same turn
    window.open_model(MODELS["gmm-digits"])
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    loop = QEventLoop()
    QTimer.singleShot(50, loop.quit)  # the family panel's turn comes and goes
    loop.exec()
    assert window.jobs.worker is None
    qtbot.waitUntil(lambda: not live_workers(), timeout=1000)


def test_switching_models_frees_the_old_ones(open_window, qtbot, tiny_vae_path, tiny_vae16_path):
    import gc

    from latentlab.app.worker import ModelWorker
    from latentlab.modelfile import LoadedModel

    window = open_window(tiny_vae_path)
    for path in [tiny_vae16_path, tiny_vae_path] * 4:  # each switch in place, panel included
        with qtbot.waitSignals([window.imageDisplayed, window.modelOpened], timeout=5000):
            window.open_model(path)
    qtbot.waitUntil(lambda: len(live_workers()) == 2, timeout=1000)
    live_workers()  # lets go of the workers that have ended
    gc.collect()
    assert sum(type(o) is LoadedModel for o in gc.get_objects()) == 1
    assert sum(type(o) is ModelWorker for o in gc.get_objects()) == 1


def test_a_stopped_worker_is_freed_with_the_jobs_it_never_ran(qtbot, tiny_vae_path):
    import gc
    import weakref

    import numpy as np

    from latentlab.app.worker import ModelWorker
    from latentlab.modelfile import load_model

    worker = ModelWorker(load_model(tiny_vae_path))
    argument = np.zeros(1000)
    for seq in range(3):  # queued behind one another; stopping comes before they run
        worker.submit_model_job(seq, lambda _model, _x: time.sleep(0.05), argument)
    worker.stop()
    freed = weakref.ref(worker), weakref.ref(argument)
    del worker, argument
    qtbot.waitUntil(lambda: not live_workers(), timeout=1000)
    gc.collect()
    assert [ref() for ref in freed] == [None, None]


def test_a_job_submitted_after_the_workers_thread_ended_is_dropped_and_frees_it(
    qtbot, tiny_vae_path
):
    import gc
    import weakref

    import numpy as np

    from latentlab.app.worker import ModelWorker
    from latentlab.modelfile import load_model

    worker, ran = ModelWorker(load_model(tiny_vae_path)), []
    worker.stop()
    assert worker.wait(5000)
    argument = np.zeros(1000)
    # a job posted to the ended thread would wait there for good, holding both (soak, seed 51)
    worker.submit_model_job(1, lambda _model, x: ran.append(x), argument)
    freed = weakref.ref(worker), weakref.ref(argument)
    del worker, argument
    qtbot.waitUntil(lambda: not live_workers(), timeout=1000)
    qtbot.wait(50)
    gc.collect()
    assert [ref() for ref in freed] == [None, None]
    assert ran == []


def test_a_job_submitted_as_the_old_models_jobs_end_is_cancelled_not_sent_anywhere(qtbot):
    from latentlab.app.jobs import JobRunner
    from latentlab.app.worker import Worker

    class Recorder(Worker):
        def __init__(self) -> None:
            super().__init__("recording worker")
            self.asked: list[int] = []

        def submit_model_job(self, seq, job, *args) -> None:
            self.asked.append(seq)  # never run: the test follows the handles only

    old, new = Recorder(), Recorder()
    try:
        runner = JobRunner()
        runner.attach(old)
        first, later, heard = runner.submit(print), [], []

        def ask_again() -> None:  # as the map's ellipses do when their request went stale
            job = runner.submit(print)
            job.cancelled.connect(lambda: heard.append(job.seq))  # connected after submitting
            later.append(job.seq)

        first.cancelled.connect(ask_again)
        runner.attach(new)
        assert len(later) == 1 and old.asked == [first.seq] and new.asked == []
        qtbot.waitUntil(lambda: heard == later, timeout=1000)
        assert runner._jobs == {}
    finally:
        for worker in (old, new):
            worker.stop()
            assert worker.wait(5000)


def test_a_job_submitted_with_no_model_open_ends_as_cancelled(qtbot):
    from latentlab.app.jobs import JobRunner

    runner, heard = JobRunner(), []
    job = runner.call(print, "never")
    job.cancelled.connect(lambda: heard.append("cancelled"))
    qtbot.waitUntil(lambda: heard == ["cancelled"], timeout=1000)
    assert runner._jobs == {}


EXIT_WITHOUT_CLOSING = """
import sys
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
from latentlab.app import create_main_window

app = QApplication([])
window = create_main_window(sys.argv[1])
window.show()
loop = QEventLoop()
if sys.argv[2] == "during a job":
    window.modelOpened.connect(lambda: window.family_panel.fit_button.click())
    QTimer.singleShot(3000, loop.quit)
else:  # while the model is still loading
    QTimer.singleShot(0, loop.quit)
loop.exec()
print("exiting")
"""


@pytest.mark.parametrize("moment", ["while loading", "during a job"])
def test_a_script_that_never_closes_its_window_exits_cleanly(moment):
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", EXIT_WITHOUT_CLOSING, str(MODELS["gmm-digits"]), moment],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exiting"
    assert "QThread" not in done.stderr and "Traceback" not in done.stderr
