"""Which stored frames make up a training clip: uniform or random sampling, padding, speed.

`sample_clip_indices` returns `clip_len` 0-based indices into a sample's stored
frames (the T axis of every shard dataset). How the clip is laid out:

- The sampling step (stored frames per clip frame) is `speed * max(1, T / clip_len)`:
  a video longer than the clip is covered evenly from first to last frame (step
  T / clip_len), a shorter one is played at its own rate (step 1) and then padded.
- `speed` is the frame-rate augmentation factor (SignVTCL: x0.5 to x1.5). The
  clip spans `step * clip_len` stored frames: speed 0.5 covers half the span of
  speed 1 (slow motion, frames repeat in a short video), speed 1.5 one and a half
  times it, running past the end of the video, which the padding then handles.
- `mode="uniform"`: the window is centred and each clip frame takes the middle
  of its segment (deterministic, for evaluation). `mode="random"`: the window
  start is uniform over the positions that fit and each clip frame is drawn
  uniformly within its segment (TSN-style jitter, for training).
- Past the last stored frame, `pad="loop"` wraps around to the start (index mod
  T) and `pad="repeat_last"` repeats the last frame.

The DSFT slides train on at least 25 frames per clip (`MIN_CLIP_FRAMES`); short
videos reach any `clip_len` through the padding.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

# DSFT/VKNet setting (docs/methods.md): clips of at least 25 frames.
MIN_CLIP_FRAMES = 25

SamplingMode = Literal["uniform", "random"]
PadMode = Literal["loop", "repeat_last"]


def sample_clip_indices(
    num_frames: int,
    clip_len: int,
    mode: SamplingMode = "uniform",
    rng: np.random.Generator | None = None,
    pad: PadMode = "loop",
    speed: float = 1.0,
) -> np.ndarray:
    """(clip_len,) int64 indices in [0, num_frames) of the stored frames of one clip.

    num_frames: T, stored frames of the sample (>= 1). clip_len: frames of the clip (>= 1).
    mode: "uniform" (centred, deterministic) or "random" (random window and jitter; uses `rng`,
        a fresh default generator when None). pad: "loop" or "repeat_last" for positions past
        the end. speed: frame-rate factor > 0 (stored frames advanced per clip frame, relative
        to the plain step). Indices are non-decreasing except where "loop" wraps around.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    if mode not in ("uniform", "random"):
        raise ValueError(f"mode must be 'uniform' or 'random', got {mode!r}")
    if pad not in ("loop", "repeat_last"):
        raise ValueError(f"pad must be 'loop' or 'repeat_last', got {pad!r}")
    step = speed * max(1.0, num_frames / clip_len)
    span = step * clip_len
    slack = max(0.0, num_frames - span)  # window positions that fit inside the video
    if mode == "uniform":
        start, jitter = slack / 2, np.full(clip_len, 0.5)
    else:
        rng = rng if rng is not None else np.random.default_rng()
        start, jitter = rng.uniform(0, slack) if slack > 0 else 0.0, rng.uniform(0, 1, clip_len)
    positions = start + (np.arange(clip_len) + jitter) * step
    # floor with a small tolerance: (i + 0.5) * T / clip_len must not land one frame late from rounding
    idx = np.floor(positions + 1e-9).astype(np.int64)
    idx = np.maximum(idx, 0)
    if pad == "loop":
        return idx % num_frames
    return np.minimum(idx, num_frames - 1)


def whole_sample_indices(
    num_frames: int, mode: SamplingMode = "uniform", rng: np.random.Generator | None = None, speed: float = 1.0
) -> np.ndarray:
    """Indices of a whole sample (a sentence of a continuous dataset: every stored frame, no clip).

    speed 1 gives arange(T). Another speed resamples the whole sample to round(T / speed) frames
    (at least 1): frame i takes stored frame floor((i + jitter) * T / n), jitter 0.5 ("uniform")
    or uniform in [0, 1) ("random"), so a faster speed skips frames and a slower one repeats them,
    and the first and last stored frames stay in reach.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    if speed == 1.0 and mode == "uniform":
        return np.arange(num_frames, dtype=np.int64)
    n = max(1, round(num_frames / speed))
    if mode == "uniform":
        jitter = np.full(n, 0.5)
    else:
        jitter = (rng if rng is not None else np.random.default_rng()).uniform(0, 1, n)
    idx = np.floor((np.arange(n) + jitter) * (num_frames / n) + 1e-9).astype(np.int64)
    return np.minimum(idx, num_frames - 1)
