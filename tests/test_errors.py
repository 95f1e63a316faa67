"""One-line error messages, shared by the app and the command line."""

from __future__ import annotations

from latentlab.data import DataError
from latentlab.errors import MAX_MESSAGE, one_line
from latentlab.modelfile import ModelFileError


def test_expected_errors_speak_for_themselves_on_one_line():
    assert one_line(ModelFileError("m.safetensors: not a model\n  (details)")) == (
        "m.safetensors: not a model (details)"
    )
    assert one_line(DataError("x.png: cannot read it")) == "x.png: cannot read it"
    assert one_line(ValueError("")) == "ValueError"


def test_unexpected_errors_name_their_type():
    assert one_line(KeyError("z")) == "KeyError: 'z'"
    assert one_line(RuntimeError()) == "RuntimeError"


def test_a_huge_message_is_cut_short():
    text = one_line(ValueError("x" * 50_000_000))
    assert len(text) == MAX_MESSAGE and text.endswith("...")
