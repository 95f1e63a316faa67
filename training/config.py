"""The typed training config: flat dataclasses of defaults grouped by topic whose fields generate
the command-line options, each option's help stating its default.

A trainer subclasses :class:`TrainConfig` (EM) or :class:`GradientConfig` with fields of its own.
Its model's options are generated from the family's config dataclass in ``latentlab.models``
(less the image fields, which come from the data), so that dataclass stays their one source.
The resolved config is checked and bounded as a model file's config is, logged at the start of
a run, and stored in every checkpoint and in the model file.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from latentlab.models.base import ConfigError, config_from_dict

__all__ = [
    "IMAGE_FIELDS",
    "GradientConfig",
    "TrainConfig",
    "describe",
    "option",
    "parse_config",
]

IMAGE_FIELDS = frozenset({"channels", "height", "width", "levels"})  # set by the data
_TYPES = {"int": int, "float": float, "str": str, "Path": Path, "str | None": str}


def option(
    default: Any = dataclasses.MISSING,
    doc: str = "",
    *,
    group: str,
    low: float | None = None,
    high: float | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """A config field that is also a command-line option, shown under ``group``; ``low`` and
    ``high`` bound it inclusively, as the fields of model configs are bounded."""
    metadata: dict[str, Any] = {"doc": doc, "group": group, "choices": choices}
    if low is not None:
        metadata |= {"low": low, "high": high}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """What every trainer is asked: data, output file, seed and device."""

    # data
    data: str = option(
        "digits",
        "digits | fashion | synthfaces | mnist:PATH (IDX files) | folder:PATH (images, or one "
        "subfolder of images per class)",
        group="data",
    )
    image_size: int = option(
        32, "synthfaces and folder data: image size", group="data", low=4, high=128
    )
    channels: int = option(
        3,
        "folder data: 1 for greyscale, 3 for colour",
        group="data",
        choices=(1, 3),
        low=1,
        high=3,
    )
    # output
    out: Path = option(  # noqa: RUF009 (option() returns a dataclasses.field)
        doc="model file to write (.safetensors); the checkpoint goes beside it (.ckpt)",
        group="output",
    )
    half_precision: bool = option(
        False,
        "store the float32 weights and the reference latents in 16 bits (half the file); "
        "the test metric is measured with the rounded weights",
        group="output",
    )
    # run
    seed: int = option(0, "random seed", group="run", low=0, high=2**32 - 1)
    preset: str | None = option(
        None,
        "smoke: a tiny run in seconds (for CI); changes the defaults",
        group="run",
        choices=("smoke",),
    )
    device: str = option("auto", "auto | cpu | cuda | cuda:N", group="run")
    threads: int = option(
        0,
        "CPU threads per process; 0: the cores divided among the processes",
        group="run",
        low=0,
        high=4096,
    )
    # not options: the model's options (its config less the image fields), the command line
    model: dict[str, Any] = field(default_factory=dict)
    command: str = ""

    @classmethod
    def options(cls) -> list[dataclasses.Field[Any]]:
        """The fields that are command-line options."""
        return [f for f in dataclasses.fields(cls) if "group" in f.metadata]

    def to_dict(self) -> dict[str, Any]:
        """The options as plain JSON values, for checkpoints and the model file."""
        values = {f.name: getattr(self, f.name) for f in self.options()}
        return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


@dataclass(frozen=True, kw_only=True)
class GradientConfig(TrainConfig):
    """What a trainer that fits by gradient descent is asked too: optimisation and its loop."""

    # optimisation
    epochs: int = option(100, "epochs", group="optimisation", low=1, high=10**6)
    batch_size: int = option(
        64,
        "global batch size, split across the processes",
        group="optimisation",
        low=1,
        high=2**16,
    )
    lr: float = option(1e-3, "learning rate", group="optimisation", low=0.0, high=10.0)
    lr_decay: str = option(
        "none",
        "none: the learning rate stays at --lr; cosine: it falls from --lr to 0 along a half "
        "cosine over this run's epochs, or over its --time-budget if that ends the run first "
        "(a resumed run anneals over what is left of it)",
        group="optimisation",
        choices=("none", "cosine"),
    )
    # loop and checkpoints
    patience: int = option(
        20,
        "stop after this many epochs without a better validation score",
        group="loop",
        low=1,
        high=10**6,
    )
    checkpoint_every: int = option(1, "epochs between checkpoints", group="loop", low=1, high=10**6)
    resume: bool = option(False, "continue from the checkpoint beside --out", group="loop")
    precision: str = option(
        "auto",
        "float32, or bfloat16 for the networks' convolutions and matrix products (autocast; "
        "the weights, the optimiser and evaluation stay float32; a flow's bijections and "
        "log-dets too); auto: bfloat16 for RealNVP and Glow on a processor that multiplies "
        "it natively (AVX512-BF16 or AMX); float32 elsewhere, a GPU included (at the "
        "trainers' sizes bfloat16 was slower there)",
        group="optimisation",
        choices=("auto", "float32", "bfloat16"),
    )
    time_budget: float = option(
        0.0,
        "minutes this run may train (validation included); then it stops, evaluates and writes "
        "its model as usual; 0: no limit",
        group="loop",
        low=0.0,
        high=10**7,
    )

    def bfloat16_pays_on_cpu(self) -> bool:
        """Whether ``--precision auto`` takes bfloat16 on a processor that multiplies it
        natively: only where it was measured to reach a given quality sooner."""
        return False


C = TypeVar("C", bound=TrainConfig)


def parse_config(
    cls: type[C],
    argv: list[str] | None,
    *,
    model: type,
    description: str,
    defaults: Mapping[str, Any] | None = None,
    smoke: Mapping[str, Any] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> C:
    """Parse ``argv`` (``None``: the process's arguments) into ``cls``.

    There is one option per field of ``cls`` and of the model's config class ``model`` (but
    its optional ones).
    ``defaults`` replaces field defaults for this trainer; ``--preset smoke`` replaces them with
    ``smoke`` too (options given explicitly still win); ``aliases`` gives fields extra option
    names. Values outside a field's bounds are usage errors.
    """
    defaults, smoke, aliases = defaults or {}, smoke or {}, aliases or {}
    # Optional fields are variants of imported models (latentlab.importers), not trained here,
    # or later variants of the family's own (offered, with the newer one as the default).
    model_fields = [
        f
        for f in dataclasses.fields(model)
        if f.name not in IMAGE_FIELDS
        and (not f.metadata.get("optional") or "trained" in f.metadata)
    ]
    own = cls.options()
    clash = {f.name for f in own} & {f.name for f in model_fields}
    assert not clash, f"{cls.__name__} and {model.__name__} both have {clash}"
    spec = sys.modules[cls.__module__].__spec__  # under python -m the module is __main__
    parser = argparse.ArgumentParser(
        prog=f"python -m {spec.name if spec else cls.__module__}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = {
        "model": parser.add_argument_group(
            "model", f"{model.__name__}; the image shape and levels come from the data"
        )
    }
    for f in own + model_fields:
        title = f.metadata.get("group", "model")
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        doc = f.metadata.get("doc", "")
        if f.name == "preset" and smoke:
            doc += f" to {_pairs(smoke)}"
        default = defaults.get(f.name, f.metadata.get("trained", f.default))
        _add_option(groups[title], f, default, doc, aliases.get(f.name, ()))
    args = parser.parse_args(argv)
    if args.preset == "smoke":
        parser.set_defaults(**smoke)
        args = parser.parse_args(argv)
    values = vars(args)
    command = f"{parser.prog} {shlex.join(sys.argv[1:] if argv is None else argv)}"
    try:
        return config_from_dict(
            cls,
            {
                **{f.name: values[f.name] for f in own},
                "model": {f.name: values[f.name] for f in model_fields},
                "command": command,
            },
        )
    except ConfigError as exc:
        parser.error(str(exc))


def _add_option(
    group: argparse._ArgumentGroup,
    f: dataclasses.Field[Any],
    default: Any,
    doc: str,
    aliases: Sequence[str],
) -> None:
    flags = ["--" + f.name.replace("_", "-"), *aliases]
    if default is dataclasses.MISSING:
        group.add_argument(*flags, dest=f.name, type=_TYPES[f.type], required=True, help=doc)
    elif f.type == "bool":
        group.add_argument(
            *flags,
            dest=f.name,
            action=argparse.BooleanOptionalAction,
            default=default,
            help=f"{doc} (default: %(default)s)",
        )
    else:
        group.add_argument(
            *flags,
            dest=f.name,
            type=_TYPES[f.type],
            default=default,
            choices=f.metadata.get("choices"),
            help=f"{doc} (default: %(default)s)",
        )


def _pairs(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


def describe(config: TrainConfig) -> str:
    """The resolved config as one block for the log: the command, then a line per group."""
    groups: dict[str, dict[str, Any]] = {"model": {}}  # first, as in --help
    for f in config.options():
        groups.setdefault(f.metadata["group"], {})[f.name] = getattr(config, f.name)
    groups["model"].update(config.model)
    return "\n".join([config.command, *(f"  {g:<13}{_pairs(v)}" for g, v in groups.items())])
