"""Take the README's screenshots of the default model in the real window.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py [--out DIR]

Writes main-window.png, smile-2.png, smile+0.png, smile+2.png (a face loaded from a file moved
along "smiling"), smile-sheet.png (six held-out faces from -3 to +3 standard deviations along
"smiling", the slider's whole range, by ``latentlab attribute``), interpolation-faces.png (a
walk between two loaded faces), attribute-plane.png (the map on the plane of "smiling" and
"glasses", its reference faces coloured by how much they smile), vae-panel.png (the VAE's
posterior panel) and nice-layers.png (NICE's layer-by-layer panel). Without a display it
renders offscreen, where fonts may differ.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py --fashion

takes instead each family's panel on its Fashion-MNIST model, working on a real test garment
(needs the dataset-fashion-mnist package): fashion-vae.png (the posterior of
vae-fashion-latent16), fashion-gmm.png, fashion-realnvp.png and fashion-glow.png (the garment
layer by layer), fashion-pixelrnn.png (the lower half completed), fashion-dcgan.png (the
garment inverted) and fashion-glow-trouser.png (the garment, loaded from a file, at +2 along
the Glow's class direction "trouser").
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer, SignalInstance  # noqa: E402
from PySide6.QtWidgets import QApplication, QSlider  # noqa: E402

from latentlab.app import create_main_window  # noqa: E402
from latentlab.resources import bundled_models  # noqa: E402

FACES = [ROOT / "resources" / "images" / f"face-{i}.png" for i in (1, 4)]


def wait_for(signal: SignalInstance, then: object = None, settle_ms: int = 300) -> None:
    """Run ``then()`` (if given) and block in an event loop until ``signal`` fires, then let
    the window settle and repaint."""
    loop = QEventLoop()
    signal.connect(loop.quit)
    if callable(then):
        then()
    loop.exec()
    signal.disconnect(loop.quit)
    QTimer.singleShot(settle_ms, loop.quit)
    loop.exec()


def shoot_smile_sheet(out: Path) -> None:
    """Six faces the default Glow never saw (generator seed 4242; training used others), each
    a row from -3 to +3 standard deviations along "smiling"."""
    import tempfile

    from PIL import Image

    from latentlab.cli import main as cli
    from latentlab.data.synthfaces import make_faces

    faces, _ = make_faces(6, seed=4242)
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(Path(folder) / f"held-out-{i}.png") for i in range(len(faces))]
        for face, path in zip(faces, paths, strict=True):
            Image.fromarray(face.transpose(1, 2, 0)).save(path)
        amounts = [f"--amount={a}" for a in range(-3, 4)]
        command = ["attribute", "glow-synthfaces", *paths, "--name=smiling", *amounts]
        if cli([*command, "--scale=4", f"--output={out / 'smile-sheet.png'}"]) != 0:
            raise SystemExit("latentlab attribute failed")


def shoot_family_panel(window, model: str, tile: int, result: str, out: Path) -> None:
    """Open ``model``, choose sample ``tile``, let its family panel work on that image until
    the panel's attribute ``result`` is set, and save the window."""
    wait_for(window.samplesDisplayed, lambda: window.open_model(bundled_models()[model]))
    wait_for(window.imageDisplayed, lambda: window.sample_panel.tiles[tile].click())
    panel, loop = window.family_panel, QEventLoop()
    QTimer.singleShot(0, panel.source.use_current_image)
    while getattr(panel, result) is None:
        QTimer.singleShot(50, loop.quit)
        loop.exec()
    wait_for(
        window.imageDisplayed, lambda: window.explorer.state.move_to(*window.explorer.state.point)
    )
    window.grab().save(str(out))


def wait_until(done: Callable[[], bool], settle_ms: int = 300) -> None:
    """Run the event loop until ``done()``, then a little longer for the last paint."""
    loop = QEventLoop()
    while not done():
        QTimer.singleShot(50, loop.quit)
        loop.exec()
    QTimer.singleShot(settle_ms, loop.quit)
    loop.exec()


def shoot_fashion_panels(window, out: Path) -> None:
    """Each family's panel on its Fashion-MNIST model, on test garment ``_GARMENT``."""
    from latentlab.data.fashion import load_fashion_split

    garment = load_fashion_split().test.as_float()[_GARMENT]  # 1,28,28 in [0, 1]
    for model, name, start, done in (
        ("vae-fashion-latent16", "vae", lambda p: p.analyse(garment), lambda p: p.draws),
        ("gmm-fashion", "gmm", lambda p: None, lambda p: p.components.count() > 0),
        ("realnvp-fashion", "realnvp", lambda p: p.follow(garment), lambda p: p.trace),
        ("glow-fashion", "glow", lambda p: p.follow(garment), lambda p: p.trace),
        ("pixelrnn-fashion", "pixelrnn", _complete_lower_half(garment), _painted),
        ("dcgan-fashion", "dcgan", _invert(garment), lambda p: p.result),
    ):
        wait_for(window.modelOpened, lambda m=model: window.open_model(bundled_models()[m]))
        panel = window.family_panel
        start(panel)
        wait_until(lambda p=panel, d=done: bool(d(p)))
        window.grab().save(str(out / f"fashion-{name}.png"))
    shoot_class_direction(window, garment, out)


