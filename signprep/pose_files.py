"""pose-format's MediaPipe Holistic `.pose` files, as signprep's exports write them and its imports read them.

A `.pose` file (https://github.com/sign-language-processing/pose) holds a header (components,
their point names, limbs and colours, the video's width and height) and a body of
(frames, people, points, dims) coordinates with a (frames, people, points) confidence, fps
beside them. pose-format's `video_to_pose` writes MediaPipe Holistic as five components, in the
same order as signprep's K axis (`signprep.kernels.keypoint_layout`): POSE_LANDMARKS 33,
FACE_LANDMARKS 468 (478 refined), LEFT_HAND_LANDMARKS 21, RIGHT_HAND_LANDMARKS 21, then
POSE_WORLD_LANDMARKS 33, point format "XYZC". The header here is pose-format's own
(`pose_format.utils.holistic.holistic_components`, equal to that of the reference FOOTBALL.pose
written by video_to_pose: names, points, limbs, colours and format).

Conventions, per point (x, y, z, confidence):
- pose-format: x, y in pixels of the video (MediaPipe's normalised x times the video's width, y
  times its height; continuous coordinates, origin at the top-left corner); z MediaPipe's raw
  relative depth (not scaled); confidence the pose visibility, 1 for a found face or hand, 0 where
  a part was not found; a point is masked where its confidence is 0.
- signprep shards: x, y in pixels of the stored frame (after the optional crop and resize: sample
  attributes `crop_box`, `scale`); z = MediaPipe's depth x the stored frame's width;
  `keypoint_present` False (and coordinates 0) where a part was not found.

Exports write the source video's pixels, which is what pose-format's tools (its visualiser over the
video, `video_to_pose` outputs of other teams) expect: source = stored / scale + crop origin, and z
= stored z / stored width. Imports read a file as a sample whose stored frame is the file's video
(scale 1, no crop): keypoints = (x, y, z x width); present = confidence > 0. So importing an export
of a shard without crop or resize gives its arrays back exactly (frame_indices then count the
file's frames), and an import exported again gives the file's x, y and confidence exactly and z to
within one float32 step (the shard's z is a product with the width, rounded once).

POSE_WORLD_LANDMARKS are not written: signprep does not store MediaPipe's world landmarks, and a
component of points that are all masked would claim that MediaPipe found no 3D pose while the 2D
one is there. pose-format's own tools read the four components (its `formatted_holistic_pose` and
`reduce_holistic` make such headers); on import a world component is accepted and ignored.

pose-format is the `pose` extra (`pip install 'signprep[pose]'`); it is imported when used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from signprep.kernels.keypoint_layout import KeypointLayout

if TYPE_CHECKING:
    from pose_format import Pose
    from pose_format.pose_header import PoseHeader

    from signprep.shards.reader import SampleView

# pose-format's names of signprep's four components, in signprep's order along K
COMPONENTS = {
    "pose": "POSE_LANDMARKS",
    "face": "FACE_LANDMARKS",
    "left_hand": "LEFT_HAND_LANDMARKS",
    "right_hand": "RIGHT_HAND_LANDMARKS",
}
WORLD_COMPONENT = "POSE_WORLD_LANDMARKS"
POINT_FORMAT = "XYZC"
HEADER_VERSION = 0.2  # what pose-format 0.15 writes (fps as float, frame count as uint32)
EXTRA_HINT = "pip install 'signprep[pose]'"


class PoseFormatMissing(ImportError):
    """pose-format is not installed; the message names the extra that installs it."""


class PoseFileError(ValueError):
    """A .pose file cannot be imported; the message names the file and the reason."""


def require_pose_format(what: str) -> None:
    """Raise PoseFormatMissing, naming the extra, unless pose-format can be imported."""
    try:
        import pose_format  # noqa: F401
    except ImportError:
        raise PoseFormatMissing(f"{what} needs the pose-format library: {EXTRA_HINT}") from None


def holistic_header(width: int, height: int, face_points: int = 468) -> PoseHeader:
    """pose-format's Holistic header without world landmarks: pose, face (468, or 478 refined), both hands."""
    from pose_format.pose_header import PoseHeader, PoseHeaderDimensions
    from pose_format.utils.holistic import holistic_components

    components = holistic_components(POINT_FORMAT, additional_face_points=face_points - 468)
    by_name = {c.name: c for c in components}
    return PoseHeader(
        version=HEADER_VERSION,
        dimensions=PoseHeaderDimensions(width=int(width), height=int(height), depth=0),
        components=[by_name[name] for name in COMPONENTS.values()],
    )


