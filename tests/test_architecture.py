"""Checks of habit over the whole source tree: the layering (docs/architecture.md), no unpickling,
lint, types."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    [
        *ROOT.glob("latentlab/**/*.py"),
        *ROOT.glob("training/**/*.py"),
        *ROOT.glob("benchmarks/**/*.py"),
    ]
)
QT = ("PySide6", "pyqtgraph", "latentlab.app")
# package -> imports it must never make (docs/architecture.md, Layers)
FORBIDDEN = {
    "latentlab/models": (*QT, "latentlab.explore", "latentlab.modelfile", "latentlab.cli"),
    "latentlab/data": (*QT, "latentlab.explore", "latentlab.cli"),
    "latentlab/explore": (*QT, "latentlab.cli"),
    "latentlab/metrics": (*QT, "latentlab.explore", "latentlab.modelfile", "latentlab.cli"),
    "latentlab/modelfile.py": QT,
    "latentlab/plugins.py": (*QT, "latentlab.explore", "latentlab.modelfile", "latentlab.cli"),
    # plugin authors' tools: the conformance checks need torch only, the window fixtures Qt
    "latentlab/testing/__init__.py": (*QT, "latentlab.explore", "latentlab.cli", "pytest"),
    "latentlab/testing/conformance.py": (*QT, "latentlab.explore", "latentlab.cli", "pytest"),
    "latentlab/testing/qt.py": ("latentlab.cli",),
    "latentlab/testing/pytest_plugin.py": ("latentlab.cli",),
    "latentlab/importers": (*QT, "latentlab.explore", "latentlab.cli"),
    "training": QT,
}


def imports_of(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_downwards(layer):
    target = ROOT / layer
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    assert files
    bad = [
        f"{f.relative_to(ROOT)} imports {name}"
        for f in files
        for name in imports_of(f)
        if name.startswith(FORBIDDEN[layer])
    ]
    assert not bad


def test_the_headless_cli_does_not_import_qt():
    code = (
        "import sys, latentlab.cli, latentlab.modelfile, latentlab.explore.ops; "
        "print(any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_the_cli_answers_help_without_loading_torch():
    """`latentlab --help` and argument errors answer at once: torch loads only in commands."""
    code = "import sys, latentlab.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_the_main_window_shows_before_torch_loads():
    """The window's modules import no model code: torch (seconds) loads on the loader's thread
    while the window is already on screen (benchmarks/startup.py)."""
    code = "import sys, latentlab.app.main_window; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_nothing_unpickles():
    bad = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n.split(".")[0] in ("pickle", "dill", "cloudpickle") for n in names):
                    bad.append(f"{path.name}: imports pickle")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and getattr(node.func.value, "id", "") == "torch"
                and not any(
                    k.arg == "weights_only" and getattr(k.value, "value", None) is True
                    for k in node.keywords
                )
            ):
                bad.append(f"{path.name}:{node.lineno}: torch.load without weights_only=True")
    assert not bad


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    result = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    """Strict type checking of the package, as configured in pyproject.toml ([tool.mypy])."""
    mypy = shutil.which("mypy") or str(Path(sys.executable).with_name("mypy"))
    result = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    result = subprocess.run(
        [ruff, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
