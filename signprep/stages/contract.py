"""What a stage declares, so that the rest of signprep knows it only through this.

A stage module (`signprep/stages/<stage>.py`) defines, and ties together in one `StageSpec`:
- its configuration, a `StageConfig`: the keys of its section under `stages:` in a
  pipeline with their defaults (the only place they are written), and the frame-record
  entries it reads (`requires`);
- the stage, a `FrameStage` built from that configuration;
- its cost for `signprep plan`, a `StageCost` computed from `Measured` per-frame figures;
- its rows of the contact sheet (`render_rows`, given a `RenderInput`).
`signprep/stages/__init__.py` lists the specs in run order (`STAGES`).

The frame record (after mmaction2's "Required keys / Added keys"): a stage reads named
entries of the frame record (its configuration's `requires()`), returns new per-frame arrays
(`adds`), and keeps any per-video state between `open` and `close`. The runner stacks each
added entry over time into a (T, ...) dataset of the sample, so a stage never sees files,
shards or other samples. The pipeline schema refuses a configuration in which a stage reads
an entry no earlier stage adds.

The runner hands frames over in chunks of consecutive frames. A stage that is
faster seeing several at once (Holistic, which overlaps frames in its graph)
also defines `process_many(frames) -> list of outputs`, which must give what
`process` gives frame by frame; other stages get `process` per frame
(`process_frames`).

Frame record keys provided by the decoder (`DECODER_ENTRIES`): `rgb` (H x W x 3 uint8, the
stored frame geometry; read-only, as it may share the decoder's buffer: copy before drawing
on it) and `index` (0-based source frame index). Entries whose names start with "_" are
shared with later stages but never stored (Holistic's `_segmentation`,
`FrameFit.apply_cached`'s `_fitted`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np
from pydantic import PositiveInt

from signprep.config_models import StrictConfig
from signprep.video.decode import VideoInfo

if TYPE_CHECKING:
    from signprep.shards.reader import SampleView

DECODER_ENTRIES = ("rgb", "index")

Size = tuple[PositiveInt, PositiveInt]  # (height, width) in output pixels


class StageConfig(StrictConfig):
    """One stage's section under `stages:` in a pipeline; a stage's module declares the keys."""

    # added to "stage X needs the Y stage" when an entry this stage reads is missing
    requirement_hint: ClassVar[str] = ""

    def requires(self) -> tuple[str, ...]:
        """The frame-record entries the stage reads with this configuration."""
        return ("rgb",)


class FrameStage(Protocol):
    name: str
    adds: tuple[str, ...]  # what this instance adds (the class attribute: all the stage can add)

    def open(self, video: VideoInfo) -> None:
        """Start a new sample (reset tracking state)."""

    def process(self, frame: dict[str, Any]) -> dict[str, np.ndarray]:
        """Per-frame outputs, one array per name in `adds`."""

    def close(self) -> None:
        """Release per-sample state; the stage object is reused for the next sample."""

    def attrs(self) -> dict[str, Any]:
        """Sample attributes describing the stage's outputs (layout, units)."""


def process_frames(stage: FrameStage, frames: list[dict[str, Any]]) -> list[dict[str, np.ndarray]]:
    """The stage's outputs for consecutive frames of the open sample, in order."""
    process_many = getattr(stage, "process_many", None)
    if process_many is not None:
        return process_many(frames)
    return [stage.process(frame) for frame in frames]


# ------------------------------------------------------------------ cost, for `signprep plan`
@dataclass(frozen=True)
class Measured:
    """A per-frame cost measured on real clips, at the stored size it was measured at.

    All figures come from the project's 2-core x86 test machine with mediapipe 0.10.21.
    CPU time is process time of all threads (core-ms) per output frame, from
    `benchmarks/stages.py` [cost] on 160 frames of 4 corpus clips (90012, 90029, 90003 at
    1920x1080, 90013 portrait) unless the figure says otherwise; bytes are HDF5 storage
    (gzip 4 + shuffle) per frame. Each stage's figures say where their bytes come from.
    """

    cpu_ms: float
    bytes: float
    size: tuple[int, int] | None = None  # (height, width) of the stored arrays; None: size-independent

    def pixel_ratio(self, size: tuple[int, int] | int) -> float:
        """Pixels of `size` ((height, width), or a square's side) per pixel of the measured size."""
        h, w = (size, size) if isinstance(size, int) else size
        mh, mw = self.size
        return (h * w) / (mh * mw)


@dataclass(frozen=True)
class StageCost:
    """A stage's line in the plan's CPU table and its lines in the storage table."""

    label: str  # the CPU line, e.g. "flow (dis)"
    cpu_ms: float  # core-ms per output frame
    stored: tuple[tuple[str, float], ...] = ()  # (dataset, bytes per frame)


# ------------------------------------------------------------------ rows of the contact sheet
@dataclass(frozen=True)
class RenderInput:
    """What a stage's `render_rows` draws from: chosen frames of one stored sample."""

    sample: SampleView
    positions: list[int]  # 0-based along the sample's T axis
    frame_indices: np.ndarray  # (T,) int32: the sample's 0-based source frame indices
    tile_width: int  # pixels; a row that draws at a fixed resolution draws at this width
    # the source video's frames by 0-based index, decoded with the shard's decode settings on
    # the first call; {} when the video is not on this machine
    source_frames: Callable[[], dict[int, np.ndarray]]


# (label, one image per position): RGB uint8 (H, W, 3) or grey (H, W); the sheet letterboxes each
Row = tuple[str, list[np.ndarray]]

C = TypeVar("C", bound=StageConfig)


@dataclass(frozen=True)
class StageSpec(Generic[C]):
    """One stage, as the pipeline schema, the runner, `signprep plan` and `signprep render` see it."""

    stage_type: type  # a FrameStage class, constructed from its configuration: stage_type(config)
    config_type: type[C]
    cost: Callable[[C], StageCost]
    render_rows: Callable[[RenderInput], list[Row]]  # [] when the sample holds none of its datasets
    # instead of stage_type(config), for a stage that makes optional outputs only when a later
    # stage reads them: (configuration, every entry the pipeline's stages read) -> stage
    builder: Callable[[C, frozenset[str]], FrameStage] | None = None
    on_by_default: bool = False  # a pipeline without the key runs the stage at its defaults

    @property
    def name(self) -> str:
        """The key under `stages:`, and the stage named in a sample's failure."""
        return self.stage_type.name

    @property
    def adds(self) -> tuple[str, ...]:
        """Every frame-record entry the stage can add, transient ones included."""
        return self.stage_type.adds

    def build(self, config: C, read: frozenset[str]) -> FrameStage:
        """The stage for `config`, its models loaded; `read`: every entry the pipeline's stages read."""
        return self.builder(config, read) if self.builder is not None else self.stage_type(config)
