"""A soak test of the real window: a randomised session over every bundled model and every
action a user can take, for a while, measuring what goes wrong.

    .venv/bin/python scripts/soak.py --minutes N --seed S [--models NAME,...] [--json FILE]

A seeded ``random.Random`` picks weighted actions (the table ``ACTIONS`` at the end): dragging
the map's handle, clicking samples, sliders, planes, encoding image files (one of them broken),
user image markers, interpolation endpoints and exports, undo and redo, sessions, family jobs
started and cancelled at random moments, model switches, presentation mode, and now and then
quitting and starting the window again. Between actions the event loop runs for 0-200 ms.

Reports the actions done per kind; Python exceptions; Qt warnings; GUI stalls (gaps over 100 ms
between ticks of a 10 ms timer, with the action that was running, the GUI thread's time in it
and in the cycle collector, and where a sampling thread saw it most often); memory growth per 1,000
actions (a least-squares slope of the RSS after a warm-up of the first 20% of the run); threads
left at exit; and findings such as a model that took long to open or a job that did not end
after it was cancelled. Exits 1 on exceptions, Qt critical or fatal messages, stalls over
250 ms, threads left running or a hang (an action that does not return within
``--hang-seconds``: the tracebacks of all threads are printed and the run ends there). A crash
shows as the process dying (``faulthandler`` prints where). Runs offscreen unless a display
is set, on a screen of ``--screen`` (1920 x 1080). Never touches the user's files: everything
it writes is in a temporary folder.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import json
import os
import random
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import (  # noqa: E402
    QEventLoop,
    QMessageLogContext,
    QPointF,
    Qt,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtGui import QAction, QKeySequence  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QFileDialog,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QWidget,
)

from latentlab.app import create_main_window  # noqa: E402
from latentlab.app.automation import drag_steps  # noqa: E402
from latentlab.app.flow_panel import FlowLayersPanel  # noqa: E402
from latentlab.app.gmm_panel import GMMPanel  # noqa: E402
from latentlab.app.inversion_panel import InversionPanel  # noqa: E402
from latentlab.app.jobs import Job  # noqa: E402
from latentlab.app.main_window import MainWindow  # noqa: E402
from latentlab.app.pixelrnn_panel import PixelRNNPanel  # noqa: E402
from latentlab.app.posterior_panel import PosteriorPanel  # noqa: E402
from latentlab.app.run_button import RunButton  # noqa: E402
from latentlab.app.worker import ModelWorker, live_workers  # noqa: E402
from latentlab.cores import reserve_gui_core  # noqa: E402
from latentlab.explore.painting import MASK_PRESETS  # noqa: E402
from latentlab.explore.plane import PLANE_KINDS  # noqa: E402
from latentlab.modelfile import LoadedModel  # noqa: E402
from latentlab.resources import bundled_models  # noqa: E402
from latentlab.suffixes import SESSION_SUFFIX  # noqa: E402

STALL_MS, LONG_STALL_MS = 100.0, 250.0  # a gap between ticks above these is a (long) stall
TICK_MS = 10
SAMPLE_S = 0.02  # how often the stall sampler looks at the GUI thread
SAMPLED_FRAMES = 4  # the innermost frames of a sampled stack
RSS_EVERY = 100  # actions between memory samples
WARM_UP = 0.2  # the first fifth of the run is left out of the memory slope
THREADS_END_S = 3.0  # after the window closed, how long the worker threads get to end
PROMPT_END_S = 1.0  # ... and beyond this a finding: a job that does not stop at once
SLOW_OPEN_S = 10.0  # a model still not open this long after it was asked for is a finding
SLOW_CANCEL_S = 10.0  # a job still running this long after its Stop was clicked is a finding
IGNORED_QT = ("This plugin does not support propagateSizeHints",)  # offscreen, harmless


# -- the figures -------------------------------------------------------------------------------


@dataclass
class Figures:
    """What the soak measured; written as JSON by ``--json``."""

    seed: int
    minutes: float
    models: list[str]
    seconds: float = 0.0
    actions: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # not possible at the time
    exceptions: list[dict[str, str]] = field(default_factory=list)
    qt_counts: Counter[str] = field(default_factory=Counter)  # by kind: warning, critical, fatal
    qt_messages: Counter[str] = field(default_factory=Counter)
    python_warnings: Counter[str] = field(default_factory=Counter)
    stalls: list[dict[str, Any]] = field(default_factory=list)  # see Soak._tick
    rss: list[tuple[int, float]] = field(default_factory=list)  # (actions done, MiB)
    error_boxes: Counter[str] = field(default_factory=Counter)  # messages the app showed
    blocking_dialogs: Counter[str] = field(default_factory=Counter)  # modal questions asked
    open_seconds: list[float] = field(default_factory=list)  # model opening times
    findings: list[str] = field(default_factory=list)
    threads_left: list[str] = field(default_factory=list)
    leftovers: dict[str, int] = field(default_factory=dict)  # objects alive after quitting
    workers_left: list[str] = field(default_factory=list)
    threads_end_s: float | None = None  # how long the workers took to end after the window
    hang: str | None = None

    @property
    def done(self) -> int:
        return sum(self.actions.values())

    def growth_per_1000(self) -> float | None:
        """RSS growth in MiB per 1,000 actions after the warm-up (least squares), or None."""
        if not self.rss:
            return None
        start = WARM_UP * self.rss[-1][0]
        points = np.array([p for p in self.rss if p[0] >= start], dtype=float)
        if len(points) < 3 or np.ptp(points[:, 0]) == 0:
            return None
        return float(np.polyfit(points[:, 0], points[:, 1], 1)[0] * 1000)

    def long_stalls(self) -> list[dict[str, Any]]:
        return [s for s in self.stalls if s["ms"] > LONG_STALL_MS]

    def worst_stalls(self, n: int) -> list[dict[str, Any]]:
        return sorted(self.stalls, key=lambda s: -s["ms"])[:n]

    def failures(self) -> list[str]:
        """Why the run failed (empty: it passed)."""
        reasons = []
        if self.hang:
            reasons.append(f"hang: {self.hang}")
        if self.exceptions:
            reasons.append(f"{len(self.exceptions)} exception(s)")
        bad_qt = self.qt_counts["critical"] + self.qt_counts["fatal"]
        if bad_qt:
            reasons.append(f"{bad_qt} Qt critical/fatal message(s)")
        if self.long_stalls():
            reasons.append(f"{len(self.long_stalls())} stall(s) over {LONG_STALL_MS:.0f} ms")
        if self.threads_left or self.workers_left:
            reasons.append("threads left running")
        if any(self.leftovers.values()):
            reasons.append("objects alive after the last window closed")
        return reasons

    def as_json(self) -> dict[str, Any]:
        data = {
            name: dict(value) if isinstance(value, Counter) else value
            for name, value in vars(self).items()
        }
        data.update(
            done=self.done,
            stalls_over_100ms=len(self.stalls),
            stalls_over_250ms=len(self.long_stalls()),
            worst_stall=(self.worst_stalls(1) or [None])[0],
            rss_growth_mib_per_1000_actions=self.growth_per_1000(),
            failures=self.failures(),
        )
        return data


def rss_mib() -> float:
    """This process's resident memory (VmRSS) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count_leftovers() -> dict[str, int]:
    """Python objects of the app still alive after the last window closed (memory that a
    closed window or a model switched away from should have given back).

    The app freezes what exists once torch has loaded (``gc.freeze``, latentlab.app.model_code),
    the first window with it, since in the app closing it ends the process. The collector never
    frees frozen cycles, so that window and the model it last showed would count here; the
    freeze is undone first, and any object counted is one no window gave back."""
    gc.unfreeze()
    gc.collect()
    kinds = (MainWindow, LoadedModel, ModelWorker, Job)
    counts = Counter(type(o).__name__ for o in gc.get_objects() if type(o) in kinds)
    return {kind.__name__: counts[kind.__name__] for kind in kinds}


