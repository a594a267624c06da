"""Gaussian keypoint heatmaps: one definition, a NumPy and a PyTorch renderer.

Definition (docs/methods.md, "Gaussian keypoint heatmaps"). Channel k of an
H x W heatmap is

    h_k[i, j] = c_k * exp(-((u_j - x'_k)^2 + (v_i - y'_k)^2) / (2 sigma^2))

where (x'_k, y'_k) is keypoint k mapped into heatmap pixels, (u_j, v_i) the
centre of heatmap pixel (row i, column j), c_k its confidence, and sigma is in
heatmap pixels. An absent keypoint (present False, confidence 0 or a
non-finite coordinate) gives an all-zero channel. Values lie in [0, c_k].

Coordinates (all 0-based, x right, y down) are continuous pixel coordinates:
x = 0 is the left edge of the frame and x = W_frame its right edge, so frame
pixel column n covers [n, n + 1) and has its centre at n + 0.5. This is what the
keypoint stage stores (MediaPipe's normalised [0, 1] position times the frame
size). The mapping from a frame of `frame_size` (H_frame, W_frame) to a heatmap
of `size` (H, W) is a pure scaling, x' = x * W / W_frame, y' = y * H / H_frame,
and heatmap pixel centres are u_j = j + 0.5, v_i = i + 0.5. Equivalently, the
centre of heatmap pixel (i, j) lies at frame coordinates
((j + 0.5) * W_frame / W, (i + 0.5) * H_frame / H): the sampling grid of
cv2.resize and torch's interpolate(align_corners=False), so a heatmap lines up
with the frame resized to (H, W). Keypoints in the other common convention
(pixel centres at integers) need +0.5 added before rendering.

The Gaussian is separable, exp(-(a^2 + b^2)/2s^2) = exp(-a^2/2s^2) exp(-b^2/2s^2),
so both renderers evaluate two 1-D Gaussians (K x W and K x H) and take their
outer product; that costs one multiply per output value instead of one exp.
`naive_heatmaps_np` is the slow full-grid reference for tests and benchmarks.
The fast renderers zero 1-D tail values below ~1e-19 (float32; 1e-154 in float64)
so that no product is a slow subnormal float; no value moves by more than that.

torch is imported only inside the torch renderer: extraction workers need no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# Stored uint8 value q means q * UINT8_SCALE (0..255 -> 0..1).
UINT8_SCALE = 1.0 / 255.0


def _check_geometry(
    size: Sequence[int], frame_size: Sequence[float] | None, sigma: float
) -> tuple[int, int, float, float]:
    """(H, W, W / W_frame, H / H_frame) after validating the arguments."""
    h, w = (int(s) for s in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"heatmap size must be positive (H, W), got {tuple(size)}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 heatmap pixels, got {sigma}")
    frame_h, frame_w = (float(s) for s in (frame_size if frame_size is not None else (h, w)))
    if frame_h <= 0 or frame_w <= 0:
        raise ValueError(f"frame_size must be positive (H, W) pixels, got {tuple(frame_size)}")
    return h, w, w / frame_w, h / frame_h


def _keypoint_weights_np(
    xy: np.ndarray, confidence: np.ndarray | None, present: np.ndarray | None, dtype: type
) -> np.ndarray:
    """(..., K) channel weight: confidence (1 if None), 0 where absent or not finite."""
    if xy.ndim < 2 or xy.shape[-1] != 2:
        raise ValueError(f"xy must be (..., K, 2) pixel coordinates, got shape {xy.shape}")
    lead = xy.shape[:-1]
    weight = np.ones(lead, dtype) if confidence is None else np.array(np.broadcast_to(confidence, lead), dtype)
    if present is not None:
        weight[~np.broadcast_to(np.asarray(present, bool), lead)] = 0
    weight[~np.isfinite(xy).all(-1)] = 0  # absent keypoints may carry NaN from other tools
    return weight


def _gaussian_1d_np(coord: np.ndarray, n: int, sigma: float, dtype: type) -> np.ndarray:
    """(..., n): exp(-(p + 0.5 - coord)^2 / 2 sigma^2) for pixel p = 0..n-1 of each coordinate.

    The difference is taken in float64 (a float32 coordinate near 64 is only good
    to ~4e-6 px, which shows as 1e-6 in the value); exp then runs in `dtype`.
    """
    d = (np.arange(n) + 0.5) - np.asarray(coord, np.float64)[..., None]
    a = (d * d * (-0.5 / sigma**2)).astype(dtype)
    return np.exp(a, out=a)


def render_heatmaps_np(
    xy: np.ndarray,
    confidence: np.ndarray | None = None,
    present: np.ndarray | None = None,
    *,
    size: Sequence[int] = (64, 64),
    sigma: float = 2.0,
    frame_size: Sequence[float] | None = None,
    dtype: type = np.float32,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Separable Gaussian heatmaps of keypoints (definition and coordinates: module docstring).

    xy: (..., K, 2) x, y in pixels of the frame (continuous, 0-based); e.g. (K, 2)
        for one frame or (T, K, 2) for a clip.
    confidence: (..., K) channel scale, None = 1. present: (..., K) bool, None = all.
    size: (H, W) of the heatmap. sigma: in heatmap pixels.
    frame_size: (H_frame, W_frame) of the frame xy is measured in; None = `size`.
    dtype: float32 (default), float16 or float64 output (float16: values below 6.1e-5,
        its subnormal range, become 0).
    out: optional float32/float64 array of the result's shape to write into (then
        `dtype` is out's): a caller rendering frame after frame reuses one buffer
        instead of fresh megabytes per call, which measured several times slower
        (page faults as the allocator returns and takes back memory).
    Returns (..., K, H, W).
    """
    h, w, sx, sy = _check_geometry(size, frame_size, sigma)
    xy = np.asarray(xy)
    if out is not None:
        if out.dtype not in (np.float32, np.float64) or out.shape != xy.shape[:-1] + (h, w):
            raise ValueError(f"out must be float32/64 of shape {xy.shape[:-1] + (h, w)}, got {out.dtype} {out.shape}")
        dtype = out.dtype
    product = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    weight = _keypoint_weights_np(xy, confidence, present, product)
    xy = np.where(weight[..., None] != 0, xy, 0).astype(np.float64, copy=False)  # K x 2 values: float64 is free
    gx = _gaussian_1d_np(xy[..., 0] * sx, w, sigma, product)  # (..., K, W)
    gy = _gaussian_1d_np(xy[..., 1] * sy, h, sigma, product) * weight[..., None]  # (..., K, H); scale the short one
    # Products of two far tails are subnormal floats, which the CPU handles ~10x slower (the
    # 64x64 default ran 2-5x slower end to end). Zero 1-D values below sqrt(smallest normal),
    # ~1e-19 in float32: every product is then 0 or normal, and no value moves by more than 1e-19.
    floor = np.sqrt(np.finfo(product).tiny)
    gx[gx < floor] = 0
    gy[gy < floor] = 0
    # The outer product. einsum measured 2x faster than broadcasting gy[..., :, None] * gx[..., None, :]
    # here; float16 goes through float32 (NumPy has no fast float16 arithmetic).
    if out is not None:
        return np.einsum("...ki,...kj->...kij", gy, gx, out=out)
    out = np.einsum("...ki,...kj->...kij", gy, gx)
    if np.dtype(dtype) == np.float16:
        # NumPy converts values in float16's subnormal range ~25x slower than others (a 64x64
        # frame: 7 ms instead of 2): store them as 0, an error < 6.1e-5, below float16's own
        # rounding error near 1 (2.4e-4).
        out[out < np.finfo(np.float16).tiny] = 0
    return out if out.dtype == dtype else out.astype(dtype)


