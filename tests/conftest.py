"""Shared pytest fixtures: float64 default dtype and seeded random generators.

Randomness in tests is always explicit and seeded, so every run sees the same numbers.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

# Make ``tests.reference`` importable under plain ``pytest`` too (``python -m pytest`` already puts the
# repository root on sys.path).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 20231010

# Test tensors are tiny: intra-op threads only add synchronisation, and on a shared or 2-core machine
# oversubscribed OpenMP threads made some tests 20x slower.
torch.set_num_threads(1)


@pytest.fixture
def float64():
    """Run the test with float64 as torch's default dtype (restored afterwards); yields the dtype."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield torch.float64
    finally:
        torch.set_default_dtype(previous)


@pytest.fixture
def gen() -> torch.Generator:
    """A seeded CPU ``torch.Generator``."""
    return torch.Generator().manual_seed(SEED)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy ``Generator``."""
    return np.random.default_rng(SEED)


@pytest.fixture(autouse=True)
def _seed_global_rngs():
    """Seed torch's and numpy's global RNGs before every test, so tests that (indirectly) use them are
    reproducible and independent of test order."""
    torch.manual_seed(SEED)
    np.random.seed(SEED % (2**32))
    yield
