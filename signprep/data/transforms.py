"""Per-sample and per-batch transforms: keypoint normalisation, a consistent spatial crop,
and heatmaps rendered on the device from keypoints.

Coordinates follow the shards (docs/shards.md): keypoints are x, y in continuous pixels
of the stored frame (origin top-left, pixel n spans [n, n + 1)); every image modality
(frames, heatmaps, flow, masks) is that frame fitted to its own size by one fit mode,
out = frame * scale + offset (`signprep.kernels.frame_fit.FrameFit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from signprep.kernels.frame_fit import FrameFit
from signprep.kernels.gaussian_heatmaps import render_heatmaps_torch
from signprep.kernels.keypoint_layout import KeypointLayout

# MediaPipe pose indices of the shoulders (the signer's left and right).
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12


def normalize_keypoints(
    keypoints: np.ndarray,
    present: np.ndarray,
    frame_size: Sequence[float],
    *,
    left_shoulder: int = LEFT_SHOULDER,
    right_shoulder: int = RIGHT_SHOULDER,
) -> np.ndarray:
    """(T, K, 3) pixel keypoints -> (T, K, 3) float32 in shoulder widths, centred on the shoulders.

    Centre: the shoulder midpoint averaged over the frames where both shoulders are present
    (one centre per clip, so the signer's own body motion is kept); scale: the mean shoulder
    width over those frames. x, y become (p - centre) / width and z (MediaPipe depth in
    frame-width pixels) z / width. Without any frame with both shoulders, or with a zero
    width, the clip falls back to the frame centre and the frame width (frame_size = (H, W)
    pixels). Absent points (present False) stay exactly 0. Indices are into the K axis
    given (the full Holistic layout by default).
    """
    kp = np.asarray(keypoints, np.float32)
    present = np.asarray(present, bool)
    both = present[:, left_shoulder] & present[:, right_shoulder]
    centre, width = np.array([frame_size[1] / 2, frame_size[0] / 2], np.float64), float(frame_size[1])
    if both.any():
        left, right = kp[both, left_shoulder, :2].astype(np.float64), kp[both, right_shoulder, :2].astype(np.float64)
        # np.linalg.norm and np.mean's own sums and divisions, without their call overhead (same bits)
        d = left - right
        w = float(np.add.reduce(np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])) / len(d))
        if w > 1e-6:
            centre, width = np.add.reduce((left + right) / 2, axis=0) / len(d), w
    out = np.empty_like(kp)
    absent = ~present
    # x and y one at a time against scalars, in float64: numpy broadcasting a (2,) operand over
    # (T, K, 2) ran ~20x slower (an inner loop of 2), the arithmetic is the same; absent points
    # are zeroed channel by channel for the same reason (a (T, K, 1) mask: 15x slower)
    for c in (0, 1):
        u = kp[..., c].astype(np.float64)
        u -= centre[c]  # in place: the same operations, without a temporary each
        u /= width
        np.copyto(u, 0, where=absent)
        out[..., c] = u
    for c in range(2, kp.shape[-1]):  # z
        z = kp[..., c] / width
        np.copyto(z, 0, where=absent)
        out[..., c] = z
    return out


@dataclass(frozen=True)
class CropBox:
    """A crop of the image modalities in normalised image coordinates (0..1 of each side).

    x0, y0: top-left corner; side: fraction of each side kept (a square crop of square
    images). Every image modality of a sample is cropped by the same fractions, and all
    share one fit mode, so they stay pixel-aligned.
    """

    x0: float
    y0: float
    side: float


def random_crop_box(rng: np.random.Generator, scale: tuple[float, float] = (0.7, 1.0)) -> CropBox:
    """SignVTCL's spatial crop: side uniform in `scale` (fraction of the image side), position uniform."""
    side = float(rng.uniform(*scale))
    return CropBox(float(rng.uniform(0, 1 - side)), float(rng.uniform(0, 1 - side)), side)


def normalised_fit(frame_h: int, frame_w: int, mode: str = "pad") -> tuple[np.ndarray, np.ndarray]:
    """(scale (2,), offset (2,)): stored-frame pixels -> normalised image coordinates u = p * scale + offset.

    Independent of the output size for a given fit mode, which is why one CropBox fits every modality.
    """
    fit = FrameFit(frame_h, frame_w, 1000, 1000, mode=mode)  # any size: the ratio is what matters
    return np.array(fit.scales) / 1000, np.array(fit.offsets) / 1000


def crop_keypoints(xy: np.ndarray, box: CropBox, fit: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(..., 2) stored-frame pixels -> pixels of the cropped frame resized back to the stored size.

    The returned coordinates are what the keypoint would have in the stored frame had the
    cropped image been the frame: mapping them with the same fit lands on the cropped
    modalities. Points may fall outside the frame; their presence flags are left as they are.
    """
    scale, offset = fit
    out = np.empty(np.shape(xy), np.float32)
    # one coordinate at a time against scalars, in float64 (see normalize_keypoints: same arithmetic, ~10x faster)
    for c, corner in ((0, box.x0), (1, box.y0)):
        u = np.array(xy[..., c], np.float64)
        # in place: ((u * scale + offset - corner) / side - offset) / scale, operation by operation
        u *= scale[c]
        u += offset[c]
        u -= corner
        u /= box.side
        u -= offset[c]
        u /= scale[c]
        out[..., c] = u
    return out


def crop_images(images: torch.Tensor, box: CropBox, mode: str = "bilinear") -> torch.Tensor:
    """(N, C, H, W) float images -> the box of each, resized back to (H, W).

    Exact continuous mapping (grid_sample, align_corners=False): output pixel centre
    (j + 0.5) / W lies at x0 + side * (j + 0.5) / W of the input, the same map as
    `crop_keypoints`.
    """
    n = images.shape[0]
    theta = torch.zeros(n, 2, 3, dtype=images.dtype, device=images.device)
    # grid coords are 2u - 1: x_in = side * x_out + (2 x0 + side - 1)
    theta[:, 0, 0] = box.side
    theta[:, 1, 1] = box.side
    theta[:, 0, 2] = 2 * box.x0 + box.side - 1
    theta[:, 1, 2] = 2 * box.y0 + box.side - 1
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _crop_channels_last(x: np.ndarray, box: CropBox) -> np.ndarray:
    """(T, H, W[, C]) array -> same shape and dtype, cropped and resized (uint8 rounded)."""
    squeeze = x.ndim == 3
    t = torch.from_numpy(np.ascontiguousarray(x[..., None] if squeeze else x)).float().permute(0, 3, 1, 2)
    out = crop_images(t, box).permute(0, 2, 3, 1)
    out = out[..., 0] if squeeze else out
    if x.dtype == np.uint8:
        return out.round().clamp(0, 255).to(torch.uint8).numpy()
    return out.numpy().astype(x.dtype, copy=False)


def crop_sample(sample: dict[str, np.ndarray], box: CropBox, fit: tuple[np.ndarray, np.ndarray]) -> dict:
    """Apply one CropBox to every spatial entry of a sample dict (numpy arrays, in place of copies).

    Keys handled (others pass through): `frames`, `background_removed`, `flow_rgb` (T, H, W, 3),
    `person_mask` (T, H, W), `flow` (T, H, W, 2) float pixels (vectors scaled by 1 / side, the
    zoom), `heatmaps` (T, K, H, W) float32, or uint8 codes / float16 as stored (kept in their dtype,
    uint8 rounded), `keypoints` (T, K, 3) stored-frame pixels (x, y moved;
    z kept; points absent in `keypoint_present` (T, K), when given, stay 0). Hand crops are not
    touched (they are crops of their own).
    """
    out = dict(sample)
    for key in ("frames", "background_removed", "flow_rgb", "person_mask"):
        if key in out:
            out[key] = _crop_channels_last(out[key], box)
    if "flow" in out:
        out["flow"] = _crop_channels_last(out["flow"], box) / np.float32(box.side)
    if "heatmaps" in out:  # float32, or as stored (uint8 codes rounded back, as frames are; float16)
        stored = out["heatmaps"]
        cropped = crop_images(torch.from_numpy(np.ascontiguousarray(stored, np.float32)), box)
        if stored.dtype == np.uint8:
            cropped = cropped.round().clamp(0, 255).to(torch.uint8)
        out["heatmaps"] = cropped.numpy().astype(stored.dtype, copy=False)
    if "keypoints" in out:
        out["keypoints"] = crop_keypoints_3d(out["keypoints"], box, fit, out.get("keypoint_present"))
    return out


def crop_keypoints_3d(
    keypoints: np.ndarray, box: CropBox, fit: tuple[np.ndarray, np.ndarray], present: np.ndarray | None = None
) -> np.ndarray:
    """(T, K, 3) stored-frame pixels -> a new (T, K, 3) array: x, y moved by `crop_keypoints`, z kept;
    points absent in `present` (T, K), when given, keep their stored 0 (as in the shards)."""
    kp = np.array(keypoints)
    moved = crop_keypoints(kp[..., :2], box, fit)
    if present is not None:
        absent = ~np.asarray(present, bool)
        for c in (0, 1):  # channel by channel: a (T, K, 1) mask over (T, K, 2) runs 15x slower
            np.copyto(moved[..., c], 0, where=absent)
    kp[..., :2] = moved
    return kp


def heatmaps_to_float(heatmaps: torch.Tensor, heatmap_scale: torch.Tensor) -> torch.Tensor:
    """Stored heatmaps of a batch (`ShardDataset(heatmap_dtype="stored")`: (B, T, K, H, W) uint8 codes
    or float16) -> float32 confidences, on the batch's device: value * heatmap_scale ((B,) per sample).
    The same float32 products as the dataset's default items."""
    scale = heatmap_scale.to(heatmaps.device, torch.float32).reshape((-1,) + (1,) * (heatmaps.ndim - 1))
    return heatmaps.to(torch.float32) * scale


class HeatmapBatchTransform(torch.nn.Module):
    """Renders Gaussian keypoint heatmaps of a collated batch on the batch's device.

    Required keys: `keypoints` (B, T, K, 3) stored-frame pixels (or `keypoints_px` when the
    dataset normalised `keypoints`; taken first when present), `frame_size` (B, 2) stored
    (H, W) pixels per sample (or the `frame_size` argument for all); optional
    `keypoint_confidence`, `keypoint_present` (B, T, K).
    Added key: `heatmaps` (B, T, K', H, W) float32 (or `dtype`), values in [0, confidence],
    as `signprep.kernels.gaussian_heatmaps.render_heatmaps_torch` defines them.

    keypoint_indices: None (all K of the batch), a KeypointLayout subset name (then the
    batch must hold the full Holistic layout) or indices into the batch's K axis.
    size: (H, W) heatmap pixels; sigma in heatmap pixels; fit: how a frame maps into the
    heatmap ("pad" letterbox, as the shard stages store by default, "crop" or "stretch").
    """

    def __init__(
        self,
        keypoint_indices: str | Sequence[int] | None = None,
        *,
        size: Sequence[int] = (64, 64),
        sigma: float = 2.0,
        fit: str = "pad",
        frame_size: Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
        out_key: str = "heatmaps",
    ) -> None:
        super().__init__()
        self.keypoint_indices = keypoint_indices
        self.size = (int(size[0]), int(size[1]))
        self.sigma = float(sigma)
        self.fit = fit
        self.frame_size = frame_size
        self.dtype = dtype
        self.out_key = out_key

    def _indices(self, k: int) -> torch.Tensor | None:
        if self.keypoint_indices is None:
            return None
        if isinstance(self.keypoint_indices, str):
            layout = KeypointLayout(k - 75)  # 75 = pose 33 + two hands of 21
            return torch.as_tensor(layout.subset(self.keypoint_indices))
        return torch.as_tensor(list(self.keypoint_indices), dtype=torch.long)

    def forward(self, batch: dict) -> dict:
        kp = batch["keypoints_px"] if "keypoints_px" in batch else batch["keypoints"]
        conf, present = batch.get("keypoint_confidence"), batch.get("keypoint_present")
        idx = self._indices(kp.shape[-2])
        if idx is not None:
            idx = idx.to(kp.device)
            kp = kp.index_select(-2, idx)
            conf = conf.index_select(-1, idx.to(conf.device)) if conf is not None else None
            present = present.index_select(-1, idx.to(present.device)) if present is not None else None
        b = kp.shape[0]
        if "frame_size" in batch:
            fs = torch.as_tensor(batch["frame_size"], dtype=torch.float64).reshape(b, 2)
        elif self.frame_size is not None:
            fs = torch.tensor([list(self.frame_size)] * b, dtype=torch.float64)
        else:
            raise KeyError("HeatmapBatchTransform needs batch['frame_size'] (B, 2) or the frame_size argument")
        # per-sample fit (videos differ in size): frame pixels -> heatmap pixels on the device
        fits = [FrameFit(int(h), int(w), *self.size, mode=self.fit) for h, w in fs.tolist()]
        scale = torch.tensor([f.scales for f in fits], dtype=torch.float32, device=kp.device)
        offset = torch.tensor([f.offsets for f in fits], dtype=torch.float32, device=kp.device)
        shape = (b,) + (1,) * (kp.ndim - 2) + (2,)
        xy = kp[..., :2].float() * scale.reshape(shape) + offset.reshape(shape)
        out = dict(batch)
        out[self.out_key] = render_heatmaps_torch(
            xy, conf, present, size=self.size, sigma=self.sigma, frame_size=self.size, dtype=self.dtype
        )
        return out
