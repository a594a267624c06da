"""DisentangleModel: where each cross reconstruction takes its appearance code from, the streams'
code layout and the adversarial signer classifier; the weighted total of disentangle_losses."""

from __future__ import annotations

import pytest
import torch

from signprep.models.disentangle import DisentangleModel, DisentangleNetConfig
from signprep.models.disentangle_losses import (
    cross_reconstruction_loss,
    disentangle_losses,
    incremental_identity_loss,
    incremental_identity_weights,
    sign_similarity_loss,
)

# small enough for a CPU test; sign_dim 8 and appearance_dim 16 are the codes the first test fakes
NET = DisentangleNetConfig(channels=(4, 8, 8, 8), appearance_dim=16, sign_dim=8, hand_appearance_dim=6,
                           hand_sign_dim=3, temporal_hidden=12, temporal_layers=1, signer_hidden=5)  # fmt: skip


def test_cross_reconstruction_takes_appearance_from_another_frame_of_the_same_video():
    cfg = NET
    model = DisentangleModel(cfg, num_classes=2)
    B, T = 3, 5
    # f_a of frame t of video b is 100 b + t; the "decoder" returns the appearance code it is given
    marks = (100 * torch.arange(B)[:, None] + torch.arange(T)[None]).float()
    model.encode_stream = lambda s, images: (marks[:, :, None, None].expand(B, T, 1, 16), torch.zeros(B, T, 1, 8))
    model.decode = lambda s, f_a, f_g: f_a[..., :1]
    out = model({"background_removed": torch.zeros(B, T, 64, 64, 3, dtype=torch.uint8)})
    src = out["recon_body"][..., 0, 0]  # (B, T): the appearance source of each reconstructed frame
    assert torch.equal(src // 100, torch.arange(B)[:, None].expand(B, T).float())  # same video
    assert (src % 100 != torch.arange(T)[None].float()).all()  # another frame


def test_hand_stream_codes_and_the_signer_classifier():
    cfg = NET.model_copy(update={"hand_stream": True})
    assert DisentangleModel(cfg, num_classes=3).signer_classifier is None
    assert DisentangleModel(cfg, num_classes=3, num_signers=1).signer_classifier is None  # one signer: no adversary
    model = DisentangleModel(cfg, num_classes=3, num_signers=4).eval()
    B, T = 2, 3
    batch = {
        "background_removed": torch.zeros(B, T, 64, 64, 3, dtype=torch.uint8),
        "hand_crops": torch.zeros(B, T, 2, 64, 64, 3, dtype=torch.uint8),
        "hand_crop_valid": torch.ones(B, T, 2, dtype=torch.bool),
    }
    out = model(batch)
    # f_a = [body 16, left hand 6, right hand 6], f_g = [8, 3, 3]
    assert out["f_a"].shape == (B, T, 28) and out["f_g"].shape == (B, T, 14)
    assert out["recon_hands"].shape == (B, T, 2, 3, 64, 64) and out["valid_hands"].shape == (B, T, 2)
    assert out["step_logits"].shape == (B, T, 3) and out["signer_logits"].shape == (B, 4)


def test_disentangle_losses_is_the_weighted_sum_of_its_parts():
    torch.manual_seed(0)
    B, T, C = 4, 6, 3
    out = {
        "f_g": torch.randn(B, T, 5),
        "step_logits": torch.randn(B, T, C),
        "recon_body": torch.rand(B, T, 1, 3, 8, 8),
        "target_body": torch.rand(B, T, 1, 3, 8, 8),
        "signer_logits": torch.randn(B, 2),
    }
    labels, signers = torch.tensor([0, 0, 2, 2]), torch.tensor([0, 1, 1, 0])
    weights = dict(identity_weight=1.5, reconstruction_weight=20.0, similarity_weight=10.0, adversarial_weight=0.1)
    losses = disentangle_losses(out, labels, ["body"], **weights, signer_index=signers)
    identity = incremental_identity_loss(out["step_logits"], labels, incremental_identity_weights(T, "gaitnet"))
    xrecon = cross_reconstruction_loss(out["recon_body"], out["target_body"], None)
    sim = sign_similarity_loss(out["f_g"][0::2], out["f_g"][1::2])  # pairs (0, 1), (2, 3)
    adv = torch.nn.functional.cross_entropy(out["signer_logits"], signers)
    expected = 1.5 * identity + 20 * xrecon + 10 * sim + 0.1 * adv
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert {k: v.item() for k, v in losses.items() if k != "loss"} == pytest.approx(
        {"identity": identity.item(), "xrecon": xrecon.item(), "similarity": sim.item(), "adversarial": adv.item()}
    )
    # without signer labels the adversarial term is left out
    assert "adversarial" not in disentangle_losses(out, labels, ["body"], **weights)
