"""Every YAML configuration we read: errors that name the file and the key, and shipped configs found by name.

Pipelines (`pipelines/*.yaml`) and model configs (`models/*.yaml`) ship inside
the wheel as `signprep/pipelines` and `signprep/model_configs` (pyproject's
force-include), so `--pipeline keypoints` and `--config dsft` work for a
`pip install` without the repository; an editable install reads the checkout's
folders instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic costs ~150 ms to import; the command line's start-up never needs it
    from pydantic import ValidationError

# the checkout: signprep/configs.py -> the repository root (an editable install)
_CHECKOUT = Path(__file__).resolve().parents[1]


class ConfigError(ValueError):
    """A configuration file is invalid; the message names the file and the key."""


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


@dataclass(frozen=True)
class ShippedConfigs:
    """One kind of shipped YAML config: a folder in the wheel, or the checkout's folder.

    kind: what the configs are, for messages ("pipeline").
    packaged: the folder's name inside the installed `signprep` package.
    checkout: the folder's name at the repository root.
    """

    kind: str
    packaged: str
    checkout: str

    def folder(self) -> Path | None:
        inside_wheel = resources.files("signprep") / self.packaged
        if inside_wheel.is_dir():
            return Path(str(inside_wheel))
        in_checkout = _CHECKOUT / self.checkout
        return in_checkout if in_checkout.is_dir() else None

    def names(self, prefix: str = "") -> list[str]:
        """The shipped configs' names (file stems), sorted; only those starting with `prefix`."""
        folder = self.folder()
        if folder is None:
            return []
        return sorted(p.stem for p in folder.glob("*.yaml") if p.stem.startswith(prefix))

    def find(self, name_or_path: str | Path) -> Path:
        """The file `name_or_path` if it exists (a path wins), else the shipped config of that name.

        An unknown name is a ConfigError listing the shipped ones."""
        path = Path(name_or_path)
        if path.is_file():
            return path
        folder = self.folder()
        candidate = folder / f"{name_or_path}.yaml" if folder is not None else None
        if candidate is None or not candidate.is_file():
            raise ConfigError(
                f"{self.kind} {str(name_or_path)!r} is neither a file nor a shipped {self.kind} "
                f"(shipped: {', '.join(self.names()) or 'none found'})"
            )
        return candidate

    def complete(self, incomplete: str, prefix: str = "") -> list[str]:
        """Shell completion: the shipped names starting with what was typed."""
        return [n for n in self.names(prefix) if n.startswith(incomplete)]


PIPELINES = ShippedConfigs("pipeline", packaged="pipelines", checkout="pipelines")
MODEL_CONFIGS = ShippedConfigs("model config", packaged="model_configs", checkout="models")
