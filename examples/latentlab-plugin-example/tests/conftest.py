"""The plugin's own tests: LatentLab's fixtures for opening its window on a model."""

from __future__ import annotations

pytest_plugins = ["latentlab.testing.pytest_plugin"]
