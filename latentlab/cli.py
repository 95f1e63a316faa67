"""The ``latentlab`` command: the GUI by default, plus headless subcommands.

The headless subcommands run the same ``explore`` code as the app and never import Qt. Torch,
NumPy and the image code are imported inside the commands, so that ``latentlab --help``, usage
errors and a missing file answer at once. Every failure prints one
line, ``latentlab: error: ...``, and exits 1; usage errors exit 2; Ctrl+C exits 130.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from latentlab import resources
from latentlab.device import device_choice
from latentlab.errors import UserError, expected_errors, one_line
from latentlab.explore.describe import describe, metric_text, model_info
from latentlab.fileio import atomic_write_bytes
from latentlab.importers import FORMAT_NAMES
from latentlab.suffixes import MODEL_SUFFIX, SESSION_SUFFIX
from latentlab.untrusted import is_finite_number

if TYPE_CHECKING:
    import numpy as np

    from latentlab.modelfile import LoadedModel

__all__ = ["CliError", "build_parser", "main"]

PROG = "latentlab"
MAX_SAMPLES = 1024
MAX_STEPS = 256


class CliError(UserError):
    """A problem with what the user asked for; printed as one line."""


# ----------------------------------------------------------------------------------------------
# Argument types: a bad value is a usage error (exit 2), reported by argparse


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def _float_in(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (is_finite_number(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text} is outside {low}..{high}")
        return value

    return parse


def _output(*suffixes: str) -> Callable[[str], Path]:
    def parse(text: str) -> Path:
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text!r} must end in {' or '.join(suffixes)}")
        return Path(text)

    return parse


def _device(text: str) -> str:
    try:
        return device_choice(text)  # resolved only where a model is loaded: it imports torch
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_device(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--device",
        type=_device,
        default=default,
        metavar="DEV",
        help="where models run: auto, cpu, cuda, cuda:N or mps; auto takes a CUDA GPU, then "
        "Apple's MPS, then the CPU, but keeps PixelRNN on the CPU (default: auto)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Explore the latent spaces of deep generative models. Without a command, "
        "opens the app on the default bundled model.",
        epilog="MODEL is a model file (.safetensors), a PyTorch checkpoint of a format "
        f"'{PROG} import' converts, or the name of a bundled model (see '{PROG} models'). "
        f"'{PROG} COMMAND --help' describes each command.",
    )
    parser.set_defaults(handler=_cmd_gui, model=None)
    _add_device(parser, "auto")  # before a command, for the app or the command that follows
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, summary: str, runs_models: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=summary, description=summary[0].upper() + summary[1:] + "."
        )
        if runs_models:  # no default here: one given before the command stays
            _add_device(sub, argparse.SUPPRESS)
        return sub

    sub = command("open", "open the app on MODEL, or resume a saved session")
    sub.add_argument(
        "model",
        metavar="MODEL",
        help=f"model file, bundled model name, or session file (*{SESSION_SUFFIX})",
    )
    sub.set_defaults(handler=_cmd_gui)

    sub = command(
        "lab",
        "open the 2-D lab: flows and EM fitted live on toy 2-D data (on the CPU: its models "
        "are tiny)",
        runs_models=False,
    )
    sub.set_defaults(handler=_cmd_lab)

    sub = command("models", "list the bundled models", runs_models=False)
    sub.set_defaults(handler=_cmd_models)

    sub = command("info", "describe a model: family, data, training, capabilities")
    sub.add_argument("model", metavar="MODEL", help="model file or bundled model name")
    sub.add_argument(
        "--json",
        action="store_true",
        help="print machine-readable JSON instead of text (default: text)",
    )
    sub.set_defaults(handler=_cmd_info)

    sub = command(
        "import",
        "convert a checkpoint trained elsewhere to a LatentLab model file",
        runs_models=False,
    )
    sub.add_argument(
        "source",
        metavar="SRC",
        help="a PyTorch state dict saved with torch.save (.pth, .pt) or as .safetensors",
    )
    sub.add_argument(
        "--format",
        choices=("auto", *FORMAT_NAMES),
        default="auto",
        help="what SRC holds; auto recognises it by its tensor names (default: %(default)s)",
    )
    sub.add_argument(
        "--image-size",
        type=_int_in(4, 128),
        default=None,
        metavar="N",
        help="side of the square images the model was trained on, where SRC does not say it "
        "(glow-rosinality; default: 64)",
    )
    sub.add_argument(
        "--bits",
        type=_int_in(1, 8),
        default=None,
        metavar="N",
        help="bits per sub-pixel the model was trained on (2**N levels), where SRC does not "
        "say it (glow-rosinality; default: 5)",
    )
    sub.add_argument(
        "-o",
        "--output",
        type=_output(MODEL_SUFFIX),
        required=True,
        metavar="FILE",
        help="the model file to write",
    )
    sub.set_defaults(handler=_cmd_import)

    sub = command("sample", "draw samples from a model and save them as a PNG grid")
    sub.add_argument("model", metavar="MODEL", help="model file or bundled model name")
    sub.add_argument(
        "-n",
        type=_int_in(1, MAX_SAMPLES),
        default=16,
        help=f"number of samples, 1..{MAX_SAMPLES} (default: %(default)s)",
    )
    sub.add_argument(
        "--seed",
        type=_int_in(0, 2**63 - 1),
        default=0,
        metavar="S",
        help="random seed; the same seed gives the same samples (default: %(default)s)",
    )
    sub.add_argument(
        "--temperature",
        type=_float_in(0.0, 10.0),
        default=1.0,
        metavar="T",
        help="scale of the prior's spread; lower gives more typical samples (default: %(default)s)",
    )
    sub.add_argument(
        "--columns",
        type=_int_in(1, MAX_SAMPLES),
        default=None,
        metavar="C",
        help="images per row (default: a square grid)",
    )
    _add_scale(sub)
    sub.add_argument(
        "-o",
        "--output",
        type=_output(".png"),
        required=True,
        metavar="FILE",
        help="the PNG file to write",
    )
    sub.set_defaults(handler=_cmd_sample)

    sub = command("encode", "encode image files to latents saved with numpy (.npy)")
    sub.add_argument("model", metavar="MODEL", help="model file or bundled model name")
    sub.add_argument(
        "images",
        metavar="IMAGE",
        nargs="+",
        help="image files; any size or mode is converted to the model's shape",
    )
    sub.add_argument(
        "-o",
        "--output",
        type=_output(".npy"),
        required=True,
        metavar="FILE",
        help="the .npy file to write: float32 latents, one row per image",
    )
    sub.set_defaults(handler=_cmd_encode)

    sub = command("interpolate", "walk between two images in latent space; save a strip or GIF")
    sub.add_argument("model", metavar="MODEL", help="model file or bundled model name")
    sub.add_argument("start", metavar="A", help="image file at the start of the walk")
    sub.add_argument("end", metavar="B", help="image file at the end of the walk")
    sub.add_argument(
        "--steps",
        type=_int_in(2, MAX_STEPS),
        default=8,
        metavar="N",
        help="images along the walk, both ends included (default: %(default)s)",
    )
    sub.add_argument(
        "--slerp",
        action="store_true",
        help="walk along a great circle instead of a straight line (default: straight)",
    )
    sub.add_argument(
        "--frame-ms",
        type=_int_in(10, 10_000),
        default=100,
        metavar="MS",
        help="milliseconds per frame of a GIF (default: %(default)s)",
    )
    _add_scale(sub)
    sub.add_argument(
        "-o",
        "--output",
        type=_output(".png", ".gif"),
        required=True,
        metavar="FILE",
        help="a .png file for a strip of images or a .gif file for an animation",
    )
    sub.set_defaults(handler=_cmd_interpolate)

    sub = command(
        "attribute",
        "move an image along a named attribute direction (the smile slider); save the result",
    )
    sub.add_argument("model", metavar="MODEL", help="model file or bundled model name")
    sub.add_argument(
        "image", metavar="IMAGE", nargs="+", help="the image files to edit (one row each)"
    )
    sub.add_argument(
        "--name",
        required=True,
        help="attribute direction stored in the model (see 'latentlab info MODEL')",
    )
    sub.add_argument(
        "--amount",
        type=_float_in(-10, 10),
        default=None,
        metavar="X",
        help="how far along the direction, in standard deviations of the model's reference "
        "images along it (the slider's unit); several values give a strip, e.g. "
        "--amount -2 --amount 0 --amount 2 (default: 1)",
        action="append",
    )
    _add_scale(sub)
    sub.add_argument(
        "-o",
        "--output",
        type=_output(".png"),
        required=True,
        metavar="FILE",
        help="the PNG file to write: one row per image, one column per amount",
    )
    sub.set_defaults(handler=_cmd_attribute)
    return parser


def _add_scale(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--scale",
        type=_int_in(1, 64),
        default=None,
        help="enlarge each pixel to KxK pixels (default: 4 for 8x8 images, "
        "2 for 16x16, 1 from 32x32)",
        metavar="K",
    )


# ----------------------------------------------------------------------------------------------
# Helpers


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _resolve_model(spec: str) -> Path:
    """A model file path, or the path of the bundled model named ``spec``."""
    path = Path(spec)
    if path.exists():
        return path
    bundled = resources.bundled_models()
    if spec in bundled:
        return bundled[spec]
    known = ", ".join(bundled) or "none installed"
    raise CliError(
        f"{spec}: no such model file, nor a bundled model of that name (bundled: {known})"
    )


def _load(args: argparse.Namespace, *needs: str) -> LoadedModel:
    """Load the model ``args.model`` names (a foreign checkpoint is converted, with a notice on
    stderr), check that it can do each of ``needs``, and move it to ``args.device`` (read on
    the CPU; if the move fails, it stays there, with a notice)."""
    path = _resolve_model(args.model)  # before the imports below, which bring torch
    from latentlab.device import device_for, place_model, resolve_device
    from latentlab.importers import load_any

    device = resolve_device(args.device)  # an unavailable device fails before the file is read
    loaded, notice = load_any(path)
    if notice:
        print(f"{PROG}: {notice}", file=sys.stderr)
    missing = [c for c in needs if c not in loaded.model.capabilities]
    if missing:
        raise CliError(
            f"{loaded.name}: a {loaded.model.family} model cannot {' or '.join(missing)}"
        )
    device, why = device_for(device, args.device, loaded.model.family)
    _, notice = place_model(loaded.model, device)
    if notice or why:
        print(f"{PROG}: {notice or why}", file=sys.stderr)
    return loaded


def _load_images(loaded: LoadedModel, paths: list[str]) -> np.ndarray:
    """Images ``N,C,H,W`` in the model's shape; what was converted is reported on stderr."""
    import numpy as np

    from latentlab.data import load_image

    model = loaded.model
    arrays = []
    for path in paths:
        array, notices = load_image(path, model.image_shape, model.levels)
        for notice in notices:
            print(f"{PROG}: {Path(path).name}: {notice}", file=sys.stderr)
        arrays.append(array)
    return np.stack(arrays)


