import subprocess
import sys

import numpy as np
from sklearn.datasets import load_digits

from latentlab.data import load_digits_split
from latentlab.data.digits import DIGITS_LEVELS


def test_the_split_holds_scikit_learns_digits_in_order():
    split = load_digits_split()
    images = np.concatenate([split.train.images, split.validation.images, split.test.images])
    labels = np.concatenate([split.train.labels, split.validation.labels, split.test.labels])
    reference = load_digits()
    np.testing.assert_array_equal(images[:, 0], reference.images.astype(np.uint8))
    np.testing.assert_array_equal(labels, reference.target)
    assert (len(split.train), len(split.validation), len(split.test)) == (1000, 350, 447)
    assert split.train.levels == DIGITS_LEVELS == images.max() + 1


def test_reading_the_digits_imports_neither_scikit_learn_nor_scipy():
    code = (
        "import sys; from latentlab.data import load_digits_split; load_digits_split(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
