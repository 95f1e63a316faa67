"""2-D toy data and the user's points as CSV: shapes, determinism, ranges, and bad files."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.data import DataError
from latentlab.data.toy2d import (
    MAX_CSV_BYTES,
    TOY_DATASETS,
    load_points_csv,
    make_toy,
    save_points_csv,
)


def test_the_data_sets_are_the_ones_the_window_lists():
    assert list(TOY_DATASETS) == ["moons", "rings", "gaussians", "checkerboard", "spiral"]
    assert TOY_DATASETS["moons"] == "Two moons"


@pytest.mark.parametrize("name", list(TOY_DATASETS))
def test_toy_data_shape_range_and_determinism(name):
    points = make_toy(name, 3000, seed=3)
    assert points.shape == (3000, 2) and points.dtype == np.float32
    assert np.isfinite(points).all()
    assert np.abs(points).max() < 4.2
    assert points.std(0).min() > 0.5  # spread out, not a single blob at the origin
    np.testing.assert_array_equal(points, make_toy(name, 3000, seed=3))
    assert not np.array_equal(points, make_toy(name, 3000, seed=4))


def test_toy_shapes_look_like_their_names():
    gaussians = make_toy("gaussians", 4000)
    radius = np.linalg.norm(gaussians, axis=1)
    assert abs(np.median(radius) - 2.5) < 0.1
    angle = np.arctan2(gaussians[:, 1], gaussians[:, 0])
    assert len(np.unique(np.round(angle / (np.pi / 4)) % 8)) == 8
    rings = np.linalg.norm(make_toy("rings", 4000), axis=1)
    assert min(np.abs(rings - r).min() for r in (1, 2, 3)) < 0.3
    assert (np.min(np.abs(rings[:, None] - [1, 2, 3]), axis=1) < 0.4).mean() > 0.99
    board = make_toy("checkerboard", 4000) / 1.75 + 2  # back to cell units
    assert ((np.floor(board[:, 0]) + np.floor(board[:, 1])) % 2 == 0).all()


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="unknown toy data set"):
        make_toy("swissroll", 10)


def test_csv_round_trip(tmp_path):
    points = make_toy("spiral", 500)
    path = tmp_path / "points.csv"
    save_points_csv(path, points)
    assert path.read_text().splitlines()[0] == "x,y"
    np.testing.assert_array_equal(load_points_csv(path), points)


def test_csv_without_header_and_with_blank_lines(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("1,2\n\n-3.5, 4e-1\r\n")
    np.testing.assert_allclose(load_points_csv(path), [[1, 2], [-3.5, 0.4]])


@pytest.mark.parametrize(
    ("text", "problem", "line"),
    [
        ("x,y\n1,2\nnan,3\n", "finite", 3),
        ("1,2\n3,inf\n", "finite", 2),
        ("x,y\n1,2,3\n4,5,6\n", "found 3", 2),
        ("x,y\n1,2\nhello,world\n", "not a number", 3),
        ("1,2\n3\n", "found 1", 2),
        ("x,y\n1,2\n", "at least 2 points", None),
        ("x,y\n1,2\n3,2e7\n", "larger than", 3),
    ],
)
def test_bad_csv_names_the_file_the_line_and_the_problem(tmp_path, text, problem, line):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=problem) as info:
        load_points_csv(path)
    assert "bad.csv" in str(info.value)
    if line is not None:
        assert f"line {line}" in str(info.value)


def test_too_big_and_not_text_csv_are_refused(tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"1,2\n" * (MAX_CSV_BYTES // 4 + 1))
    with pytest.raises(DataError, match=r"big\.csv: the file is larger than"):
        load_points_csv(big)
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(DataError, match="not a text file"):
        load_points_csv(binary)
    with pytest.raises(DataError, match=r"missing\.csv: no such file"):
        load_points_csv(tmp_path / "missing.csv")


def test_more_than_the_point_limit_is_refused(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("0,0\n" * 100_001)
    with pytest.raises(DataError, match="more than 100,000 points"):
        load_points_csv(path)


def test_save_refuses_bad_points(tmp_path):
    with pytest.raises(ValueError):
        save_points_csv(tmp_path / "p.csv", np.zeros((3, 3)))
    with pytest.raises(ValueError):
        save_points_csv(tmp_path / "p.csv", np.array([[np.nan, 0.0]]))
