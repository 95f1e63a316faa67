"""The errors a user can cause, and how the app and the command line say them in one line."""

from __future__ import annotations

from latentlab.untrusted import shorten

__all__ = ["MAX_MESSAGE", "ModelFileError", "UserError", "expected_errors", "one_line"]

MAX_MESSAGE = 1000  # characters: a file can hold a far longer name or value than anyone reads


class UserError(Exception):
    """A problem with what the user asked for, whose message speaks for itself (checked
    without importing torch, unlike :func:`expected_errors`)."""


class ModelFileError(Exception):
    """A model file cannot be used; the message says why in one line (raised by
    :mod:`latentlab.modelfile` and the importers; defined here, where no torch is needed)."""


def expected_errors() -> tuple[type[Exception], ...]:
    """What a bad file, bad data or a bad value raises: their messages speak for themselves.
    (A function: the command line's help and usage errors import no NumPy.)"""
    from latentlab.data.dataset import DataError

    return (ModelFileError, DataError, ValueError, OSError)


def one_line(exc: BaseException) -> str:
    """One line a user can read: an expected error's message, others prefixed with their type,
    whitespace collapsed and cut to ``MAX_MESSAGE`` characters."""
    text = " ".join(str(exc).split())
    if not isinstance(exc, UserError) and not isinstance(exc, expected_errors()):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return shorten(text or type(exc).__name__, MAX_MESSAGE)
