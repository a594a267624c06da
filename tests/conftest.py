"""Shared fixtures: the real test corpus beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

# The corpus is never copied into the repository; it sits beside the checkout
# (../shared/data), locally and in CI alike.
CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The `shared/data` folder described in its README.md; a missing corpus fails the run."""
    if not (CORPUS / "wlasl-sample" / "WLASL_v0.3.json").is_file():
        pytest.fail(
            f"test corpus not found at {CORPUS.resolve()}: the real data must sit in shared/data "
            "beside the repository checkout (see shared/data/README.md); tests do not run without it",
            pytrace=False,
        )
    return CORPUS.resolve()
