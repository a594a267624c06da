"""`fit: person` in the extraction: two passes over a sample's frames, the person box between them.

The box is the signer's over the whole clip (signprep/kernels/person_box.py), so it is
known only once the keypoint stage has seen every frame, while the stages run chunk by
chunk. Pass 1 runs the stages before the first one that fits to the person (the keypoint
stage) over all frames and holds what the later stages read; the box is computed from its
keypoints; pass 2 decodes the frames again (decode is ~2% of a keypoint job's CPU, and a
1080p clip held in memory would be gigabytes) and runs the remaining stages with the box
in their VideoInfo. The keypoints are those of a one-pass run, bit for bit.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from signprep.config_models import StrictConfig
from signprep.kernels.frame_fit import Box
from signprep.kernels.person_box import PersonBox, person_box, to_source_pixels, to_stored_pixels
from signprep.video.decode import VideoInfo


class PersonBoxConfig(StrictConfig):
    """The `person_box:` section of a pipeline: how the box of `fit: person` is drawn."""

    margin: float = Field(default=0.05, ge=0, le=1)  # of the signer's extent, on each side
    outlier_frames: float = Field(default=0.02, ge=0, lt=0.5)  # quantile of frames left out at each edge
    min_visibility: float = Field(default=0.5, ge=0, le=1)  # pose points less visible than this do not count


def person_fit_stages(enabled: list[tuple[Any, Any]]) -> list[str]:
    """Names of the enabled stages (spec, configuration) that fit their images to the person box."""
    return [spec.name for spec, config in enabled if getattr(config, "fit", None) == "person"]


def second_pass_start(enabled: list[tuple[Any, Any]]) -> int:
    """Index of the first stage that needs the box: it and every later stage run in pass 2
    (len(enabled): no second pass)."""
    return next((i for i, (_, config) in enumerate(enabled) if getattr(config, "fit", None) == "person"), len(enabled))


@dataclass
class PersonFitInfo(VideoInfo):
    """The VideoInfo pass 2's stages open with: the decoder's, and the sample's person box."""

    person_box: Box | None = None  # stored-frame pixels
    person_box_basis: str = ""


def with_person_box(info: VideoInfo, box: PersonBox) -> PersonFitInfo:
    fields = {name: getattr(info, name) for name in VideoInfo.__dataclass_fields__}
    return PersonFitInfo(**fields, person_box=box.box, person_box_basis=box.basis)


def sample_person_box(
    arrays: dict[str, np.ndarray], info: VideoInfo, bbox: tuple[int, int, int, int] | None, config: PersonBoxConfig
) -> PersonBox:
    """The person box of a sample from its pass-1 arrays (stacked keypoint outputs)."""
    metadata_box = to_stored_pixels(bbox, info.crop_box, info.scale) if bbox else None
    return person_box(
        arrays["keypoints"],
        arrays["keypoint_confidence"],
        arrays["keypoint_present"],
        (info.height, info.width),
        margin=config.margin,
        outlier_frames=config.outlier_frames,
        min_visibility=config.min_visibility,
        metadata_box=metadata_box,
    )


def person_box_attrs(info: VideoInfo) -> dict[str, Any]:
    """The sample attributes of its person box (none without one)."""
    box = getattr(info, "person_box", None)
    if box is None:
        return {}
    return {
        "person_box": [round(v, 3) for v in box],
        "person_box_in_source": [round(v, 3) for v in to_source_pixels(box, info.crop_box, info.scale)],
        "person_box_basis": info.person_box_basis,
    }


# Holistic's segmentation comes at the frame's size, float32 (8.3 MB a 1080p frame): pass 1 holds it
# for pass 2 in 0..255 steps, zlib-compressed at level 1 (83 kB a 1080p frame, 10 kB at 640x360;
# 11 ms to compress and expand a 1080p frame, 1.1 ms at 640x360, beside Holistic's 65+ ms). Held at a
# quarter of the pixels instead, the 64x64 masks differed by up to 27 levels at the signer's edges;
# like this they stay within MASK_LEVELS_MEASURED of a one-pass mask (tests/extraction/test_person_fit.py).
MASK_LEVELS_MEASURED = 1
ZLIB_LEVEL = 1


@dataclass(frozen=True)
class HeldMap:
    """A frame-sized probability map (0..1 float) kept small between the passes (`hold_entry`)."""

    shape: tuple[int, int]
    levels: bytes  # zlib of the (h, w) uint8 map, value * 255 rounded


def hold_entry(value: Any, frame_shape: tuple[int, ...]) -> Any:
    """A frame-record entry as pass 1 keeps it for pass 2: a 0..1 float map of the frame's (h, w) as a
    `HeldMap`, anything else (keypoint arrays) as it is."""
    if not (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.shape == tuple(frame_shape[:2])):
        return value
    levels = np.round(np.clip(value, 0, 1) * 255).astype(np.uint8)
    return HeldMap(levels.shape, zlib.compress(levels.tobytes(), ZLIB_LEVEL))


def release_entry(value: Any) -> Any:
    """What `hold_entry` kept, as pass 2's stages read it: a HeldMap becomes its (h, w) float32 map."""
    if not isinstance(value, HeldMap):
        return value
    levels = np.frombuffer(zlib.decompress(value.levels), np.uint8).reshape(value.shape)
    return levels.astype(np.float32) / np.float32(255)