def _write_bytes(path: Path, payload: bytes) -> None:
    try:
        atomic_write_bytes(path, payload)
    except OSError as exc:
        raise CliError(f"{path.name}: cannot write the file ({exc.strerror or exc})") from None


# ----------------------------------------------------------------------------------------------
# Commands: each returns the exit code


def _cmd_gui(args: argparse.Namespace) -> int:
    session = None
    if args.model is not None and args.model.endswith(SESSION_SUFFIX):
        session = Path(args.model)
        if not session.is_file():
            raise CliError(f"{args.model}: no such session file")
    path = None if args.model is None or session else _resolve_model(args.model)
    _require_display()
    if args.device != "auto":  # auto never fails; its probe of the GPUs waits for the worker
        from latentlab.device import resolve_device

        resolve_device(args.device)  # one line here rather than a notice in the app
    try:
        from latentlab.app import run_app  # imported here: the headless commands never load Qt
    except ImportError as exc:
        raise _cannot_start(exc) from None
    return int(run_app(path, session, device=args.device) or 0)


def _cmd_lab(args: argparse.Namespace) -> int:
    _require_display()
    try:
        from latentlab.app import run_lab
    except ImportError as exc:
        raise _cannot_start(exc) from None
    return int(run_lab() or 0)


def _require_display() -> None:
    if sys.platform.startswith("linux") and not any(
        os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    ):  # without this check Qt aborts the process with a screenful of advice
        raise CliError(
            "no display to open the app on (DISPLAY and WAYLAND_DISPLAY are unset); "
            f"the headless commands still work, see '{PROG} --help'"
        )