def report(figures: Figures) -> str:
    """The figures as a few readable lines."""
    f = figures
    lines = [
        f"soak: seed {f.seed}, {f.seconds:.0f} s, models {', '.join(f.models)}",
        f"actions: {f.done} done, {sum(f.skipped.values())} not possible at the time",
        "  " + ", ".join(f"{name} {n}" for name, n in sorted(f.actions.items())),
        f"exceptions: {len(f.exceptions)}",
    ]
    lines += [f"  [{e['action']}] {e['where']}: {e['message']}" for e in f.exceptions[:20]]
    qt = f.qt_counts
    lines.append(
        f"Qt messages: {qt['warning']} warning(s), {qt['critical']} critical, {qt['fatal']} fatal"
    )
    lines += [f"  {n}x {message}" for message, n in f.qt_messages.most_common(10)]
    if f.python_warnings:
        lines.append(f"Python warnings: {sum(f.python_warnings.values())}")
        lines += [f"  {n}x {message}" for message, n in f.python_warnings.most_common(10)]
    worst = (f.worst_stalls(1) or [None])[0]
    lines.append(
        f"GUI stalls: {len(f.stalls)} over {STALL_MS:.0f} ms, {len(f.long_stalls())} over "
        f"{LONG_STALL_MS:.0f} ms"
        + (f"; worst {worst['ms']:.0f} ms in {worst['action']}" if worst else "")
    )
    by_action = Counter(stall["action"] for stall in f.stalls)
    if by_action:
        lines.append("  by action: " + ", ".join(f"{a} {n}" for a, n in by_action.most_common()))
        lines.append(
            "  worst (ms, action, when, GUI thread's CPU time in it, of which the cycle "
            "collector's, load average):"
        )
        lines += [
            f"    {s['ms']:.0f} ms {s['action']} at {s['at_s']:.0f} s, "
            f"CPU {s['gui_cpu_ms']:.0f} ms, GC {s['gc_ms']:.0f} ms, load {s['load1']:.1f}"
            + (f"\n      seen in {s['seen_in']}" if s["seen_in"] else "")
            for s in f.worst_stalls(10)
        ]
    growth = f.growth_per_1000()
    if f.rss:
        lines.append(
            f"memory: RSS {f.rss[0][1]:.0f} -> {f.rss[-1][1]:.0f} MiB over {f.rss[-1][0]} "
            "actions; growth after warm-up: "
            + ("too few samples" if growth is None else f"{growth:+.1f} MiB per 1,000 actions")
        )
    if f.open_seconds:
        lines.append(
            f"model opens: {len(f.open_seconds)}, median {np.median(f.open_seconds):.2f} s, "
            f"max {max(f.open_seconds):.2f} s"
        )
    if f.error_boxes:
        lines.append(f"messages the app showed: {sum(f.error_boxes.values())}")
        lines += [f"  {n}x {message}" for message, n in f.error_boxes.most_common(12)]
    if f.blocking_dialogs:
        lines.append(
            f"blocking questions asked (answered by the soak): {f.blocking_dialogs.total()}"
        )
        lines += [f"  {n}x {title}" for title, n in f.blocking_dialogs.most_common(8)]
    lines.append(f"findings: {len(f.findings)}")
    lines += [f"  {finding}" for finding in f.findings[:30]]
    if f.leftovers:
        lines.append(
            "alive after the last window closed: "
            + ", ".join(f"{n} {kind}" for kind, n in f.leftovers.items())
        )
    left = ", ".join(f.threads_left + f.workers_left) or "none"
    if f.hang:
        left = "not counted (the run hung)"
    if f.threads_end_s is not None and not f.threads_left + f.workers_left:
        left += f" (the workers ended {f.threads_end_s:.2f} s after the window closed)"
    lines.append(f"threads left at exit: {left}")
    failures = f.failures()
    lines.append("RESULT: " + ("FAIL (" + "; ".join(failures) + ")" if failures else "PASS"))
    return "\n".join(lines)


