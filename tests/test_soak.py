"""A one-minute soak of the real window (``scripts/soak.py``): a randomised session over every
bundled model and every action a user can take. Run as a user runs it, in a fresh interpreter,
so that a crash shows as a negative return code instead of taking the test run with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_one_minute_soak_of_the_window_finds_nothing(tmp_path: Path) -> None:
    figures_file = tmp_path / "soak.json"
    script = ROOT / "scripts" / "soak.py"
    result = subprocess.run(
        [sys.executable, str(script), "--minutes", "1", "--seed", "1", "--json", str(figures_file)],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    # stdout: the report; stderr: a trail of the actions ("soak: ..."), tracebacks, crash dumps
    errors = result.stderr.splitlines()
    trail = [line for line in errors if line.startswith("soak: ")]
    problems = [line for line in errors if not line.startswith("soak: ")]
    said = "\n".join([result.stdout, *problems[-60:], "the last actions:", *trail[-5:]])
    when = "on its way out, after its report" if "RESULT:" in result.stdout else "during the run"
    assert result.returncode >= 0, f"the soak crashed {when} (signal {-result.returncode}):\n{said}"
    figures = json.loads(figures_file.read_text())
    assert figures["hang"] is None, said
    assert figures["exceptions"] == [], said
    assert figures["qt_counts"].get("critical", 0) == 0, said
    assert figures["qt_counts"].get("fatal", 0) == 0, said
    # The target is no stall over 250 ms, and the GUI tests hold every action to it on tiny
    # models; with the bundled models a stretch of GUI work (opening a session with many images)
    # still reaches 250-300 ms now and then (about 1 in 1,000 actions in a 30-minute soak), so
    # this one-minute run checks for freezes: nothing over a second.
    worst = figures["worst_stall"]
    assert worst is None or worst["ms"] < 1000, said
    assert figures["threads_left"] == [] and figures["workers_left"] == [], said
    # every window's objects and models given back once the last one closed (no leak)
    assert not any(figures["leftovers"].values()), said
    assert figures["done"] >= 250, said
    assert result.returncode in (0, 1), said  # 1: the soak's own verdict, stalls over 250 ms