def shoot_class_direction(window, garment: np.ndarray, out: Path) -> None:
    """The garment loaded from a file into the Fashion-MNIST Glow, then pushed along its class
    direction "trouser" with the slider at +2."""
    import tempfile

    from PIL import Image

    wait_for(window.modelOpened, lambda: window.open_model(bundled_models()["glow-fashion"]))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pullover.png"
        Image.fromarray(np.round(garment[0] * 255).astype(np.uint8)).save(path)
        wait_for(window.imagesEncoded, lambda: window.encode_images([path]))
    wait_for(window.imageDisplayed, lambda: window.map_view.imagePicked.emit(0))
    window.tabs.setCurrentWidget(window.attribute_panel)
    slider = window.attribute_panel.findChild(QSlider, "attr:trouser")
    wait_for(window.imageDisplayed, lambda: slider.setValue(2 * 100))
    window.grab().save(str(out / "fashion-glow-trouser.png"))


_GARMENT = 1  # the second test image, a pullover


def _complete_lower_half(garment: np.ndarray) -> Callable[[object], None]:
    def start(panel) -> None:
        panel.set_source(garment)
        panel.preset.setCurrentText("bottom half")
        panel.set_pace("fast")
        panel.complete()

    return start


def _painted(panel) -> bool:
    return not panel.paint_button.running and panel.completions() is not None


def _invert(garment: np.ndarray) -> Callable[[object], None]:
    def start(panel) -> None:
        panel.set_target(garment)
        panel.invert_button.click()

    return start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--fashion", action="store_true", help="the Fashion-MNIST panels")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    _app = QApplication.instance() or QApplication([])
    window = create_main_window()
    window.resize(1280, 760)
    window.show()
    wait_for(window.samplesDisplayed)
    if args.fashion:
        shoot_fashion_panels(window, args.out)
        window.close()
        print(f"screenshots written to {args.out}")
        return 0
    window.grab().save(str(args.out / "main-window.png"))

    # the smile slider on a face loaded from a file
    wait_for(window.imagesEncoded, lambda: window.encode_images(FACES))
    wait_for(window.imageDisplayed, lambda: window.map_view.imagePicked.emit(0))
    window.tabs.setCurrentWidget(window.attribute_panel)
    slider = window.attribute_panel.findChild(QSlider, "attr:smiling")
    for amount, name in ((-2, "smile-2"), (0, "smile+0"), (2, "smile+2")):
        if slider.value() != amount * 100:
            wait_for(window.imageDisplayed, lambda a=amount: slider.setValue(a * 100))
        window.grab().save(str(args.out / f"{name}.png"))
    slider.setValue(0)
    shoot_smile_sheet(args.out)

    # a walk between the two loaded faces
    window.tabs.setCurrentWidget(window.interpolation_panel)
    for which, index in (("A", 0), ("B", 1)):
        wait_for(window.imageDisplayed, lambda i=index: window.map_view.imagePicked.emit(i))
        if which == "A":
            window.interpolation.set_endpoint("A")
        else:
            wait_for(window.stripDisplayed, lambda: window.interpolation.set_endpoint("B"))
    window.grab().save(str(args.out / "interpolation-faces.png"))

    # the map on the plane of two attributes through the first face
    wait_for(window.imageDisplayed, lambda: window.map_view.imagePicked.emit(0))
    chooser = window.map_controls
    chooser.attribute_x.setCurrentText("smiling")
    chooser.attribute_y.setCurrentText("glasses")
    chooser.show_kind("attributes")
    wait_for(
        window.map.planeShown, lambda: window.map.choose_plane("attributes", "smiling", "glasses")
    )
    window.map_controls.colour.setCurrentText("smiling")
    window.map.colour_by("smiling")
    window.tabs.setCurrentWidget(window.sample_panel)
    wait_for(window.imageDisplayed, lambda: window.explorer.state.move_to(2.5, 2.5))
    window.grab().save(str(args.out / "attribute-plane.png"))

    # the VAE's own panel (the ELBO of a sample split into its terms, the KL of each dimension)
    # and NICE's (the change of variables, layer by layer)
    for model, tile, result, name in (
        ("vae-digits-latent16", 5, "report", "vae-panel"),
        ("nice-digits", 2, "trace", "nice-layers"),
    ):
        shoot_family_panel(window, model, tile, result, args.out / f"{name}.png")
    window.close()
    print(f"screenshots written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