# -- test files --------------------------------------------------------------------------------


def write_images(folder: Path) -> list[Path]:
    """Image files of assorted sizes and modes, one broken and one empty."""
    rng = np.random.default_rng(0)

    def pixels(h: int, w: int, c: int) -> np.ndarray:
        return rng.integers(0, 256, size=(h, w, c) if c > 1 else (h, w), dtype=np.uint8)

    images = {
        "gray-8.png": Image.fromarray(pixels(8, 8, 1), "L"),
        "rgb-32.png": Image.fromarray(pixels(32, 32, 3), "RGB"),
        "rgba-100x60.png": Image.fromarray(pixels(60, 100, 4), "RGBA"),
        "palette.gif": Image.fromarray(pixels(40, 40, 3), "RGB").convert("P"),
        "photo-300x200.jpg": Image.fromarray(pixels(200, 300, 3), "RGB"),
        "one-pixel.bmp": Image.fromarray(pixels(1, 1, 3), "RGB"),
        "gray-alpha.webp": Image.fromarray(pixels(24, 24, 4), "RGBA").convert("LA"),
    }
    paths = []
    for name, image in images.items():
        path = folder / name
        image.save(path)
        paths.append(path)
    broken, empty = folder / "broken.png", folder / "empty.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + rng.bytes(200))
    empty.write_bytes(b"")
    paths.extend(ROOT / "resources" / "images" / f"face-{i}.png" for i in (1, 2, 3))
    paths.extend(ROOT / "resources" / "images" / f"digit-{i}.png" for i in (0, 7))
    return [*paths, broken, empty]


# -- the soak ----------------------------------------------------------------------------------


