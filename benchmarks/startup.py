"""Start-up as a user meets it: whole processes, from the command to what they see.

    python benchmarks/startup.py [--runs 5] [--model FILE] [--quick]

Each figure is the wall time of a fresh process (``python -m latentlab ...`` or a script that
starts the app), from just before it is spawned to the moment measured, over ``--runs`` runs:
minimum and median (the machine may be busy; the minimum is what the code costs). ``--quick``
is one run of each (a smoke run).

- ``latentlab --help``, a usage error (``latentlab sample`` with no model) and a missing file
  (``latentlab info missing.safetensors``): to the process's exit. Target: 0.3 s each.
- ``import torch`` alone: the floor under anything that runs a model; Qt with a QApplication,
  and with pyqtgraph too: the floor under the window.
- The app (offscreen unless a display is set): to the main window painted with its layout and
  the map's frame (the turn of the event loop after its first paint; target 0.5 s), and to
  the first decoded image on screen (``imageDisplayed``; target: torch's import plus 0.5 s).

LatentLab's own modules are compiled to bytecode first (``compileall``), as Python does at a
user's first start and an install does: with ``PYTHONDONTWRITEBYTECODE`` set and no caches, every
start would compile them again: on the development machine 0.05 s more to the window and 0.25 s
more to the first image (eight starts each way, alternated), a cost no user meets after the
first start.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in the child: times are wall-clock (time.time) so that they compare with the parent's.
_APP_SCRIPT = r"""
import json, os, sys, time
sys.path.insert(0, {root!r})
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from latentlab.cores import reserve_gui_core
reserve_gui_core()  # as run_app does
from latentlab.app import create_main_window
marks = {{}}
class FirstPaint(QObject):  # the turn of the event loop after the window's first paint
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and not marks:
            marks["painting"] = time.time()
            QTimer.singleShot(0, lambda: marks.setdefault("window", time.time()))
        return False
first_paint = FirstPaint()
app.installEventFilter(first_paint)
window = create_main_window({model!r})
window.show()
def done(*_):
    marks.setdefault("image", time.time())
    print(json.dumps(marks), flush=True)
    os._exit(0)
window.imageDisplayed.connect(done)
QTimer.singleShot(60_000, lambda: os._exit(3))
app.exec()
"""


_QT = "from PySide6.QtWidgets import QApplication; app = QApplication([])"


def _wall(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    return time.time() - start, done.stdout


def _summary(name: str, values: list[float], target: float | None) -> str:
    low, mid = min(values), statistics.median(values)
    verdict = (
        ""
        if target is None
        else ("  meets" if low <= target else "  MISSES") + (f" {target:.2f} s")
    )
    return f"{name:<34} min {low:6.3f} s  median {mid:6.3f} s{verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", help="model file for the app (default: the bundled default)")
    parser.add_argument("--quick", action="store_true", help="one run of each")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    env = dict(os.environ)
    if not env.get("DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    python = sys.executable
    compileall.compile_dir(ROOT / "latentlab", quiet=1)  # see the module's docstring
    cli = [python, "-m", "latentlab"]
    commands = {
        "latentlab --help": [*cli, "--help"],
        "usage error (sample, no model)": [*cli, "sample"],
        "missing file (info)": [*cli, "info", "missing.safetensors"],
        "import torch": [python, "-c", "import torch"],
        # the floor under the window: Qt and the plotting library, before any code of ours
        "Qt + QApplication": [python, "-c", _QT],
        "Qt + QApplication + pyqtgraph": [python, "-c", f"{_QT}; import pyqtgraph"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    times |= {"app: window shown": [], "app: first image": []}
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "start_app.py"
        script.write_text(_APP_SCRIPT.format(root=str(ROOT), model=args.model))
        for _ in range(args.runs):
            for name, command in commands.items():
                times[name].append(_wall(command, env)[0])
            start = time.time()
            _, out = _wall([python, str(script)], env)
            marks = json.loads(out.strip().splitlines()[-1])
            times["app: window shown"].append(marks["window"] - start)
            times["app: first image"].append(marks["image"] - start)
    torch_import = min(times["import torch"])
    targets = {
        "latentlab --help": 0.3,
        "usage error (sample, no model)": 0.3,
        "missing file (info)": 0.3,
        "import torch": None,
        "Qt + QApplication": None,
        "Qt + QApplication + pyqtgraph": None,
        "app: window shown": 0.5,
        "app: first image": torch_import + 0.5,
    }
    print(f"{args.runs} runs each, python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for name, values in times.items():
        print(_summary(name, values, targets[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
