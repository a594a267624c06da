"""GaitNet's losses for the disentangled encoders (docs/methods.md, "Disentangled encoders").

Plain functions on tensors; `tests/models/test_disentangle_losses.py` checks each against a
direct loop. Normalisation: the paper writes squared L2 norms; here they are means over the
elements (pixels, code dimensions), as the official code's `nn.MSELoss` computes them, so the
weights in `models/disentangle.yaml` do not depend on the image or code size.

- cross reconstruction: mean over frames of ||D(f_a^{t1}, f_g^{t2}) - I_{t2}||^2 / (C H W)
- sign similarity: mean over pairs of ||mean_t f_g(video 1) - mean_t f_g(video 2)||^2 / D
- incremental identity: mean over videos of (1/n) sum_t -w_t log C_y(mean_{s<=t} h^s)
- `disentangle_losses`: their weighted total (+ the adversarial signer loss) for one pair batch
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "cross_reconstruction_loss",
    "disentangle_losses",
    "incremental_average",
    "incremental_identity_loss",
    "incremental_identity_weights",
    "sign_similarity_loss",
]


def cross_reconstruction_loss(
    reconstructed: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error per pixel value, averaged over the (valid) images.

    reconstructed, target: (..., C, H, W), the same shape; `reconstructed` is D(f_a of another
    frame of the same video, f_g of the target frame). valid: optional bool (...), the images
    that count (e.g. frames with a hand crop); 0 when none is valid.
    """
    if reconstructed.shape != target.shape:
        raise ValueError(f"reconstructed {tuple(reconstructed.shape)} vs target {tuple(target.shape)}")
    per_image = (reconstructed.float() - target.float()).pow(2).flatten(-3).mean(-1)  # (...)
    if valid is None:
        return per_image.mean()
    valid = valid.to(per_image.dtype)
    return (per_image * valid).sum() / valid.sum().clamp(min=1)


def sign_similarity_loss(f_g_1: torch.Tensor, f_g_2: torch.Tensor) -> torch.Tensor:
    """Mean over pairs of the mean squared difference of the time-averaged sign codes.

    f_g_1, f_g_2: (P, T1, D) and (P, T2, D), the sign codes of the two videos of each pair (same
    gloss, different signers); averaging over time avoids aligning the frames.
    """
    if f_g_1.shape[0] != f_g_2.shape[0] or f_g_1.shape[-1] != f_g_2.shape[-1]:
        raise ValueError(f"pairs do not match: {tuple(f_g_1.shape)} vs {tuple(f_g_2.shape)}")
    return (f_g_1.float().mean(1) - f_g_2.float().mean(1)).pow(2).mean()


def incremental_average(h: torch.Tensor) -> torch.Tensor:
    """(B, T, H) -> (B, T, H): step t holds the mean of h^1..h^t (GaitNet's averaged LSTM output)."""
    steps = torch.arange(1, h.shape[1] + 1, device=h.device, dtype=h.dtype)
    return h.cumsum(dim=1) / steps[None, :, None]


def incremental_identity_weights(n: int, kind: Literal["gaitnet", "uniform"] = "gaitnet", device=None) -> torch.Tensor:
    """(n,) w_t for t = 1..n: "gaitnet" (t/5)^2/10 (grows with the evidence seen), or "uniform" 1."""
    if kind == "uniform":
        return torch.ones(n, device=device)
    if kind != "gaitnet":
        raise ValueError(f"identity step weights must be 'gaitnet' or 'uniform', got {kind!r}")
    t = torch.arange(1, n + 1, device=device, dtype=torch.float32)
    return (t / 5) ** 2 / 10


def incremental_identity_loss(step_logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(1/n) sum_t w_t CE(step_logits[:, t], labels), averaged over the batch.

    step_logits: (B, n, C), the classifier applied to `incremental_average` of the temporal
    outputs; labels: (B,) class indices; weights: (n,) w_t.
    """
    B, n, C = step_logits.shape
    ce = F.cross_entropy(step_logits.float().reshape(B * n, C), labels.repeat_interleave(n), reduction="none")
    return (ce.view(B, n) * weights.to(ce.dtype)[None]).mean()


def disentangle_losses(
    model_out: Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    streams: Sequence[str],
    *,
    identity_weight: float,
    reconstruction_weight: float,
    similarity_weight: float,
    adversarial_weight: float = 0.0,
    identity_step_weights: Literal["gaitnet", "uniform"] = "gaitnet",
    signer_index: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The weighted total `loss` and its parts of one pair batch (items 2p, 2p + 1 form pair p).

    model_out: `DisentangleModel`'s forward (`f_g`, `step_logits`, `recon_s`/`target_s`/`valid_s` per
    stream s, `signer_logits` when adversarial); labels (B,) gloss classes; signer_index (B,) the
    signer classes, used with `signer_logits`.
    """
    f_g = model_out["f_g"]
    T = f_g.shape[1]
    xrecon = sum(
        cross_reconstruction_loss(model_out[f"recon_{s}"], model_out[f"target_{s}"], model_out.get(f"valid_{s}"))
        for s in streams
    )
    sim = sign_similarity_loss(f_g[0::2], f_g[1::2])
    weights = incremental_identity_weights(T, identity_step_weights, device=f_g.device)
    identity = incremental_identity_loss(model_out["step_logits"], labels, weights)
    losses = {"identity": identity, "xrecon": xrecon, "similarity": sim}
    total = identity_weight * identity + reconstruction_weight * xrecon + similarity_weight * sim
    if "signer_logits" in model_out and signer_index is not None:
        adv = F.cross_entropy(model_out["signer_logits"].float(), signer_index)
        losses["adversarial"] = adv
        total = total + adversarial_weight * adv
    return {"loss": total, **losses}