def naive_heatmaps_np(
    xy: np.ndarray,
    confidence: np.ndarray | None = None,
    present: np.ndarray | None = None,
    *,
    size: Sequence[int] = (64, 64),
    sigma: float = 2.0,
    frame_size: Sequence[float] | None = None,
    dtype: type = np.float64,
) -> np.ndarray:
    """The full-grid reference: same arguments and result as `render_heatmaps_np` (float64 by default).

    Per keypoint, the squared distance from every heatmap pixel centre is taken
    on an np.meshgrid, going the other way round from the fast renderer: pixel
    centres are mapped into frame pixels, differences taken there and converted
    back to heatmap pixels. Slow (one exp per output value); for tests and benchmarks.
    """
    h, w, sx, sy = _check_geometry(size, frame_size, sigma)
    xy = np.asarray(xy, np.float64)
    if xy.ndim < 2 or xy.shape[-1] != 2:
        raise ValueError(f"xy must be (..., K, 2) pixel coordinates, got shape {xy.shape}")
    lead = xy.shape[:-1]
    conf = np.ones(lead) if confidence is None else np.broadcast_to(np.asarray(confidence, np.float64), lead)
    pres = np.ones(lead, bool) if present is None else np.broadcast_to(np.asarray(present, bool), lead)
    # pixel centres of the heatmap, in frame pixels
    frame_x, frame_y = np.meshgrid((np.arange(w) + 0.5) / sx, (np.arange(h) + 0.5) / sy)
    out = np.zeros(lead + (h, w), dtype)
    for index in np.ndindex(*lead):
        x, y = xy[index]
        if not pres[index] or conf[index] == 0 or not (np.isfinite(x) and np.isfinite(y)):
            continue
        d2 = ((frame_x - x) * sx) ** 2 + ((frame_y - y) * sy) ** 2
        out[index] = conf[index] * np.exp(-d2 / (2 * sigma**2))
    return out


