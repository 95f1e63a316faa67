"""The containers every loader returns: images, labels and attributes kept in step."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.data import ImageDataset


def images(n=5, c=1, size=4):
    return np.arange(n * c * size * size, dtype=np.uint8).reshape(n, c, size, size)


def attributes(n=5):
    return {
        "smiling": np.arange(n, dtype=np.float32) % 2,
        "head_tilt": np.linspace(-1, 1, n, dtype=np.float32),
    }


def test_defaults():
    data = ImageDataset(images(), 256)
    assert len(data) == 5 and data.image_shape == (1, 4, 4)
    assert data.labels is None and data.label_names == []
    assert data.attributes == {} and data.attribute_names == []


def test_as_float():
    data = ImageDataset(np.full((2, 1, 2, 2), 16, dtype=np.uint8), 17)
    out = data.as_float()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 1.0)


def test_attribute_names_keep_their_order():
    data = ImageDataset(images(), 256, attributes=attributes())
    assert data.attribute_names == ["smiling", "head_tilt"]


@pytest.mark.parametrize(
    "index", [slice(1, 4), np.array([4, 0, 2]), np.array([True, False] * 2 + [True])]
)
def test_subset_keeps_images_labels_and_attributes_in_step(index):
    labels = np.arange(5, dtype=np.int64) * 10
    data = ImageDataset(images(), 256, labels, ["a"], attributes())
    part = data.subset(index)
    np.testing.assert_array_equal(part.images, data.images[index])
    np.testing.assert_array_equal(part.labels, labels[index])
    assert part.label_names == ["a"] and part.levels == 256
    assert part.attribute_names == ["smiling", "head_tilt"]
    for name, values in data.attributes.items():
        np.testing.assert_array_equal(part.attributes[name], values[index])
        assert part.attributes[name].dtype == np.float32


def test_class_attributes_flag_each_named_class_against_the_rest():
    labels = np.array([0, 1, 1, 0, 1])
    data = ImageDataset(images(), 256, labels, ["Trouser", "Ankle boot", "Bag"])
    flags = data.class_attributes()
    assert list(flags) == ["trouser", "ankle boot"]  # a class with no image gives no direction
    np.testing.assert_array_equal(flags["trouser"], [1, 0, 0, 1, 0])
    np.testing.assert_array_equal(flags["ankle boot"], [0, 1, 1, 0, 1])
    assert all(v.dtype == np.float32 for v in flags.values())
    assert ImageDataset(images(), 256).class_attributes() == {}
    one_class = ImageDataset(images(), 256, np.zeros(5, np.int64), ["Bag"])
    assert one_class.class_attributes() == {}  # nothing to compare against


def test_subset_does_not_share_the_attribute_dict():
    data = ImageDataset(images(), 256, attributes=attributes())
    part = data.subset(slice(0, 2))
    part.attributes["new"] = np.zeros(2, np.float32)
    assert "new" not in data.attributes


def test_rejects_images_that_are_not_uint8_nchw():
    with pytest.raises(ValueError, match="uint8 array N,C,H,W"):
        ImageDataset(images().astype(np.float32), 256)
    with pytest.raises(ValueError, match="uint8 array N,C,H,W"):
        ImageDataset(images()[0], 256)


def test_rejects_labels_of_another_length():
    with pytest.raises(ValueError, match="labels and images differ in length"):
        ImageDataset(images(), 256, np.zeros(4, np.int64))


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (np.zeros(4, np.float32), r"attribute 'smiling' has shape \(4,\), expected \(5,\)"),
        (np.zeros((5, 1), np.float32), r"has shape \(5, 1\), expected \(5,\)"),
        (np.zeros(5, np.float64), "attribute 'smiling' must be a float32 array"),
        ([0.0] * 5, "must be a float32 array"),
    ],
)
def test_rejects_bad_attributes(values, match):
    with pytest.raises(ValueError, match=match):
        ImageDataset(images(), 256, attributes={"smiling": values})


def test_rejects_empty_attribute_names():
    with pytest.raises(ValueError, match="attribute name '' is not a non-empty string"):
        ImageDataset(images(), 256, attributes={"": np.zeros(5, np.float32)})