class Soak:
    """The window being driven, the random choices, and the instruments."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.rng = random.Random(args.seed)
        self.folder = folder
        every = bundled_models()
        names = args.models.split(",") if args.models else list(every)
        unknown = [n for n in names if n not in every]
        if unknown:
            raise SystemExit(f"unknown model(s) {', '.join(unknown)}; bundled: {', '.join(every)}")
        self.models = {n: every[n] for n in names}
        self.cycle: list[str] = []  # the models still to switch to in this round
        self.images = write_images(folder)
        self.broken_model = folder / "broken.safetensors"
        self.broken_model.write_bytes(b"not a model")
        self.broken_session = folder / f"broken{SESSION_SUFFIX}"
        self.broken_session.write_text('{"format": 1, "model": ')
        self.sessions: list[Path] = [self.broken_session]
        self.answers: list[Any] = []  # what the next file dialogs answer ("" = cancelled)
        self.figures = Figures(args.seed, args.minutes, list(self.models))
        self.seconds = args.minutes * 60
        self.hang_s = args.hang_seconds
        self.label = "start"  # the action running, for stalls, exceptions and hangs
        self.began = self.started = time.monotonic()
        self.open_asked: float | None = None  # when the model being opened was asked for
        self.kept_work = False  # a question to discard unsaved work was answered no
        self.cancels: dict[int, tuple[RunButton, float, str]] = {}  # Stop clicked, job running
        self.window: MainWindow | None = None
        self.quitting = False  # a question whether to discard unsaved work is answered yes
        self.json_path: Path | None = args.json
        self._last_tick, self._last_cpu = time.perf_counter(), time.thread_time()
        self._ticking = False
        self._gc_began = 0.0
        self._gc_ms = 0.0  # the GUI thread's time in Python's cycle collector since the tick
        self._samples: Counter[str] = Counter()  # where a stall going on was seen
        self._ticker = QTimer()
        self._ticker.setInterval(TICK_MS)
        self._ticker.timeout.connect(self._tick)
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="soak watchdog", daemon=True)
        self._sampler = threading.Thread(target=self._sample, name="soak sampler", daemon=True)

    # -- instruments --

    def install_hooks(self) -> None:
        gc.callbacks.append(self._on_gc)
        sys.excepthook = self._on_exception
        threading.excepthook = self._on_thread_exception
        qInstallMessageHandler(self._on_qt_message)
        warnings.simplefilter("default")
        warnings.showwarning = self._on_warning
        QFileDialog.getSaveFileName = self._answer  # type: ignore[method-assign]
        QFileDialog.getOpenFileName = self._answer  # type: ignore[method-assign]
        QFileDialog.getOpenFileNames = self._answer_many  # type: ignore[method-assign]
        for name in ("question", "warning", "critical", "information", "about"):
            setattr(QMessageBox, name, self._blocking_box)

    def record_exception(self, where: str, exc: BaseException, tb: TracebackType | None) -> None:
        frames = traceback.extract_tb(tb)
        place = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else where
        message = traceback.format_exception_only(type(exc), exc)[-1].strip()
        self.figures.exceptions.append({"action": self.label, "where": place, "message": message})
        print(f"EXCEPTION during {self.label} ({where}):", file=sys.stderr)
        traceback.print_exception(type(exc), exc, tb, file=sys.stderr)

    def _on_exception(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        self.record_exception("uncaught", exc, tb)

    def _on_thread_exception(self, args: threading.ExceptHookArgs) -> None:
        exc = args.exc_value or args.exc_type()
        self.record_exception(
            f"thread {args.thread.name if args.thread else '?'}", exc, args.exc_traceback
        )

    def _on_qt_message(self, kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
        if any(ignored in message for ignored in IGNORED_QT):
            return
        name = {
            QtMsgType.QtWarningMsg: "warning",
            QtMsgType.QtCriticalMsg: "critical",
            QtMsgType.QtFatalMsg: "fatal",
        }.get(kind)
        if name is None:
            return
        self.figures.qt_counts[name] += 1
        self.figures.qt_messages[f"{name}: {message} [{self.label}]"] += 1
        print(f"Qt {name} during {self.label}: {message}", file=sys.stderr, flush=True)

    def _on_warning(self, message: Warning | str, category: type[Warning], filename: str,
                    lineno: int, *_: Any) -> None:  # fmt: skip
        text = f"{category.__name__}: {message} ({Path(filename).name}:{lineno})"
        self.figures.python_warnings[text] += 1

    def _answer(self, *_args: Any, **_kwargs: Any) -> tuple[str, str]:
        """The file dialogs, answered without asking: the next queued answer, else cancelled."""
        return (str(self.answers.pop(0)) if self.answers else "", "")

    def _answer_many(self, *_args: Any, **_kwargs: Any) -> tuple[list[str], str]:
        return ([str(p) for p in self.answers.pop(0)] if self.answers else [], "")

    def _blocking_box(self, *args: Any, **_kwargs: Any) -> QMessageBox.StandardButton:
        """A blocking question (``QMessageBox.question`` and the like), answered at once: Discard
        (always when quitting, else mostly), else its default button."""
        title = str(args[1]) if len(args) > 1 else "?"
        self.figures.blocking_dialogs[f"{title} [{self.label}]"] += 1
        offered = args[3] if len(args) > 3 else QMessageBox.StandardButton.Ok
        discard = QMessageBox.StandardButton.Discard
        if offered & discard and (self.quitting or self.rng.random() < 0.7):
            return discard
        self.kept_work = True
        return args[4] if len(args) > 4 else QMessageBox.StandardButton.Cancel

    def _tick(self) -> None:
        """A gap over ``STALL_MS`` since the last tick is a stall. The GUI thread's CPU time in
        it tells a busy GUI thread (near the gap) from one that waited: for a lock, the GIL,
        another thread, or a machine too busy to run it (then the load average is high)."""
        now, cpu = time.perf_counter(), time.thread_time()
        gap, cpu_ms = 1000 * (now - self._last_tick), 1000 * (cpu - self._last_cpu)
        gc_ms, self._gc_ms = self._gc_ms, 0.0
        samples, self._samples = self._samples, Counter()
        self._last_tick, self._last_cpu = now, cpu
        if self._ticking and gap > STALL_MS:
            self.figures.stalls.append(
                {
                    "ms": round(gap, 1),
                    "action": self.label,
                    "at_s": round(time.monotonic() - self.started, 1),
                    "gui_cpu_ms": round(cpu_ms, 1),
                    "gc_ms": round(gc_ms, 1),
                    "seen_in": samples.most_common(1)[0][0] if samples else "",
                    "load1": os.getloadavg()[0],
                }
            )

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        """Time the cycle collector's runs on the GUI thread (the app collects there)."""
        if threading.current_thread() is not threading.main_thread():
            return
        if phase == "start":
            self._gc_began = time.perf_counter()
        else:
            self._gc_ms += 1000 * (time.perf_counter() - self._gc_began)

    def _sample(self) -> None:
        """Another thread: while the GUI thread has not ticked for ``STALL_MS``, note where it
        is (its innermost Python frames; a stall in Qt's C++ shows its Python caller)."""
        gui = threading.main_thread().ident
        while not self._stop.wait(SAMPLE_S):
            if self._ticking and time.perf_counter() - self._last_tick > STALL_MS / 1000:
                frame = sys._current_frames().get(gui)
                if frame is not None:
                    stack = traceback.extract_stack(frame, limit=SAMPLED_FRAMES)
                    self._samples[
                        " < ".join(
                            f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack)
                        )
                    ] += 1

    def _watch(self) -> None:
        """Another thread: end the run when an action does not return."""
        while not self._stop.wait(1.0):
            if time.monotonic() - self.began > self.hang_s:
                self.figures.hang = f"{self.label} did not return within {self.hang_s:.0f} s"
                print(f"HANG: {self.figures.hang}; the threads:", file=sys.stderr, flush=True)
                faulthandler.dump_traceback(all_threads=True)
                self.finish_report()
                os._exit(1)

    def begin(self, label: str) -> None:
        """``label`` starts: the trail on stderr says what ran last, should the process die."""
        self.label, self.began = label, time.monotonic()
        at = self.began - self.started
        print(f"soak: {at:7.2f} s #{self.figures.done} {label}", file=sys.stderr, flush=True)
        # the last resort, should the watchdog thread never get the GIL
        faulthandler.dump_traceback_later(self.hang_s + 30, exit=True)

    def pause(self, ms: float) -> None:
        """Run the event loop for ``ms`` milliseconds (never sleep: the GUI must go on)."""
        loop = QEventLoop()
        QTimer.singleShot(max(0, round(ms)), loop.quit)
        loop.exec()

    # -- the window --

    @property
    def w(self) -> MainWindow:
        assert self.window is not None
        return self.window

    def next_model(self) -> Path:
        """The bundled models in turn, each round in a new random order."""
        if not self.cycle:
            self.cycle = list(self.models)
            self.rng.shuffle(self.cycle)
        return self.models[self.cycle.pop()]

    def new_window(self) -> None:
        self._ticking = False  # starting the app is not an interactive stall
        window = self.window = create_main_window(self.next_model())
        window.modelOpened.connect(self._on_opened)
        window.openFailed.connect(self._on_opened)
        self.open_asked = time.monotonic()
        window.show()
        self._last_tick, self._last_cpu = time.perf_counter(), time.thread_time()
        self._ticking = True

    def close_window(self) -> None:
        window, self.window = self.w, None
        self.quitting = True
        window.close()
        self.quitting = False
        if window.isVisible():
            self.figures.findings.append(f"the window did not close in {self.label}")
        window.deleteLater()
        self.open_asked = None
        self.cancels.clear()

    def _on_opened(self, *_args: Any) -> None:
        if self.open_asked is not None:
            self.figures.open_seconds.append(round(time.monotonic() - self.open_asked, 3))
            self.open_asked = None

    def asked_to_open(self) -> None:
        if self.open_asked is None:
            self.open_asked = time.monotonic()

    def close_messages(self) -> None:
        """The user reads the messages the app shows, and closes them (or, where a message
        asks what to do, clicks one of its buttons)."""
        for box in self.w.findChildren(QMessageBox):
            if not box.isVisible():
                continue
            self.figures.error_boxes[f"{box.windowTitle()}: {box.text()}"[:160]] += 1
            buttons = box.buttons()
            if box.objectName() == "errorBox" or len(buttons) < 2:
                box.close()
                continue
            choice = self.rng.choice(buttons)
            choice.click()
            if choice.text() == "Quit":  # the user chose to quit: start the app again
                self.close_window()
                self.new_window()
                return

    def check_expectations(self) -> None:
        now = time.monotonic()
        if self.open_asked is not None and now - self.open_asked > SLOW_OPEN_S:
            self.figures.findings.append(
                f"a model was still not open {SLOW_OPEN_S:.0f} s after it was asked for "
                f"(now: {self.label}, action {self.figures.done})"
            )
            self.open_asked = None
        for key, (button, clicked, label) in list(self.cancels.items()):
            if not button.running:
                del self.cancels[key]
            elif now - clicked > SLOW_CANCEL_S:
                self.figures.findings.append(
                    f"a job ({button.objectName()}) still ran {SLOW_CANCEL_S:.0f} s after "
                    f"it was stopped in {label} (action {self.figures.done})"
                )
                del self.cancels[key]

    def trigger(self, shortcut: str) -> bool:
        """Choose the menu item with the keyboard ``shortcut``, as a user does."""
        keys = QKeySequence(shortcut)
        for action in self.w.findChildren(QAction):
            if keys in action.shortcuts() and action.isEnabled():
                action.trigger()
                return True
        self.figures.findings.append(f"no enabled menu item has the shortcut {shortcut}")
        return False

    def show_tab(self, panel: QWidget) -> bool:
        """Click ``panel``'s tab, if it is there and enabled, and the panel with it: a family
        panel is disabled while it still serves the model before, until the new model's panel
        is in place (a person cannot click it; the soak's signals would reach it anyway)."""
        index = self.w.tabs.indexOf(panel)
        if index < 0 or not self.w.tabs.isTabEnabled(index) or not panel.isEnabled():
            return False
        self.w.tabs.setCurrentIndex(index)
        return True

    def has_map(self) -> bool:
        return self.w.explorer.has_latent and self.w.map_view.isVisible()

    def view_point(self) -> tuple[float, float]:
        """A random point in the map's visible range."""
        (x0, x1), (y0, y1) = self.w.map_view.getPlotItem().vb.viewRange()
        return self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)

    # -- the run --

    def run(self) -> Figures:
        self.install_hooks()
        faulthandler.enable()
        self._watchdog.start()
        self._sampler.start()
        self.started = time.monotonic()
        self.begin("start")
        self._ticker.start()
        self.new_window()
        loop = QEventLoop()
        for signal in (self.w.modelOpened, self.w.openFailed):
            signal.connect(loop.quit)
        loop.exec()  # the first model open (the watchdog ends a hang)
        for signal in (self.w.modelOpened, self.w.openFailed):
            signal.disconnect(loop.quit)
        self.figures.rss.append((0, rss_mib()))
        names = [a[0] for a in ACTIONS]
        weights = [a[1] for a in ACTIONS]
        functions = {a[0]: a[2] for a in ACTIONS}
        while time.monotonic() - self.started < self.seconds:
            self.close_messages()
            name = self.rng.choices(names, weights)[0]
            self.begin(name)
            self.answers = []  # a dialog the last action did not open answers nothing now
            try:
                done = functions[name](self)
            except Exception as exc:
                self.record_exception("in the action", exc, exc.__traceback__)
                done = True
            if not done:  # the user looks for something else to do
                self.figures.skipped[name] += 1
                continue
            self.figures.actions[name] += 1
            if not self.w.isVisible():  # the app closed its window (Quit in a message)
                self.figures.findings.append(f"the window closed itself after {name}")
                self.close_window()
                self.new_window()
            self.pause(self.rng.uniform(0, 200))
            self.check_expectations()
            if self.figures.done % RSS_EVERY == 0:
                self.figures.rss.append((self.figures.done, rss_mib()))
        self.finish()
        return self.figures

    def finish(self) -> None:
        """Quit: close the window, let the threads end, count what is left."""
        self.begin("quit")
        self.figures.rss.append((self.figures.done, rss_mib()))
        self.close_window()
        # The workers end at their job's next step; a job that never stops is left running
        closed = time.monotonic()
        while live_workers() and time.monotonic() - closed < THREADS_END_S:
            self.pause(50)
        self.figures.threads_end_s = round(time.monotonic() - closed, 2)
        if self.figures.threads_end_s > PROMPT_END_S:
            self.figures.findings.append(
                f"the worker threads took {self.figures.threads_end_s:.1f} s to end after "
                "the window closed"
            )
        self.pause(250)
        self._ticking = False  # what follows is the soak's own work
        self._ticker.stop()
        for _ in range(3):
            gc.collect()
            self.pause(250)
        self.figures.seconds = round(time.monotonic() - self.started, 1)
        self.figures.workers_left = [str(w._thread.objectName()) for w in live_workers()]
        self._stop.set()
        self._watchdog.join()
        self._sampler.join()
        faulthandler.cancel_dump_traceback_later()
        main = threading.main_thread()
        # after the threads: a worker let go of just now (its thread ended last) may be in a cycle
        self.figures.leftovers = count_leftovers()
        # A QThread that ran Python gets a "dummy" Thread, alive forever: the workers' own
        # threads are counted above, from Qt
        self.figures.threads_left = [
            t.name
            for t in threading.enumerate()
            if t is not main and t.is_alive() and not isinstance(t, threading._DummyThread)
        ]
        self.finish_report()

    def finish_report(self) -> None:
        print(report(self.figures), flush=True)
        if self.json_path is not None:
            self.json_path.write_text(json.dumps(self.figures.as_json(), indent=1))


