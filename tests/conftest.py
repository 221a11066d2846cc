"""Shared pytest fixtures.  Keep this file small: helpers that only one test file needs live there."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A freshly seeded generator, so every test sees the same numbers in any order."""
    return np.random.default_rng(20240607)
