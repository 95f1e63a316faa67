"""Take the README's "For teachers" screenshots: each concept of the lecture in the view that
shows it, in presentation mode on a 1920x1080 screen, as a projector audience sees it.

    xvfb-run -a -s "-screen 0 1920x1080x24" \\
        .venv/bin/python scripts/lecture_screenshots.py [--out DIR]

Writes lab-layers.png (the 2-D lab: RealNVP on two moons, the layer slider mid-way, the Jacobian
at the cursor), lab-em.png (EM mid-fit with its ellipses), realnvp-layers.png (RealNVP's layer
table on Fashion-MNIST), glow-layers.png (Glow's layer view: actnorm, 1x1 convolution,
coupling), vae-posterior.png (the 2-D VAE: m and σ, reparameterised draws, and q(z|x) as an
ellipse on the map) and pixelrnn-next-pixel.png (PixelRNN painting, with the distribution over
levels of the pixel being drawn). Without a display it renders offscreen, where the screen is
smaller and fonts may differ.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QPushButton, QWidget  # noqa: E402

from latentlab.app import create_lab_window, create_main_window  # noqa: E402
from latentlab.resources import bundled_models  # noqa: E402


def wait_until(done: Callable[[], object], timeout_s: float = 60.0, settle_ms: int = 400) -> None:
    """Run the event loop until ``done()`` is true, then a little longer for the last paint."""
    loop, end = QEventLoop(), time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting after {timeout_s:.0f} s")
        QTimer.singleShot(30, loop.quit)
        loop.exec()
    QTimer.singleShot(settle_ms, loop.quit)
    loop.exec()


def save(widget: QWidget, out: Path) -> None:
    widget.grab().save(str(out))
    print(f"wrote {out}")


def follow_a_sample(window, model: str, tile: int, result: str) -> None:
    """Open ``model``, make sample ``tile`` the current image and have the family panel work
    on it until the panel's ``result`` is set."""
    window.open_model(bundled_models()[model])
    # the model opens on the loader thread: until it is in place, the last model's samples show
    wait_until(
        lambda: (
            window.explorer.loaded is not None
            and window.explorer.loaded.name == model
            and window.explorer.samples
        )
    )
    window.sample_panel.tiles[tile].click()
    panel = window.family_panel
    wait_until(lambda: window.current_image() is not None)
    panel.findChild(QPushButton, "useCurrentImage").click()
    wait_until(lambda: getattr(panel, result) is not None)


def main_window_shots(out: Path) -> None:
    window = create_main_window(bundled_models()["nice-digits"])
    window.show()
    window.set_presentation(True)
    window.setGeometry(window.screen().geometry())  # full screen even without a window manager
    wait_until(lambda: window.explorer.samples is not None)

    follow_a_sample(window, "realnvp-fashion", 3, "trace")
    save(window, out / "realnvp-layers.png")

    follow_a_sample(window, "glow-synthfaces", 5, "trace")
    table = window.family_panel.table
    table.scrollToItem(table.item(3, 0))  # actnorm, the 1x1 convolution, the coupling
    wait_until(lambda: True)
    save(window, out / "glow-layers.png")

    follow_a_sample(window, "vae-digits-latent2", 6, "report")
    window.family_panel.draw()
    wait_until(lambda: window.map_view.ellipses.get(("current", 1)) is not None)
    save(window, out / "vae-posterior.png")

    window.open_model(bundled_models()["pixelrnn-digits"])
    wait_until(lambda: window.explorer.samples is not None)
    panel = window.family_panel
    window.sample_panel.tiles[2].click()
    wait_until(lambda: window.current_image() is not None)
    panel.source.use_current_image()
    panel.set_pace("slow")
    panel.complete()
    wait_until(lambda: panel.last_step is not None and panel.last_step.position[1] >= 3)
    save(window, out / "pixelrnn-next-pixel.png")
    window.close()


def lab_shots(out: Path) -> None:
    lab = create_lab_window()  # two moons and RealNVP with 8 layers: its defaults
    lab.show()
    lab.set_presentation(True)
    lab.setGeometry(lab.screen().geometry())  # full screen even without a window manager
    lab.fit()
    wait_until(lambda: lab.flow_view is not None and lab.flow_view.step >= 400)
    lab.runner.stop()
    wait_until(lambda: not lab.running)
    lab.layer_slider.setValue(4)
    lab.set_cursor(0.6, 0.75)
    wait_until(
        lambda: (
            lab.flow_view.layer == 4
            and lab.flow_view.jacobian is not None
            and lab.flow_view.jacobian.point == (0.6, 0.75)
        )
    )
    save(lab, out / "lab-layers.png")

    lab.controls.model.setCurrentIndex(lab.controls.model.findData("em"))
    lab.fit()
    wait_until(lambda: lab.em_view is not None and lab.em_view.iteration >= 6)
    lab.controls.pause.setChecked(True)
    lab.pick_and_sample()
    wait_until(lambda: True, settle_ms=1500)  # a few samples picked and dropped
    save(lab, out / "lab-em.png")
    lab.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "lecture")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    _app = QApplication.instance() or QApplication([])
    lab_shots(args.out)
    main_window_shots(args.out)
    print(f"screenshots written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
