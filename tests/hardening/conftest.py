"""Fixtures of the hardening suite: a cheap pipeline and real corpus frames to build bad files from."""

from __future__ import annotations

from pathlib import Path

import pytest
from hardening_files import CHEAP_PIPELINE, real_frames

from signprep.extraction.pipeline import parse_pipeline


@pytest.fixture(scope="session")
def cheap_pipeline():
    return parse_pipeline(CHEAP_PIPELINE, "hardening CHEAP_PIPELINE")


@pytest.fixture(scope="session")
def signer_frames(wlasl_root: Path) -> list:
    """20 real frames of clip 90029 (SOUP), shrunk to 160x120 so that encoding stays cheap."""
    return real_frames(wlasl_root / "videos" / "90029.mp4", 20, (160, 120))
