"""Synthetic faces: shapes, determinism, and attributes that are independent and visible."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score
from threadpoolctl import threadpool_limits

from latentlab.data import ImageDataset, Split, make_faces, synthfaces_split
from latentlab.data.synthfaces import (
    ATTRIBUTE_RANGES,
    ATTRIBUTES,
    BINARY_ATTRIBUTES,
    CHUNK,
    SPLIT_SEEDS,
)

CONTINUOUS = [name for name in ATTRIBUTES if name not in BINARY_ATTRIBUTES]


@pytest.fixture(scope="module")
def faces():
    """2,000 faces to learn from and 1,000 others to test on, from different seeds."""
    return make_faces(2000, 101), make_faces(1000, 202)


def pixels(images):
    return images.reshape(len(images), -1).astype(np.float32) / 255


@pytest.mark.parametrize("size", [16, 32, 64])
def test_shapes_dtypes_and_ranges(size):
    images, attributes = make_faces(40, 3, size)
    assert images.shape == (40, 3, size, size) and images.dtype == np.uint8
    assert list(attributes) == list(ATTRIBUTES)
    for name, values in attributes.items():
        low, high = ATTRIBUTE_RANGES[name]
        assert values.dtype == np.float32 and values.shape == (40,)
        assert low <= values.min() and values.max() <= high
    for name in BINARY_ATTRIBUTES:
        assert set(np.unique(attributes[name])) <= {0.0, 1.0}
    assert images.min() < 40 and images.max() > 215  # dark pupils or hair, white eyes or teeth


def test_no_faces():
    images, attributes = make_faces(0, 1)
    assert images.shape == (0, 3, 32, 32)
    assert all(values.shape == (0,) for values in attributes.values())


@pytest.mark.parametrize(
    ("n", "seed", "size", "match"),
    [
        (-1, 0, 32, "n must be"),
        (2.5, 0, 32, "n must be"),
        (True, 0, 32, "n must be"),
        (1, -1, 32, "seed must be"),
        (1, 0.5, 32, "seed must be"),
        (1, 0, 15, "size must be an integer from 16 to 128"),
        (1, 0, 129, "size must be"),
        (1, 0, 32.0, "size must be"),
    ],
)
def test_rejects_bad_arguments(n, seed, size, match):
    with pytest.raises(ValueError, match=match):
        make_faces(n, seed, size)


def test_same_seed_same_bytes_other_seed_other_faces():
    first, first_attributes = make_faces(20, 7)
    again, again_attributes = make_faces(20, 7)
    assert first.tobytes() == again.tobytes()
    for name in ATTRIBUTES:
        assert first_attributes[name].tobytes() == again_attributes[name].tobytes()
    other, _ = make_faces(20, 8)
    assert not np.array_equal(first, other)
    assert len({face.tobytes() for face in first}) == 20


def test_fewer_faces_are_a_prefix_of_more():
    n = 2 * CHUNK + 3  # crosses chunk boundaries and ends inside one
    many, many_attributes = make_faces(n, 5)
    for k in (1, 3, CHUNK, CHUNK + 6):
        few, few_attributes = make_faces(k, 5)
        np.testing.assert_array_equal(few, many[:k])
        for name in ATTRIBUTES:
            np.testing.assert_array_equal(few_attributes[name], many_attributes[name][:k])


def test_attributes_do_not_depend_on_the_size():
    _, small = make_faces(10, 9, 32)
    images, large = make_faces(10, 9, 64)
    assert images.shape == (10, 3, 64, 64)
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(small[name], large[name])


def test_attributes_are_balanced_and_cover_their_ranges(faces):
    (_, attributes), _ = faces
    for name in BINARY_ATTRIBUTES:
        assert 0.45 < attributes[name].mean() < 0.55, name
    for name in CONTINUOUS:
        low, high = ATTRIBUTE_RANGES[name]
        unit = (attributes[name] - low) / (high - low)  # drawn uniformly
        assert unit.min() < 0.01 and unit.max() > 0.99, name
        assert 0.45 < unit.mean() < 0.55, name


def test_attributes_are_independent(faces):
    (_, attributes), _ = faces
    correlation = np.corrcoef(np.stack([attributes[name] for name in ATTRIBUTES]))
    off_diagonal = np.abs(correlation - np.eye(len(ATTRIBUTES)))
    worst = np.unravel_index(off_diagonal.argmax(), off_diagonal.shape)
    assert off_diagonal.max() < 0.1, [ATTRIBUTES[i] for i in worst]


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("smiling", (0.55, 0.85)),  # the mouth
        ("eyes_open", (0.3, 0.6)),  # the eyes
        ("glasses", (0.3, 0.6)),
    ],
)
def test_binary_attributes_change_the_right_part_of_the_face(faces, name, rows):
    (images, attributes), _ = faces
    x = images.astype(np.float32) / 255
    has = attributes[name] == 1
    change = ((x[has].mean(axis=0) - x[~has].mean(axis=0)) ** 2).sum(axis=(0, 2))  # per row
    size = images.shape[-1]
    inside = change[round(rows[0] * size) : round(rows[1] * size)].sum()
    assert inside > 0.8 * change.sum()


@pytest.mark.parametrize("name", BINARY_ATTRIBUTES)
def test_a_linear_classifier_on_pixels_sees_each_binary_attribute(faces, name):
    (train, train_attributes), (test, test_attributes) = faces
    with threadpool_limits(1):  # BLAS threads only fight each other at this size
        model = LogisticRegression(C=0.1, max_iter=1000)
        model.fit(pixels(train), train_attributes[name])
        accuracy = model.score(pixels(test), test_attributes[name])
    assert accuracy > 0.9


def test_ridge_regression_on_pixels_reads_each_continuous_attribute(faces):
    (train, train_attributes), (test, test_attributes) = faces
    with threadpool_limits(1):
        model = Ridge(alpha=10.0).fit(
            pixels(train), np.stack([train_attributes[n] for n in CONTINUOUS], axis=1)
        )
        predicted = model.predict(pixels(test))
    truth = np.stack([test_attributes[n] for n in CONTINUOUS], axis=1)
    r2 = dict(zip(CONTINUOUS, r2_score(truth, predicted, multioutput="raw_values"), strict=True))
    assert all(value > 0.5 for value in r2.values()), r2


def test_split_draws_each_part_from_its_own_seed():
    split = synthfaces_split(n_train=30, n_validation=10, n_test=12, size=16)
    assert isinstance(split, Split) and split.name == "synthfaces"
    parts = {"train": split.train, "validation": split.validation, "test": split.test}
    for part, n in zip(parts, (30, 10, 12), strict=True):
        data = parts[part]
        assert isinstance(data, ImageDataset) and len(data) == n
        assert data.levels == 256 and data.image_shape == (3, 16, 16) and data.labels is None
        assert data.attribute_names == list(ATTRIBUTES)
        images, attributes = make_faces(n, SPLIT_SEEDS[part], 16)
        np.testing.assert_array_equal(data.images, images)
        np.testing.assert_array_equal(data.attributes["smiling"], attributes["smiling"])
    seen = [face.tobytes() for data in parts.values() for face in data.images]
    assert len(set(seen)) == len(seen)