# ----------------------------------------------------------------------------------------------- export
@dataclass(frozen=True)
class SourceGeometry:
    """How a sample's stored frame sits in its source video: stored = (source - origin) * scale."""

    scale: tuple[float, float]  # (x, y) stored pixels per source pixel
    origin: tuple[float, float]  # (x, y) of the crop's top-left corner in source pixels
    stored_width: int
    source_size: tuple[int, int]  # (width, height) of the source video

    @classmethod
    def of(cls, attrs: dict[str, Any]) -> SourceGeometry:
        crop = attrs.get("crop_box") or ""
        origin = (float(crop[0]), float(crop[1])) if len(crop) == 4 else (0.0, 0.0)
        sx, sy = (float(v) for v in attrs.get("scale") or (1.0, 1.0))
        return cls((sx, sy), origin, int(attrs["width"]), (int(attrs["source_width"]), int(attrs["source_height"])))

    def to_source(self, keypoints: np.ndarray) -> np.ndarray:
        """(..., 3) stored-frame keypoints -> (..., 3) float32 pose-format units (source pixels, raw z)."""
        kp = keypoints.astype(np.float64)
        out = np.empty(kp.shape, np.float64)
        out[..., 0] = kp[..., 0] / self.scale[0] + self.origin[0]
        out[..., 1] = kp[..., 1] / self.scale[1] + self.origin[1]
        out[..., 2] = kp[..., 2] / self.stored_width
        return out.astype(np.float32)


def pose_of_sample(sample: SampleView) -> Pose:
    """One shard sample as a pose-format Pose: Holistic header (source video size), fps of the stored
    frames, one person, confidence from `keypoint_confidence`, absent points 0 and masked."""
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody

    attrs = sample.attrs
    layout = sample.layout()
    present = sample.read("keypoint_present")
    geometry = SourceGeometry.of(attrs)
    data = geometry.to_source(sample.read("keypoints"))
    data[~present] = 0.0
    confidence = np.where(present, sample.read("keypoint_confidence"), 0.0).astype(np.float32)
    face = layout.components["face"][1] - layout.components["face"][0]
    header = holistic_header(*geometry.source_size, face_points=face)
    # a plain array: NumPyPoseBody masks the points whose confidence is 0, as its reader does
    body = NumPyPoseBody(fps=float(attrs["fps"]), data=data[:, None], confidence=confidence[:, None])
    return Pose(header, body)