def render_limbs_np(
    xy: np.ndarray,
    confidence: np.ndarray | None = None,
    present: np.ndarray | None = None,
    *,
    limbs: Sequence[tuple[int, int]],
    size: Sequence[int] = (64, 64),
    sigma: float = 2.0,
    frame_size: Sequence[float] | None = None,
    dtype: type = np.float32,
) -> np.ndarray:
    """Limb heatmaps: a Gaussian of the distance to the segment between two keypoints.

    Channel l of limb (a, b) is min(c_a, c_b) * exp(-d^2 / 2 sigma^2), d the
    distance in heatmap pixels from the pixel centre to the segment a-b (after
    the same frame -> heatmap mapping as `render_heatmaps_np`); zero if either
    end is absent. As PoseC3D's limb targets. Not separable: every channel is
    evaluated on the full grid. A segment of zero length is the keypoint heatmap.
    xy: (..., K, 2); confidence, present: (..., K); limbs: L pairs of indices into K.
    Returns (..., L, H, W).
    """
    h, w, sx, sy = _check_geometry(size, frame_size, sigma)
    xy = np.asarray(xy)
    weight = _keypoint_weights_np(xy, confidence, present, np.float32)
    pairs = np.asarray(limbs, np.int64).reshape(-1, 2)
    xy = np.where(weight[..., None] != 0, xy, 0).astype(np.float32) * np.float32([sx, sy])
    a, b = xy[..., pairs[:, 0], None, None, :], xy[..., pairs[:, 1], None, None, :]  # (..., L, 1, 1, 2)
    limb_weight = np.minimum(weight[..., pairs[:, 0]], weight[..., pairs[:, 1]])  # (..., L)
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float32) + 0.5, np.arange(w, dtype=np.float32) + 0.5, indexing="ij")
    p = np.stack([xs, ys], -1)  # (H, W, 2) pixel centres
    ab = b - a
    length2 = (ab * ab).sum(-1)
    # projection parameter of the nearest point on the segment, clamped to its ends
    t = np.clip(((p - a) * ab).sum(-1) / np.where(length2 > 0, length2, 1), 0, 1)
    nearest = a + t[..., None] * ab
    d2 = ((p - nearest) ** 2).sum(-1)
    out = np.exp(d2 * np.float32(-0.5 / sigma**2)) * limb_weight[..., None, None]
    return out.astype(dtype, copy=False)