def _cannot_start(exc: ImportError) -> CliError:
    return CliError(
        f"cannot start the app ({one_line(exc)}); the headless commands "
        f"still work, see '{PROG} --help'"
    )


def _cmd_models(args: argparse.Namespace) -> int:
    from latentlab.modelfile import ModelFileError, read_metadata

    bundled = resources.bundled_models()
    if not bundled:
        print(f"no bundled models in {resources.RESOURCES / 'models'}")
        return 0
    rows, failed = [("", "NAME", "FAMILY", "DATASET", "TEST METRIC")], False
    for name, path in bundled.items():
        try:
            meta = read_metadata(path)
        except ModelFileError as exc:
            _error(one_line(exc))
            failed = True
            continue
        mark = "*" if name == resources.DEFAULT_MODEL else ""
        rows.append(
            (
                mark,
                name,
                meta["family"],
                str(meta["dataset"].get("name", "?")),
                metric_text(meta["training"].get("test_metric")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print(
        f"* the default model, opened when '{PROG}' starts without arguments and has no "
        "session to resume"
    )
    return 1 if failed else 0


def _cmd_info(args: argparse.Namespace) -> int:
    from latentlab.device import device_label
    from latentlab.explore.ops import model_device

    loaded = _load(args)
    info = model_info(loaded)
    device = device_label(model_device(loaded.model))  # where the other commands would run it
    if args.json:
        print(json.dumps({**info, "device": device}, indent=2))
        return 0
    lines = [*describe(info), ("device", device)]
    width = max(len(label) for label, _ in lines)
    for label, text in lines:
        print(f"{label.ljust(width)}  {text}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from latentlab.importers import import_checkpoint
    from latentlab.modelfile import save_model

    loaded = import_checkpoint(args.source, args.format, image_size=args.image_size, bits=args.bits)
    save_model(args.output, loaded.model, loaded.meta, reference=loaded.reference)
    training = loaded.meta["training"]
    print(
        f"wrote {args.output}: a {loaded.model.family} model converted from "
        f"{training['imported_from']} ({training['format']}); {training['note']}"
    )
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from latentlab.data import save_png
    from latentlab.explore import ops
    from latentlab.explore.export import enlarge
    from latentlab.explore.images import image_grid

    loaded = _load(args, "sample")
    _, images = ops.sample(loaded.model, args.n, args.temperature, args.seed)
    columns = args.columns or math.ceil(math.sqrt(args.n))
    grid = image_grid(enlarge(images, args.scale), columns)
    save_png(args.output, grid)
    print(f"wrote {args.n} samples to {args.output} ({grid.shape[1]}x{grid.shape[0]} pixels)")
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    import numpy as np

    from latentlab.explore import ops

    loaded = _load(args, "encode")
    latents = ops.encode(loaded.model, _load_images(loaded, args.images)).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, latents)
    _write_bytes(args.output, buffer.getvalue())
    print(f"wrote {len(latents)} latents of dimension {latents.shape[1]} to {args.output}")
    return 0


def _cmd_interpolate(args: argparse.Namespace) -> int:
    from latentlab.explore import ops
    from latentlab.explore.export import save_walk
    from latentlab.explore.interpolate import interpolation_path

    loaded = _load(args, "encode", "decode")
    za, zb = ops.encode(loaded.model, _load_images(loaded, [args.start, args.end]))
    path = interpolation_path(za, zb, args.steps, spherical=args.slerp)
    written = save_walk(args.output, ops.decode(loaded.model, path), args.frame_ms, args.scale)
    print(f"wrote {written}")
    return 0


def _cmd_attribute(args: argparse.Namespace) -> int:
    import numpy as np

    from latentlab.data import save_png
    from latentlab.explore import ops
    from latentlab.explore.attributes import apply_directions, spread_along
    from latentlab.explore.export import enlarge
    from latentlab.explore.images import image_grid

    loaded = _load(args, "encode", "decode")
    if args.name not in loaded.attributes:
        known = ", ".join(sorted(loaded.attributes)) or "none"
        raise CliError(f"{loaded.name} has no attribute {args.name!r} (it has: {known})")
    amounts = args.amount or [1.0]
    direction = loaded.attributes[args.name].double().numpy()
    reference = None if loaded.reference is None else loaded.reference.latents.double().numpy()
    unit = spread_along(reference, direction)  # one standard deviation along it, as the slider
    latents = ops.encode(loaded.model, _load_images(loaded, args.image))
    moved = np.stack(
        [
            apply_directions(z, {args.name: direction}, {args.name: a * unit})
            for z in latents
            for a in amounts
        ]
    )
    images = enlarge(ops.decode(loaded.model, moved), args.scale)
    save_png(args.output, image_grid(images, columns=len(amounts)))
    print(
        f"wrote {len(latents)} x {len(amounts)} images to {args.output} ({args.name} at "
        f"{', '.join(f'{a:+g}' for a in amounts)} standard deviations; one is "
        f"{unit:.3g} times the stored direction)"
    )
    return 0


# ----------------------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    try:
        if args.handler is not _cmd_gui and args.model is not None:
            _resolve_model(args.model)  # a missing model is reported before torch is imported
        return args.handler(args)
    except BrokenPipeError:
        # the reader of our output went away (``latentlab models | head -1``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except UserError as exc:  # before the others: reporting it must not import torch
        _error(one_line(exc))
        return 1
    except _reported_errors() as exc:  # evaluated only once something is raised
        _error(one_line(exc))
        return 1


def _reported_errors() -> tuple[type[Exception], ...]:
    """What :func:`_run` reports as one line: ours and the expected ones (a function, so that
    torch is imported only when an error needs it, as in :func:`expected_errors`)."""
    return (UserError, *expected_errors())


def main(argv: list[str] | None = None) -> int:
    """Run the ``latentlab`` command with ``argv`` (default: ``sys.argv[1:]``); returns the
    exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug; still one line and no traceback
        _error(f"unexpected {one_line(exc)}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