# -- the actions: each a small function; False when not possible at the time -------------------


def drag_handle(s: Soak) -> bool:
    """Press on the map's handle, move the mouse a few steps, release."""
    if not s.has_map():
        return False
    view = s.w.map_view
    point = view.handle_scene_position()
    path = [point]
    for _ in range(s.rng.randint(2, 12)):
        point = QPointF(
            min(max(point.x() + s.rng.uniform(-30, 30), 5), view.width() - 5),
            min(max(point.y() + s.rng.uniform(-30, 30), 5), view.height() - 5),
        )
        path.append(point)
    for _ in drag_steps(view, path):
        s.pause(s.rng.uniform(5, 20))
    return True


def jump_handle(s: Soak) -> bool:
    """The handle moved to a random place on the map (``handleMoved``)."""
    if not s.has_map():
        return False
    s.w.map_view.handleMoved.emit(*s.view_point())
    return True


def arrow_keys(s: Soak) -> bool:
    """Arrow keys (some with Shift) nudge the handle."""
    if not s.has_map():
        return False
    view = s.w.map_view
    view.setFocus()
    keys = [Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down]
    for _ in range(s.rng.randint(1, 5)):
        shift = s.rng.random() < 0.3
        modifier = Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier
        QTest.keyClick(view, s.rng.choice(keys), modifier)
    return True


