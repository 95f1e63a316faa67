"""Installing plugins for a test only: a package's source folder and a ``*.dist-info`` folder
with its ``entry_points.txt``, both in folders put on ``sys.path`` for the test (importlib.metadata
finds entry points there as it finds an installed package's). No network, no pip, nothing left in
the environment afterwards."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest
from installing import EXAMPLE, EXAMPLE_ENTRY_POINTS

from latentlab import plugins
from latentlab.testing.pytest_plugin import latentlab_window  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True, scope="package")
def automatic_garbage_collection_after_these_tests():
    """The app turns automatic cycle collection off; the tests after these run with it on."""
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def plugins_read_afresh():
    """Each test reads the entry points as its own installs left them, and later tests as the
    environment has them."""
    plugins.reset_plugins()
    yield
    plugins.reset_plugins()


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install(name, entry_points, source=None)``: make distribution ``name`` declare the
    ``latentlab.families`` entry points ``entry_points`` (entry name -> "module:attr"), its
    modules imported from folder ``source``, for this test only."""
    imported_before = set(sys.modules)

    def install_(name: str, entry_points: dict[str, str], source: Path | None = None) -> None:
        site = tmp_path / f"site-{name}"
        info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
        lines = [f"[{plugins.ENTRY_POINT_GROUP}]"]
        lines += [f"{entry} = {target}" for entry, target in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        monkeypatch.syspath_prepend(str(site))
        if source is not None:
            monkeypatch.syspath_prepend(str(source))
        plugins.reset_plugins()

    yield install_
    roots = (str(tmp_path), str(EXAMPLE))
    for name, module in list(sys.modules.items()):  # the plugins' modules go with them
        if name not in imported_before and str(getattr(module, "__file__", "")).startswith(roots):
            del sys.modules[name]


@pytest.fixture
def example_plugin(install):
    """The example plugin of examples/latentlab-plugin-example, installed for this test."""
    install("latentlab-ppca-example", EXAMPLE_ENTRY_POINTS, EXAMPLE / "src")
    from latentlab_ppca import PPCA

    return PPCA
