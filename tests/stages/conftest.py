"""What the stage tests share: the contact sheet's request for a stage's rows."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def render_input():
    """render_input(sample, positions, source=None) -> the `RenderInput` the contact sheet hands
    every stage: 256 px tiles, and `source` (or nothing) as the re-decoded source frames."""
    from signprep.stages.contract import RenderInput

    def make(sample, positions, source=None):
        return RenderInput(sample, list(positions), sample.read("frame_indices"), 256, lambda: source or {})

    return make
