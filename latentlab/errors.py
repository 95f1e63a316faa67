"""The errors a user can cause, and how the app and the command line say them in one line."""

from __future__ import annotations

from latentlab.untrusted import shorten

__all__ = ["MAX_MESSAGE", "UserError", "expected_errors", "one_line"]

MAX_MESSAGE = 1000  # characters: a file can hold a far longer name or value than anyone reads


class UserError(Exception):
    """A problem with what the user asked for, whose message speaks for itself (checked
    without importing torch, unlike :func:`expected_errors`)."""


def expected_errors() -> tuple[type[Exception], ...]:
    """What a bad file, bad data or a bad value raises: their messages speak for themselves.
    (A function: the model file module imports torch, which the command line loads only when a
    command needs it.)"""
    from latentlab.data import DataError
    from latentlab.modelfile import ModelFileError

    return (ModelFileError, DataError, ValueError, OSError)


def one_line(exc: BaseException) -> str:
    """One line a user can read: an expected error's message, others prefixed with their type,
    whitespace collapsed and cut to ``MAX_MESSAGE`` characters."""
    text = " ".join(str(exc).split())
    if not isinstance(exc, UserError) and not isinstance(exc, expected_errors()):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return shorten(text or type(exc).__name__, MAX_MESSAGE)