def click_sample(s: Soak) -> bool:
    tiles = [t for t in s.w.sample_panel.tiles if t.isEnabled()]
    if not tiles or not s.show_tab(s.w.sample_panel):
        return False
    s.rng.choice(tiles).click()
    return True


def new_samples(s: Soak) -> bool:
    """Space, or the Sample button."""
    panel = s.w.sample_panel
    if not panel.button.isEnabled():
        return False
    if s.rng.random() < 0.5:
        panel.button.click()
    else:
        return s.trigger("Space")
    return True


def temperature(s: Soak) -> bool:
    panel = s.w.sample_panel
    if not panel.temperature.isEnabled() or not s.show_tab(panel):
        return False
    panel.temperature.setValue(s.rng.randint(0, 150))
    panel.temperature.sliderReleased.emit()
    return True


def attribute_slider(s: Soak) -> bool:
    panel = s.w.attribute_panel
    if not panel.sliders or not s.show_tab(panel):
        return False
    name = s.rng.choice(list(panel.sliders))
    for _ in range(s.rng.randint(1, 6)):
        slider = panel.sliders.get(name)  # a model opened meanwhile rebuilds the sliders
        if slider is None:
            break
        slider.setValue(s.rng.randint(slider.minimum(), slider.maximum()))
        s.pause(s.rng.uniform(5, 30))
    return True


def reset_attributes(s: Soak) -> bool:
    panel = s.w.attribute_panel
    if not panel.sliders or not s.show_tab(panel):
        return False
    panel.reset()
    return True


def choose_plane(s: Soak) -> bool:
    """Each kind of plane, with random axes (unavailable kinds too: the app must say so)."""
    if not s.has_map():
        return False
    kind = s.rng.choice(list(PLANE_KINDS))
    x = y = ""
    if kind == "attributes":
        names = sorted(s.w.explorer.directions) or ["none"]
        x, y = s.rng.choice(names), s.rng.choice(names)
    elif kind == "axes":
        dim = len(s.w.explorer.plane_inputs().current)
        x, y = str(s.rng.randrange(dim)), str(s.rng.randrange(dim))
    s.w.map.choose_plane(kind, x, y)
    return True


def colour_map(s: Soak) -> bool:
    combo = s.w.map_controls.colour
    if not s.has_map() or combo.count() < 2:
        return False
    s.w.map.colour_by(combo.itemText(s.rng.randrange(combo.count())))
    return True


def encode_images(s: Soak) -> bool:
    """Open images to encode (Ctrl+I), or images dropped on the window: a few files,
    sometimes the broken ones."""
    paths = s.rng.sample(s.images, s.rng.randint(1, 5))
    if s.rng.random() < 0.5:
        s.w.encode_images(paths)
        return True
    s.answers = [paths]
    return s.trigger("Ctrl+I")


def pick_marker(s: Soak) -> bool:
    markers = s.w.map_view.markers
    if not s.has_map() or not markers:
        return False
    s.w.map_view.imagePicked.emit(s.rng.randrange(len(markers)))
    return True