def render_heatmaps_torch(
    xy: torch.Tensor,
    confidence: torch.Tensor | None = None,
    present: torch.Tensor | None = None,
    *,
    size: Sequence[int] = (64, 64),
    sigma: float = 2.0,
    frame_size: Sequence[float] | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """`render_heatmaps_np` in PyTorch, on xy's device, differentiable in xy and confidence.

    xy: (B, T, K, 2) (any leading shape works) x, y in frame pixels, as in the
    module docstring. confidence: (..., K) float, None = 1. present: (..., K) bool,
    None = all. Returns (..., K, H, W), e.g. (B, T, K, H, W).
    dtype: output dtype; None = float32 (float64 when xy is float64, for gradcheck).
    With float16 the 1-D Gaussians are computed in float32 and only the outer
    product runs in float16, halving the memory traffic of the big tensor.
    Memory: B*T*K*H*W values, e.g. 8 x 64 x 79 x 112 x 112 float32 = 2.0 GB.
    """
    import torch

    h, w, sx, sy = _check_geometry(size, frame_size, sigma)
    if xy.ndim < 2 or xy.shape[-1] != 2:
        raise ValueError(f"xy must be (..., K, 2) pixel coordinates, got shape {tuple(xy.shape)}")
    compute = torch.float64 if xy.dtype == torch.float64 else torch.float32
    out_dtype = dtype if dtype is not None else compute
    xy = xy.to(compute)
    weight = (
        torch.ones(xy.shape[:-1], dtype=compute, device=xy.device)
        if confidence is None
        else confidence.to(device=xy.device, dtype=compute).expand(xy.shape[:-1])
    )
    valid = torch.isfinite(xy).all(-1) & (weight != 0)
    if present is not None:
        valid = valid & present.to(device=xy.device, dtype=torch.bool)
    # torch.where, not a product: a NaN coordinate times 0 would still poison the gradient
    weight = torch.where(valid, weight, torch.zeros((), dtype=compute, device=xy.device))
    xy = torch.where(valid[..., None], xy, torch.zeros((), dtype=compute, device=xy.device))
    inv_two_var = -0.5 / sigma**2
    cx = torch.arange(w, dtype=compute, device=xy.device) + 0.5
    cy = torch.arange(h, dtype=compute, device=xy.device) + 0.5
    gx = torch.exp((cx - xy[..., 0:1] * sx) ** 2 * inv_two_var)  # (..., K, W)
    gy = torch.exp((cy - xy[..., 1:2] * sy) ** 2 * inv_two_var) * weight[..., None]  # (..., K, H)
    # as in render_heatmaps_np: no subnormal float32 products (slow on CPUs). Not by float16's
    # range: its sqrt(tiny) is 8e-3, too coarse; GPUs take float16 subnormals at full speed.
    floor = torch.finfo(compute).tiny ** 0.5
    gx, gy = gx * (gx >= floor), gy * (gy >= floor)
    return gy.to(out_dtype)[..., :, None] * gx.to(out_dtype)[..., None, :]


def quantize_heatmaps(heatmaps: np.ndarray, *, overwrite_input: bool = False) -> np.ndarray:
    """0..1 float heatmaps -> uint8 0..255, rounded to nearest (error <= 1/510); same shape.

    Values outside [0, 1] are clipped, NaN becomes 0. Read back with `dequantize_heatmaps`.
    overwrite_input: a float32 `heatmaps` may serve as scratch space (its content is then
    lost); saves a float32-sized temporary per call.
    """
    if overwrite_input and isinstance(heatmaps, np.ndarray) and heatmaps.dtype == np.float32:
        t = np.multiply(heatmaps, 255, out=heatmaps)
    else:
        t = np.multiply(heatmaps, 255, dtype=np.float32)
    t += 0.5  # then truncation rounds to nearest (half up)
    # Clip only when needed: NumPy 1.x's elementwise clip/minimum measured ~5x slower here than
    # the min/max reductions, and rendered heatmaps are always within [0, 1].
    if not (t.min() >= 0.5 and t.max() <= 255.5):
        np.clip(np.nan_to_num(t, copy=False, nan=0.5), 0.5, 255.5, out=t)
    return t.astype(np.uint8)


def dequantize_heatmaps(quantized: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """uint8 0..255 -> float 0..1 (q / 255); same shape."""
    return np.asarray(quantized).astype(dtype) / dtype(255)
