"""GaitNet's losses, the gradient reversal and the disentangle building blocks against direct computations."""

from __future__ import annotations

import math

import pytest
import torch

from signprep.models.disentangle import FrameDecoder, FrameEncoder, TemporalModel, grad_reverse
from signprep.models.disentangle_losses import (
    cross_reconstruction_loss,
    incremental_average,
    incremental_identity_loss,
    incremental_identity_weights,
    sign_similarity_loss,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_cross_reconstruction_loss_is_the_mean_squared_error_per_pixel_over_images():
    g = _gen(1)
    recon, target = torch.rand(2, 5, 3, 6, 4, generator=g), torch.rand(2, 5, 3, 6, 4, generator=g)
    total, n = 0.0, 0
    for b in range(2):
        for t in range(5):
            sq = sum(
                (recon[b, t, c, y, x].item() - target[b, t, c, y, x].item()) ** 2
                for c in range(3)
                for y in range(6)
                for x in range(4)
            )
            total += sq / (3 * 6 * 4)  # ||D(f_a^t1, f_g^t2) - I_t2||^2, per pixel value
            n += 1
    assert cross_reconstruction_loss(recon, target).item() == pytest.approx(total / n, rel=1e-6)


def test_cross_reconstruction_loss_counts_only_valid_images():
    g = _gen(2)
    recon, target = torch.rand(3, 4, 3, 5, 5, generator=g), torch.rand(3, 4, 3, 5, 5, generator=g)
    valid = torch.rand(3, 4, generator=g) > 0.5
    valid[0, 0] = True
    per = [((recon[b, t] - target[b, t]) ** 2).mean().item() for b in range(3) for t in range(4) if valid[b, t]]
    assert cross_reconstruction_loss(recon, target, valid).item() == pytest.approx(sum(per) / len(per), rel=1e-6)
    assert cross_reconstruction_loss(recon, target, torch.zeros(3, 4, dtype=torch.bool)).item() == 0.0
    with pytest.raises(ValueError):
        cross_reconstruction_loss(recon, target[:, :3])


def test_sign_similarity_loss_compares_time_averages_of_videos_of_different_length():
    g = _gen(3)
    f1, f2 = torch.randn(4, 7, 6, generator=g), torch.randn(4, 3, 6, generator=g)  # 7 vs 3 frames: no alignment
    per_pair = []
    for p in range(4):
        m1 = [sum(f1[p, t, d].item() for t in range(7)) / 7 for d in range(6)]
        m2 = [sum(f2[p, t, d].item() for t in range(3)) / 3 for d in range(6)]
        per_pair.append(sum((a - b) ** 2 for a, b in zip(m1, m2)) / 6)  # ||mean f_g1 - mean f_g2||^2 / D
    assert sign_similarity_loss(f1, f2).item() == pytest.approx(sum(per_pair) / 4, rel=1e-6)
    # the same sign at another speed (frames repeated) costs nothing: averaging needs no alignment
    slow = f1[:, :3].repeat_interleave(2, dim=1)
    assert sign_similarity_loss(f1[:, :3], slow).item() == pytest.approx(0.0, abs=1e-12)


def test_incremental_average_is_the_running_mean():
    h = torch.randn(2, 6, 3, generator=_gen(4))
    got = incremental_average(h)
    for b in range(2):
        for t in range(6):
            assert torch.allclose(got[b, t], h[b, : t + 1].mean(0), atol=1e-6)


def test_gaitnet_step_weights():
    w = incremental_identity_weights(10)
    assert w.tolist() == pytest.approx([(t / 5) ** 2 / 10 for t in range(1, 11)])
    assert w[4].item() == pytest.approx(0.1) and w[9].item() == pytest.approx(0.4)
    assert incremental_identity_weights(4, "uniform").tolist() == [1.0] * 4
    with pytest.raises(ValueError):
        incremental_identity_weights(3, "linear")


def test_incremental_identity_loss_against_a_direct_computation():
    g = _gen(5)
    B, n, H, C = 3, 5, 4, 6
    h = torch.randn(B, n, H, generator=g, dtype=torch.float64)
    W, bias = torch.randn(C, H, generator=g, dtype=torch.float64), torch.randn(C, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 5, 2])
    w = incremental_identity_weights(n).double()
    step_logits = incremental_average(h) @ W.T + bias
    got = incremental_identity_loss(step_logits, labels, w).item()

    total = 0.0
    for b in range(B):
        per_video = 0.0
        for t in range(1, n + 1):
            avg = [sum(h[b, s, k].item() for s in range(t)) / t for k in range(H)]  # mean_{s<=t} h^s
            logits = [sum(W[c, k].item() * avg[k] for k in range(H)) + bias[c].item() for c in range(C)]
            log_p = logits[labels[b]] - math.log(sum(math.exp(z) for z in logits))
            per_video += -((t / 5) ** 2 / 10) * log_p  # -w_t log C_y(...)
        total += per_video / n
    assert got == pytest.approx(total / B, rel=1e-5)


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.randn(4, 3, generator=_gen(6), requires_grad=True)
    y = grad_reverse(x, 0.5)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.5 * torch.arange(3.0).expand(4, 3))


def test_gradient_reversal_makes_the_encoder_work_against_the_classifier():
    torch.manual_seed(0)
    enc, clf = torch.nn.Linear(5, 4), torch.nn.Linear(4, 3)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    grads = []
    for reverse in (False, True):
        enc.zero_grad(), clf.zero_grad()
        z = enc(x)
        torch.nn.functional.cross_entropy(clf(grad_reverse(z) if reverse else z), y).backward()
        grads.append((enc.weight.grad.clone(), clf.weight.grad.clone()))
    assert torch.allclose(grads[1][0], -grads[0][0])  # encoder: opposite direction
    assert torch.allclose(grads[1][1], grads[0][1])  # classifier: unchanged, it still learns the signer


@pytest.mark.parametrize("size", [(64, 64), (64, 32), (60, 44)])
def test_encoder_decoder_shapes(size):
    enc = FrameEncoder(size, (8, 16, 16, 32), appearance_dim=10, sign_dim=4, convs_per_stage=2)
    dec = FrameDecoder(size, (8, 16, 16, 32), appearance_dim=10, sign_dim=4, convs_per_stage=2)
    f_a, f_g = enc(torch.rand(3, 3, *size))
    assert f_a.shape == (3, 10) and f_g.shape == (3, 4)
    out = dec(f_a, f_g)
    assert out.shape == (3, 3, *size) and 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_temporal_models_are_causal(kind):
    torch.manual_seed(0)
    model = TemporalModel(6, hidden=8, layers=2, kind=kind, heads=2).eval()
    x = torch.randn(2, 9, 6)
    changed = x.clone()
    changed[:, 5:] = torch.randn(2, 4, 6)
    a, b = model(x), model(changed)
    assert a.shape == (2, 9, 8)
    assert torch.allclose(a[:, :5], b[:, :5], atol=1e-6)  # h^t sees frames <= t only
    assert not torch.allclose(a[:, 5:], b[:, 5:])