def drag_marker(s: Soak) -> bool:
    markers = s.w.map_view.markers
    if not s.has_map() or not markers:
        return False
    index = s.rng.randrange(len(markers))
    for _ in range(s.rng.randint(1, 8)):
        s.w.map_view.imageDragged.emit(index, *s.view_point())
        s.pause(s.rng.uniform(5, 20))
    return True


def select_groups_add_direction(s: Soak) -> bool:
    """Click reference points, take them as group A or B, sometimes add the direction."""
    view, panel = s.w.map_view, s.w.attribute_panel
    count = len(view.scatter.data)
    if not s.has_map() or count == 0 or not s.show_tab(panel):
        return False
    for _ in range(s.rng.randint(1, 6)):
        view.scatter.pointClicked.emit(s.rng.randrange(count))
    panel.group_buttons[s.rng.choice("AB")].click()
    if s.rng.random() < 0.5:
        panel.name_edit.setText(s.rng.choice(["thick", "slant", "", "x"]))
        panel.findChild(QPushButton, "addDirection").click()
    return True


def save_model_copy(s: Soak) -> bool:
    """Save model copy…: a new file, over the open model's own file (refused), or cancelled."""
    loaded = s.w.explorer.loaded
    if loaded is None or not s.show_tab(s.w.attribute_panel):
        return False
    choices = [s.folder / "copy.safetensors", loaded.path or "", ""]
    s.answers = [s.rng.choice(choices)]
    s.w.attribute_panel.findChild(QPushButton, "saveDirections").click()
    return True


def set_endpoint(s: Soak) -> bool:
    panel = s.w.interpolation_panel
    if not s.show_tab(panel):
        return False
    panel.findChild(QPushButton, f"endpoint{s.rng.choice('AB')}").click()
    return True


def interpolation_steps(s: Soak) -> bool:
    panel = s.w.interpolation_panel
    if not s.show_tab(panel):
        return False
    if s.rng.random() < 0.7:
        panel.steps.setValue(s.rng.randint(2, 64))
    else:
        panel.spherical.toggle()
    return True


def click_strip(s: Soak) -> bool:
    panel = s.w.interpolation_panel
    images = panel.strip_images()
    if images is None or not s.show_tab(panel):
        return False
    panel.strip.imageClicked.emit(s.rng.randrange(len(images)))
    return True


def export_walk(s: Soak) -> bool:
    """Export PNG or GIF: to the temporary folder, a missing folder, or cancelled."""
    panel = s.w.interpolation_panel
    if not s.show_tab(panel):
        return False
    kind = s.rng.choice(["png", "gif"])
    choices = [s.folder / f"walk.{kind}", s.folder / "walk", s.folder / "missing" / "w.png", ""]
    s.answers = [s.rng.choices(choices, [6, 1, 1, 2])[0]]
    s.w.interpolation.export(kind)
    return True


def cancel_progress(s: Soak) -> bool:
    """Cancel on a progress dialog that is showing."""
    dialogs = [d for d in s.w.findChildren(QProgressDialog) if d.isVisible()]
    if not dialogs:
        return False
    button = dialogs[0].findChild(QPushButton)
    if button is None:
        return False
    button.click()
    return True


def undo(s: Soak) -> bool:
    """Ctrl+Z, or ``window.undo``."""
    if s.rng.random() < 0.5:
        return s.trigger("Ctrl+Z")
    s.w.undo()
    return True


def redo(s: Soak) -> bool:
    """Ctrl+Shift+Z, or ``window.redo``."""
    if s.rng.random() < 0.5:
        return s.trigger("Ctrl+Shift+Z")
    s.w.redo()
    return True


def save_session(s: Soak) -> bool:
    """Save session (Ctrl+S)."""
    path = s.folder / f"session-{s.rng.randrange(3)}{SESSION_SUFFIX}"
    s.answers = [path]
    if path not in s.sessions:
        s.sessions.append(path)  # once written (on the worker), or a file that is not there
    return s.trigger("Ctrl+S")


def open_file(s: Soak, path: Path, open_directly: Callable[[Path], object]) -> bool:
    """Half the time ``open_directly(path)``, else Open model or session (Ctrl+O) answered
    with ``path``."""
    pending, s.kept_work = s.open_asked, False
    s.asked_to_open()
    if s.rng.random() < 0.5:
        open_directly(path)
        done = True
    else:
        s.answers = [path]
        done = s.trigger("Ctrl+O")
    if s.kept_work:  # asked to discard unsaved work, the user said no: nothing opens
        s.open_asked = pending
    return done


def open_session(s: Soak) -> bool:
    """A session file, by Ctrl+O or ``window.open_session``."""
    return open_file(s, s.rng.choice(s.sessions), s.w.open_session)


def switch_model(s: Soak) -> bool:
    """The bundled models in turn, by Ctrl+O or ``window.open_model``."""
    return open_file(s, s.next_model(), s.w.open_model)


def open_broken_model(s: Soak) -> bool:
    s.answers = [s.broken_model]
    return s.trigger("Ctrl+O")


def family_button(panel: QWidget | None) -> RunButton | None:
    """The start/stop button of the family panel shown, if it has one."""
    if isinstance(panel, GMMPanel):
        return panel.fit_button
    if isinstance(panel, PixelRNNPanel):
        return panel.paint_button
    if isinstance(panel, InversionPanel):
        return panel.invert_button
    return None


