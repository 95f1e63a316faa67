"""A crash in native code prints the Python stacks of the app's threads, for a bug report."""

from __future__ import annotations

import os
import subprocess
import sys

CRASH_WITH_A_WINDOW = """
import faulthandler
from latentlab.app import create_lab_window

window = create_lab_window()
faulthandler._sigsegv()  # what a crash in Qt or torch does
"""


def test_a_native_crash_prints_the_python_stack():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONFAULTHANDLER", None)
    done = subprocess.run(
        [sys.executable, "-c", CRASH_WITH_A_WINDOW],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode < 0, done.stderr
    assert "Segmentation fault" in done.stderr, done.stderr
    assert 'File "<string>", line 6 in <module>' in done.stderr, done.stderr
