"""Fixtures for the evaluation tests: synthetic datasets in each release layout."""

from __future__ import annotations

import pytest

from .synthetic import PAIRS, STEMS, WRITERS, pattern_mask


@pytest.fixture(params=sorted(WRITERS))
def pattern_dataset(request, tmp_path):
    """(key, root): each layout with two images holding the 4x6 test pattern."""
    key = request.param
    a, b = PAIRS[key]
    masks = {stem: pattern_mask(a, b) for stem in STEMS[key]}
    return key, WRITERS[key](tmp_path / key, masks)