def start_family_job(s: Soak) -> bool:
    """Fit, Complete or Invert on the family panel (it runs until it ends or is stopped)."""
    panel = s.w.family_panel
    button = family_button(panel)
    if panel is None or button is None or button.running or not s.show_tab(panel):
        return False
    if isinstance(panel, GMMPanel):
        panel.k_spin.setValue(s.rng.choice([2, 5, 10, 20]))
        panel.covariance.setCurrentIndex(s.rng.randrange(panel.covariance.count()))
    elif isinstance(panel, PixelRNNPanel):
        if s.rng.random() < 0.5 and s.w.current_image() is not None:
            panel.source.use_current_image()
        index = s.rng.randrange(len(MASK_PRESETS))
        panel.preset.setCurrentIndex(index)
        panel.preset.activated.emit(index)
    elif isinstance(panel, InversionPanel):
        if s.w.current_image() is None:
            return False
        panel.set_target(s.w.current_image())
    button.click()
    return True


def stop_family_job(s: Soak) -> bool:
    """Click Stop/Cancel on the family job that runs."""
    button = family_button(s.w.family_panel)
    if button is None or not button.running:
        return False
    button.click()
    s.cancels[id(button)] = (button, time.monotonic(), s.label)
    return True


def family_analysis(s: Soak) -> bool:
    """The VAE's and the flows' panels: Use current image."""
    panel = s.w.family_panel
    if not isinstance(panel, PosteriorPanel | FlowLayersPanel) or not s.show_tab(panel):
        return False
    if s.w.current_image() is None:
        return False
    panel.source.use_current_image()
    return True


def family_extras(s: Soak) -> bool:
    """The mixture's components and their samples, the painting's completions."""
    panel = s.w.family_panel
    if isinstance(panel, GMMPanel) and panel.components.count() and s.show_tab(panel):
        choice = s.rng.random()
        if choice < 0.4:
            panel.components.setCurrentRow(s.rng.randrange(panel.components.count()))
        elif choice < 0.8 or panel.samples.images() is None:
            panel.sample_button.click()
        else:
            panel.samples.imageClicked.emit(s.rng.randrange(len(panel.samples.images())))
        return True
    if isinstance(panel, PixelRNNPanel) and panel.completions() is not None:
        if not s.show_tab(panel):
            return False
        panel.results.imageClicked.emit(s.rng.randrange(len(panel.completions())))
        return True
    return False


def switch_tab(s: Soak) -> bool:
    tabs = s.w.tabs
    enabled = [i for i in range(tabs.count()) if tabs.isTabEnabled(i)]
    tabs.setCurrentIndex(s.rng.choice(enabled))
    return True


def presentation(s: Soak) -> bool:
    """F11, or ``window.set_presentation``."""
    if s.rng.random() < 0.5:
        return s.trigger("F11")
    s.w.set_presentation(not s.w.presentation.on)
    return True


def restart_window(s: Soak) -> bool:
    """Quit (whatever runs) and start the app again."""
    s.close_window()
    s.pause(s.rng.uniform(0, 200))
    s.new_window()
    return True


#: (name, weight, action): how often each is tried.
ACTIONS: list[tuple[str, float, Callable[[Soak], bool]]] = [
    ("drag_handle", 10, drag_handle),
    ("jump_handle", 5, jump_handle),
    ("arrow_keys", 3, arrow_keys),
    ("click_sample", 8, click_sample),
    ("new_samples", 5, new_samples),
    ("temperature", 2, temperature),
    ("attribute_slider", 6, attribute_slider),
    ("reset_attributes", 1, reset_attributes),
    ("choose_plane", 4, choose_plane),
    ("colour_map", 1, colour_map),
    ("encode_images", 3, encode_images),
    ("pick_marker", 3, pick_marker),
    ("drag_marker", 2, drag_marker),
    ("select_groups_add_direction", 1, select_groups_add_direction),
    ("save_model_copy", 0.5, save_model_copy),
    ("set_endpoint", 4, set_endpoint),
    ("interpolation_steps", 2, interpolation_steps),
    ("click_strip", 2, click_strip),
    ("export_walk", 2, export_walk),
    ("cancel_progress", 2, cancel_progress),
    ("undo", 4, undo),
    ("redo", 3, redo),
    ("save_session", 2, save_session),
    ("open_session", 1, open_session),
    ("switch_model", 3, switch_model),
    ("open_broken_model", 0.3, open_broken_model),
    ("start_family_job", 3, start_family_job),
    ("stop_family_job", 3, stop_family_job),
    ("family_analysis", 2, family_analysis),
    ("family_extras", 2, family_extras),
    ("switch_tab", 2, switch_tab),
    ("presentation", 1, presentation),
    ("restart_window", 0.4, restart_window),
]


def use_screen(config: Path, size: str) -> None:
    """Give the offscreen platform one screen of ``size`` (``WIDTHxHEIGHT``). Its own is 800 x
    800, smaller than the window's minimum in presentation mode (about 1050 x 760): there every
    panel whose content changed its minimum width moved the splitters and laid the whole window
    out again, which a person's screen does not do."""
    width, height = (int(n) for n in size.lower().split("x"))
    screen = {"name": "soak", "x": 0, "y": 0, "width": width, "height": height}
    config.write_text(json.dumps({"screens": [{**screen, "logicalDpiX": 96, "logicalDpiY": 96}]}))
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={config}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=1.0, help="how long to run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random session")
    parser.add_argument("--models", default="", help="bundled model names (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--hang-seconds", type=float, default=60.0, help="an action longer than this is a hang"
    )
    parser.add_argument(
        "--screen", default="1920x1080", help="the offscreen screen's size, WIDTHxHEIGHT"
    )
    args = parser.parse_args(argv)
    faulthandler.enable()
    with tempfile.TemporaryDirectory(prefix="latentlab-soak-") as folder:
        if QApplication.instance() is None and os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            use_screen(Path(folder) / "screen.json", args.screen)
        app = QApplication.instance() or QApplication([])
        reserve_gui_core()  # as run_app does
        figures = Soak(args, Path(folder)).run()
    del app
    return 1 if figures.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
