"""The base of every configuration section signprep validates (pipeline sections, stages).

Kept apart from `signprep.configs` (errors and the lookup of shipped configs by name) because it
needs pydantic at import time, which the command line's start-up does not.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictConfig(BaseModel):
    """A configuration section: an unknown key is an error (a typo never falls back to a
    default silently), and a loaded configuration cannot be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
