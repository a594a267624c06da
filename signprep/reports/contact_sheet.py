"""`signprep render`: look at a sample to trust its shards.

A contact sheet (PNG) with one column per chosen frame and one row per stored
modality: the frame with its keypoints drawn (re-decoded from the source video
with the shard's own decode settings), the stored training frame, the summed
heatmaps over it, the flow in colour, the person mask and the
background-removed frame, and both hand crops with their crop keypoints. Or
the same rows for every frame as an MP4.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from signprep.atomic import atomic_path, atomic_write_bytes
from signprep.kernels.flow_encoding import decode_flow_uint8, flow_to_rgb
from signprep.kernels.gaussian_heatmaps import dequantize_heatmaps
from signprep.kernels.keypoint_layout import HAND_EDGES, KeypointLayout
from signprep.shards.reader import SampleView
from signprep.video.decode import DecodeOptions, SampleFrames

TILE = 192  # tile height in pixels; every tile is TILE_W x TILE so columns line up
TILE_W = 256
COLOURS = {"pose": (255, 200, 0), "face": (200, 200, 200), "left_hand": (0, 160, 255), "right_hand": (255, 60, 60)}


def draw_keypoints(rgb: np.ndarray, xy: np.ndarray, present: np.ndarray, layout: KeypointLayout) -> np.ndarray:
    """Draw skeleton and points (xy in pixels of `rgb`) onto a copy of the frame."""
    out = rgb.copy()
    thick = max(1, round(min(rgb.shape[:2]) / 240))
    shift = 4  # sub-pixel drawing: OpenCV takes fixed-point coordinates
    p = np.round(xy * (1 << shift)).astype(np.int64)

    def line(a: int, b: int, colour) -> None:
        if present[a] and present[b]:
            cv2.line(out, tuple(p[a]), tuple(p[b]), colour, thick, cv2.LINE_AA, shift)

    component_of = {i: name for name, (start, stop) in layout.components.items() for i in range(start, stop)}
    for a, b in layout.skeleton():
        line(a, b, COLOURS[component_of[a]])
    for component, (start, stop) in layout.components.items():
        radius = (1 if component == "face" else 2) * thick
        for i in range(start, stop):
            if present[i]:
                cv2.circle(out, tuple(p[i]), radius << shift, COLOURS[component], -1, cv2.LINE_AA, shift)
    return out


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
    sample: SampleView, pipeline: dict, positions: list[int], source: dict[int, np.ndarray] | None = None
) -> list[tuple[str, list[np.ndarray]]]:
    """(label, tiles) per modality for the stored frames at `positions` (0-based, along T).

    `source`: decoded frames by source index, if the caller has them; else decoded here.
    """
    indices = sample.read("frame_indices")
    rows: list[tuple[str, list[np.ndarray]]] = []
    names = set(sample.datasets)
    if "keypoints" in names:
        try:
            if source is None:
                source = _source_frames(sample, pipeline, {int(indices[t]) for t in positions})
        except Exception:  # the source video may not be on this machine: draw on grey, render the rest
            source = {}
        kp, present, layout = sample.read("keypoints"), sample.read("keypoint_present"), sample.layout()
        tiles = []
        for t in positions:
            frame = source.get(int(indices[t]))
            if frame is None:
                frame = np.full((int(sample.attrs["height"]), int(sample.attrs["width"]), 3), 40, np.uint8)
            tiles.append(_tile(draw_keypoints(frame, kp[t, :, :2], present[t], layout)))
        rows.append(("frame + keypoints", tiles))
    base = None
    if "frames" in names:
        base = sample.read("frames")
        rows.append(("training frame", [_tile(base[t]) for t in positions]))
    if "heatmaps" in names:
        heat = sample["heatmaps"]
        tiles = []
        for t in positions:
            h = heat[t]
            h = dequantize_heatmaps(h) if h.dtype == np.uint8 else h.astype(np.float32)
            peak = h.max(0)  # the max reads better than the sum where face points crowd
            colour = cv2.applyColorMap((peak * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
            if base is not None:  # over the dimmed training frame, where both share a fit
                under = cv2.resize(base[t], colour.shape[1::-1], interpolation=cv2.INTER_AREA) // 3
                alpha = np.clip(peak * 3, 0, 1)[..., None]
                colour = (colour * alpha + under * (1 - alpha)).astype(np.uint8)
            tiles.append(_tile(colour))
        rows.append(("heatmaps (max over keypoints)", tiles))
    if "flow" in names:
        flow, bound = sample["flow"], float(sample.attrs.get("flow_bound", 20.0))
        fields = [flow[t] for t in positions]
        fields = [decode_flow_uint8(f, bound) if f.dtype == np.uint8 else f.astype(np.float32) for f in fields]
        # colour scale from the shown frames' own motion: sign motion is often a few pixels per frame
        speed = max(2.0, float(np.percentile(np.hypot(*np.moveaxis(np.stack(fields), -1, 0)), 99.5)))
        label = f"optical flow (full colour = {speed:.1f} px/frame)"
        rows.append((label, [_tile(flow_to_rgb(f, speed)) for f in fields]))
    if "person_mask" in names:
        rows.append(("person mask", [_tile(sample["person_mask"][t]) for t in positions]))
    if "background_removed" in names:
        rows.append(("background removed", [_tile(sample["background_removed"][t]) for t in positions]))
    if "hand_crops" in names:
        crops, local = sample["hand_crops"], sample["hand_keypoints_crop"]
        valid, source = sample["hand_crop_valid"], sample["hand_crop_source"]
        tiles = []
        side = TILE_W // 2
        for t in positions:
            pair = []
            for h in range(2):
                crop = cv2.resize(crops[t, h], (side, side), interpolation=cv2.INTER_NEAREST)
                s = side / crops.shape[2]
                for a, b in HAND_EDGES:
                    if source[t, h] == 1:
                        pa, pb = local[t, h, a] * s, local[t, h, b] * s
                        colour = COLOURS["left_hand" if h == 0 else "right_hand"]
                        cv2.line(crop, tuple(np.round(pa).astype(int)), tuple(np.round(pb).astype(int)), colour, 1)
                if not valid[t, h]:
                    cv2.putText(crop, "none", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 80, 80), 1, cv2.LINE_AA)
                elif source[t, h] == 2:
                    cv2.putText(crop, "est.", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 220, 0), 1, cv2.LINE_AA)
                pair.append(crop)
            tiles.append(_tile(np.hstack(pair)))
        rows.append(("hand crops (L, R)", tiles))
    return rows


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
    try:
        stream = iter(_source_stream(sample, pipeline)) if "keypoints" in sample.datasets else iter(())
    except Exception:
        stream = iter(())
    rate = Fraction(fps or float(sample.attrs.get("fps") or 25.0)).limit_denominator(1001)
    current = None
    with atomic_path(path, errors=(OSError, av.FFmpegError)) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        video = None
        for t in range(sample.num_frames):
            while current is None or current.index < indices[t]:  # one decode pass for the whole video
                current = next(stream, None)
                if current is None:
                    break
            source = {current.index: current.rgb} if current is not None else {}
            tiles = [tiles[0] for _, tiles in sample_rows(sample, pipeline, [t], source) if tiles]
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
