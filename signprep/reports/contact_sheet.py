"""`signprep render`: look at a sample to trust its shards.

A contact sheet (PNG) with one column per chosen frame and one row per stored
modality: the frame with its keypoints drawn (re-decoded from the source video
with the shard's own decode settings), the stored training frame, the summed
heatmaps over it, the flow in colour, the person mask and the
background-removed frame, and both hand crops with their crop keypoints. Or
the same rows for every frame as an MP4.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from signprep.atomic import atomic_path, atomic_write_bytes
from signprep.shards.reader import SampleView
from signprep.stages import STAGES
from signprep.stages.contract import RenderInput
from signprep.video.decode import DecodeOptions, SampleFrames

TILE = 192  # tile height in pixels; every tile is TILE_W x TILE so columns line up
TILE_W = 256


def _tile(image: np.ndarray) -> np.ndarray:
    """Letterbox an image into a TILE_W x TILE tile (small images scale up with visible pixels)."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    s = min(TILE / image.shape[0], TILE_W / image.shape[1])
    w, h = max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s))
    interpolation = cv2.INTER_NEAREST if s > 2 else cv2.INTER_AREA
    tile = np.full((TILE, TILE_W, 3), 24, np.uint8)
    y, x = (TILE - h) // 2, (TILE_W - w) // 2
    tile[y : y + h, x : x + w] = cv2.resize(image, (w, h), interpolation=interpolation)
    return tile


def _source_stream(sample: SampleView, pipeline: dict):
    """The sample's frames re-decoded from its source video with the shard's own decode settings."""
    d = pipeline.get("decode", {})
    sf = SampleFrames(
        sample.attrs["source_path"],
        DecodeOptions(
            sample.attrs.get("decoder") or "decord",
            d.get("crop_to_bbox", False),
            d.get("resize_short_side"),
            d.get("fps"),
        ),  # fmt: skip
        frame_start=int(sample.attrs["frame_start"]),
        frame_end=int(sample.attrs["frame_end"]),
        bbox=tuple(sample.attrs["bbox"]) if isinstance(sample.attrs.get("bbox"), list) else None,
    )
    _, frames = next(sf.attempts())
    return frames


def _source_frames(sample: SampleView, pipeline: dict, wanted: set[int]) -> dict[int, np.ndarray]:
    found = {}
    for f in _source_stream(sample, pipeline):
        if f.index in wanted and f.index not in found:
            found[f.index] = f.rgb
        if len(found) == len(wanted):
            break
    return found


def sample_rows(
    sample: SampleView,
    pipeline: dict,
    positions: list[int],
    source_frames: Callable[[], dict[int, np.ndarray]] | None = None,
) -> list[tuple[str, list[np.ndarray]]]:
    """(label, tiles) per stored modality, in the stages' run order, for the stored frames at
    `positions` (0-based, along T).

    `source_frames`: the decoded frames by source index, if the caller has them; else decoded
    here when a row asks.
    """
    indices = sample.read("frame_indices")
    decoded: dict[int, np.ndarray] | None = None

    def decode_once() -> dict[int, np.ndarray]:
        nonlocal decoded
        if decoded is None:
            try:
                decoded = _source_frames(sample, pipeline, {int(indices[t]) for t in positions})
            except Exception:  # the source video may not be on this machine: draw on grey, render the rest
                decoded = {}
        return decoded

    view = RenderInput(sample, positions, indices, TILE_W, source_frames or decode_once)
    return [(label, [_tile(image) for image in images]) for spec in STAGES for label, images in spec.render_rows(view)]


def _label(text: str, width: int, height: int) -> np.ndarray:
    img = np.full((height, width, 3), 24, np.uint8)
    y = 22
    for word_line in _wrap(text, 17):
        cv2.putText(img, word_line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
        y += 20
    return img


def _wrap(text: str, n: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > n:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    return lines + [cur] if cur else lines


def contact_sheet(sample: SampleView, pipeline: dict, columns: int = 8) -> np.ndarray:
    """(H, W, 3) uint8 RGB image: modalities as rows, `columns` evenly spaced frames."""
    n = sample.num_frames
    positions = sorted({round(i * (n - 1) / max(1, columns - 1)) for i in range(min(columns, n))})
    rows = sample_rows(sample, pipeline, positions)
    label_w, gap = 170, 4
    a = sample.attrs
    title = (f"{sample.sample_id}  gloss '{a.get('gloss')}'  label {a.get('label')}  signer {a.get('signer_id')}"
             f"  split {a.get('split')}  {n} frames @ {float(a.get('fps', 0)):.2f} fps"
             f"  {a.get('width')}x{a.get('height')}  decoder {a.get('decoder')}")  # fmt: skip
    lines = []
    for label, tiles in rows:
        if not tiles:
            continue
        body = np.hstack([np.pad(t, ((0, 0), (0, gap), (0, 0))) for t in tiles])
        lines.append(np.hstack([_label(label, label_w, body.shape[0]), body]))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, gap), (0, width - line.shape[1]), (0, 0))) for line in lines]
    header = np.full((36, width, 3), 24, np.uint8)
    cv2.putText(header, title, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    frame_row = np.full((22, width, 3), 24, np.uint8)
    x = label_w
    tile_w = TILE_W + gap
    for t in positions:
        cv2.putText(frame_row, f"t={t}", (x + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (200, 200, 200), 1, cv2.LINE_AA)
        x += tile_w
    return np.vstack([header, frame_row] + lines)


def write_png(image_rgb: np.ndarray, path: Path) -> Path:
    """Write an RGB image as a PNG, atomically."""
    ok, png = cv2.imencode(".png", np.ascontiguousarray(image_rgb[..., ::-1]))
    if not ok:
        raise OSError(f"OpenCV could not encode {path} as PNG")
    return atomic_write_bytes(path, png.tobytes())


def write_mp4(sample: SampleView, pipeline: dict, path: Path, fps: float | None = None) -> Path:
    """Every stored frame as one video frame holding a tile per modality, side by side.

    H.264 (yuv420p) in MP4 through PyAV, so the file plays in a browser; written atomically."""
    import av  # PyAV: its wheels bundle FFmpeg with libx264, which OpenCV's do not

    indices = sample.read("frame_indices")
    stream = None
    current = None

    def source_at(t: int) -> dict[int, np.ndarray]:
        """The source frame of stored frame t: one decode pass for the whole video, opened when a row first asks."""
        nonlocal stream, current
        if stream is None:
            try:
                stream = iter(_source_stream(sample, pipeline))
            except Exception:
                stream = iter(())
        while current is None or current.index < indices[t]:
            current = next(stream, None)
            if current is None:
                break
        return {current.index: current.rgb} if current is not None else {}

    rate = Fraction(fps or float(sample.attrs.get("fps") or 25.0)).limit_denominator(1001)
    with atomic_path(path, errors=(OSError, av.FFmpegError)) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        video = None
        for t in range(sample.num_frames):
            tiles = [tiles[0] for _, tiles in sample_rows(sample, pipeline, [t], lambda t=t: source_at(t)) if tiles]
            frame = np.hstack(tiles)
            frame = frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]  # yuv420p needs even sizes
            if video is None:
                video = container.add_stream("libx264", rate=rate)
                video.width, video.height = frame.shape[1], frame.shape[0]
                video.pix_fmt = "yuv420p"  # what browsers play
            for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        if video is not None:
            for packet in video.encode():  # flush the encoder
                container.mux(packet)
    return path
