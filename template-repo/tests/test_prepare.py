from __future__ import annotations

import math

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from penguins.prepare import split
from penguins.settings import Features

test_sizes = st.floats(min_value=0.1, max_value=0.5)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def test_rows_without_a_label_are_dropped_and_no_other(sample: pd.DataFrame, features: Features) -> None:
    unlabelled = sample.head(3).assign(**{features.label: None})
    frame = pd.concat([sample, unlabelled], ignore_index=True)
    train, test = split(frame, features.label, test_size=0.2, seed=0)
    assert len(train) + len(test) == len(sample)
    assert train[features.label].notna().all()
    assert test[features.label].notna().all()


@given(test_size=test_sizes, seed=seeds)
def test_the_split_partitions_the_labelled_rows(
    sample: pd.DataFrame, features: Features, test_size: float, seed: int
) -> None:
    train, test = split(sample, features.label, test_size, seed)
    assert set(train.index).isdisjoint(test.index)
    assert set(train.index) | set(test.index) == set(sample.index)
    assert len(test) == math.ceil(test_size * len(sample))


@given(test_size=test_sizes, seed=seeds)
def test_the_split_keeps_class_proportions(
    sample: pd.DataFrame, features: Features, test_size: float, seed: int
) -> None:
    _, test = split(sample, features.label, test_size, seed)
    expected = sample[features.label].value_counts() * len(test) / len(sample)
    actual = test[features.label].value_counts().reindex(expected.index, fill_value=0)
    assert ((actual - expected).abs() <= 1).all()


def test_the_same_seed_gives_the_same_split(sample: pd.DataFrame, features: Features) -> None:
    first = split(sample, features.label, 0.2, seed=7)
    second = split(sample, features.label, 0.2, seed=7)
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b)
