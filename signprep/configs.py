"""Configuration errors that name the file and the key, for every YAML config we read, and the
strict base model of the pipeline's sections."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """A configuration file is invalid; the message names the file and the key."""


class StrictConfig(BaseModel):
    """A configuration section: an unknown key is an error (a typo never falls back to a
    default silently), and a loaded configuration cannot be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def format_validation_error(kind: str, source: str, err: ValidationError) -> str:
    """One line per problem: `stages.keypoints.model_complexty: unknown key`, ..."""
    lines = [f"invalid {kind} configuration {source}:"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown key")
        else:
            lines.append(f"  {where}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)
