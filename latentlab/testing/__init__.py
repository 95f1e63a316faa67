"""Tools for testing model families, LatentLab's own and plugins' (docs/plugins.md).

:func:`check_family` (``latentlab.testing.conformance``) runs the protocol checks of LatentLab's
own suite on a family; it needs torch only, not Qt. The pytest plugin
``latentlab.testing.pytest_plugin`` adds fixtures that open the real main window on a model
file and drive it (it needs PySide6 and pytest-qt).
"""

from __future__ import annotations

from latentlab.testing.conformance import ConformanceError, check_family

__all__ = ["ConformanceError", "check_family"]