def pose_bytes(pose: Pose) -> bytes:
    import io

    buffer = io.BytesIO()
    pose.write(buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------- import
@dataclass
class PoseKeypoints:
    """A .pose file's keypoints in signprep's units: the sample's stored frame is the file's video."""

    keypoints: np.ndarray  # (T, K, 3) float32: x, y pixels; z = MediaPipe depth x width; 0 where absent
    confidence: np.ndarray  # (T, K) float32, 0 where absent
    present: np.ndarray  # (T, K) bool: confidence > 0 (pose-format's mask)
    fps: float
    width: int
    height: int
    layout: KeypointLayout
    note: str = ""  # what was left out (world landmarks, further people)

    def attrs(self) -> dict[str, str]:
        from signprep.stages.keypoints import KEYPOINT_UNITS

        return {
            "keypoint_layout": json.dumps(self.layout.to_attr()),
            "keypoint_units": KEYPOINT_UNITS,
            "keypoint_source": "pose-format file",
        }


def read_pose_keypoints(path: str | Path) -> PoseKeypoints:
    """Read a MediaPipe Holistic .pose file; PoseFileError, naming the file, for anything else."""
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_header import PoseHeader
    from pose_format.utils.reader import BufferReader

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PoseFileError(f"cannot read {path}: {e.strerror or e}") from None
    if not raw:
        raise PoseFileError(f"pose file is empty (0 bytes): {path}")
    reader = BufferReader(raw)
    try:
        header = PoseHeader.read(reader)
    except Exception as e:  # struct.error, UnicodeDecodeError...: pose-format's reader checks nothing itself
        raise PoseFileError(f"not a readable .pose file ({_first_line(e)}): {path}") from None
    offsets = _holistic_offsets(header, path)
    try:
        body = NumPyPoseBody.read(header, reader)
    except Exception as e:
        raise PoseFileError(f"truncated or damaged .pose body ({_first_line(e)}): {path}") from None
    left = len(raw) - reader.read_offset
    if left and round(header.version, 3) >= HEADER_VERSION:  # v0.2 states its frame count: the rest is no pose
        raise PoseFileError(f"{left} bytes after the last frame (a damaged file, or two files joined?): {path}")
    return _to_signprep(header, body, offsets, path)


def _holistic_offsets(header: PoseHeader, path: Path) -> dict[str, slice]:
    """Where each of signprep's components lies in the file's points; PoseFileError unless the header is
    the full MediaPipe Holistic layout (any order, with or without world landmarks)."""
    from pose_format.utils.holistic import holistic_components

    names = [c.name for c in header.components]
    wanted = list(COMPONENTS.values())
    unknown = [n for n in names if n not in wanted and n != WORLD_COMPONENT]
    if unknown or any(n not in names for n in wanted):
        raise PoseFileError(
            f"not a MediaPipe Holistic pose (components {', '.join(names)}; expected {', '.join(wanted)}"
            f" and optionally {WORLD_COMPONENT}, as pose-format's video_to_pose writes them): {path}"
        )
    offsets, start = {}, 0
    for component in header.components:
        if component.format != POINT_FORMAT:
            raise PoseFileError(
                f"{component.name} has point format {component.format!r}, expected {POINT_FORMAT!r} (x, y, z, "
                f"confidence): {path}"
            )
        offsets[component.name] = slice(start, start + len(component.points))
        start += len(component.points)
    face = header.components[names.index(COMPONENTS["face"])]
    refined = len(face.points) == 478
    reference = {c.name: c.points for c in holistic_components(POINT_FORMAT, 10 if refined else 0)}
    for component in header.components:
        if component.name == WORLD_COMPONENT:
            continue
        if list(component.points) != list(reference[component.name]):
            raise PoseFileError(
                f"{component.name} holds {len(component.points)} points that are not MediaPipe's full "
                f"{len(reference[component.name])} (a reduced layout, e.g. reduce_holistic's?); signprep stores "
                f"every Holistic point: {path}"
            )
    return offsets


def _to_signprep(header: PoseHeader, body: Any, offsets: dict[str, slice], path: Path) -> PoseKeypoints:
    width, height = int(header.dimensions.width), int(header.dimensions.height)
    if width <= 0 or height <= 0:
        raise PoseFileError(f"no video size in the header ({width}x{height}): {path}")
    fps = float(body.fps)
    if not np.isfinite(fps) or fps <= 0:
        raise PoseFileError(f"no frame rate in the body (fps {fps}): {path}")
    data = np.ma.getdata(body.data)  # (T, people, points, 3)
    confidence = np.asarray(body.confidence)
    frames, people = data.shape[:2]
    if frames == 0 or people == 0:
        raise PoseFileError(f"no frames ({frames} frames, {people} people): {path}")
    notes = []
    if WORLD_COMPONENT in offsets:
        notes.append(f"{WORLD_COMPONENT} not stored")
    if people > 1:
        notes.append(f"{people} people in the file; the first is stored")
    order = np.concatenate([np.arange(offsets[name].start, offsets[name].stop) for name in COMPONENTS.values()])
    xyz = data[:, 0][:, order].astype(np.float64)
    conf = confidence[:, 0][:, order].astype(np.float32)
    if not np.isfinite(conf).all():
        raise PoseFileError(f"non-finite confidence in frame {_first_bad_frame(conf)}: {path}")
    present = conf > 0
    if not np.isfinite(xyz[present]).all():
        frame = _first_bad_frame(np.where(present[..., None], xyz, 0.0))
        raise PoseFileError(f"non-finite coordinates of a found point in frame {frame}: {path}")
    xyz[..., 2] *= width  # raw MediaPipe depth -> signprep's units (x's)
    xyz[~present] = 0.0
    conf[~present] = 0.0
    layout = KeypointLayout.of_points(len(order))  # the face's 468 or 478 points, checked with the names
    return PoseKeypoints(xyz.astype(np.float32), conf, present, fps, width, height, layout, "; ".join(notes))


def _first_bad_frame(values: np.ndarray) -> int:
    bad = ~np.isfinite(values).reshape(len(values), -1).all(axis=1)
    return int(np.flatnonzero(bad)[0])


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__
