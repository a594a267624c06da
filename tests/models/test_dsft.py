"""DSFT: the identities of docs/methods.md, the memory bank, and gradients through the module."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from signprep.models.dsft import (
    DomainSumTransform,
    SubspaceExtractor,
    domain_sum,
    geodesic_flow,
    geodesic_flow_H,
    projection,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matrices: extra intra-op threads only contend (100x slower on a loaded 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random_basis(d: int, r: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, r, generator=gen, dtype=torch.float64))
    return Q


@pytest.fixture
def bases():
    """Random 4-dim subspaces of R^20 (source, target), as in docs/methods.md."""
    return _random_basis(20, 4, seed=0), _random_basis(20, 4, seed=1)


def test_H_symmetric_and_rank_at_most_2r(bases):
    H = domain_sum(bases)
    torch.testing.assert_close(H, H.T, atol=0, rtol=0)
    assert torch.linalg.matrix_rank(H) <= 8
    # three domains: rank <= 3r, eigenvalues in [0, 3]
    H3 = domain_sum([*bases, _random_basis(20, 4, seed=2)])
    assert torch.linalg.matrix_rank(H3) <= 12
    ev = torch.linalg.eigvalsh(H3)
    assert ev.min() > -1e-12 and ev.max() < 3 + 1e-12


def test_eigenvalues_are_one_plus_minus_cos_principal_angles(bases):
    Bs, Bt = bases
    theta = scipy.linalg.subspace_angles(Bs.numpy(), Bt.numpy())  # independent of our code
    expected = np.sort(np.concatenate([1 + np.cos(theta), 1 - np.cos(theta)]))
    ev = np.sort(np.linalg.eigvalsh(domain_sum(bases).numpy()))
    np.testing.assert_allclose(ev[-8:], expected, atol=1e-10)
    np.testing.assert_allclose(ev[:-8], 0.0, atol=1e-10)


def test_domain_sum_equals_geodesic_flow_H_at_ends(bases):
    Bs, Bt = bases
    torch.testing.assert_close(domain_sum(bases), geodesic_flow_H(Bs, Bt, ts=(0.0, 1.0)), atol=1e-10, rtol=0)
    # and the ends of the flow are the subspaces themselves
    torch.testing.assert_close(projection(geodesic_flow(Bs, Bt, 0.0)), projection(Bs), atol=1e-10, rtol=0)
    torch.testing.assert_close(projection(geodesic_flow(Bs, Bt, 1.0)), projection(Bt), atol=1e-10, rtol=0)
    mid = geodesic_flow(Bs, Bt, 0.5)
    torch.testing.assert_close(mid.T @ mid, torch.eye(4, dtype=torch.float64), atol=1e-10, rtol=0)


def test_extractor_basis_is_top_left_singular_vectors():
    torch.manual_seed(0)
    ext = SubspaceExtractor(dim=12, rank=3, bank_size=0).double()
    X = torch.randn(30, 12, dtype=torch.float64)
    out = ext(X)
    U, _, _ = torch.linalg.svd(X.T, full_matrices=False)
    torch.testing.assert_close(out.projection, projection(U[:, :3]), atol=1e-10, rtol=0)
    assert out.basis.shape == (12, 3)


def test_extractor_basis_with_a_memory_bank_is_that_of_batch_and_bank():
    """Algorithm 1 with a bank: U_r of [X, M] by SVD, M the bank's columns before the batch is enqueued;
    `from_memory` is U_r of M alone."""
    torch.manual_seed(1)
    ext = SubspaceExtractor(dim=12, rank=3, bank_size=16).double()
    for _ in range(3):  # 24 samples through a 16-column ring: the bank wraps
        ext(torch.randn(8, 12, dtype=torch.float64) * torch.linspace(3, 0.5, 12, dtype=torch.float64))
    M = ext.memory().clone()
    assert M.shape == (12, 16)
    X = torch.randn(5, 12, dtype=torch.float64)
    out = ext(X)
    U, _, _ = torch.linalg.svd(torch.cat([X.T, M], dim=1), full_matrices=False)
    torch.testing.assert_close(out.projection, projection(U[:, :3]), atol=1e-10, rtol=0)
    # the batch went in after: the bank now holds it, in its newest columns
    assert torch.equal(ext.memory()[:, [8, 9, 10, 11, 12]], X.T)
    U_mem, _, _ = torch.linalg.svd(ext.memory(), full_matrices=False)
    torch.testing.assert_close(ext.from_memory().projection, projection(U_mem[:, :3]), atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="memory bank is empty"):
        SubspaceExtractor(dim=12, rank=3, bank_size=4).from_memory()


def test_memory_bank_fifo_sizes_and_eval():
    ext = SubspaceExtractor(dim=4, rank=2, bank_size=5)
    batches = [torch.full((2, 4), float(i)) for i in range(1, 5)]  # samples 1,1,2,2,3,3,4,4
    ext(batches[0])
    assert int(ext.bank_fill) == 2 and ext.memory().shape == (4, 2)
    for b in batches[1:]:
        ext(b)
    assert int(ext.bank_fill) == 5 and ext.bank.shape == (4, 5)
    # the 5 newest samples remain: 2 (one of two), 3, 3, 4, 4
    assert sorted(ext.memory()[0].tolist()) == [2.0, 3.0, 3.0, 4.0, 4.0]
    ext.eval()
    before = ext.bank.clone()
    ext(torch.full((3, 4), 9.0))
    torch.testing.assert_close(ext.bank, before)
    ext.train()
    ext(torch.full((7, 4), 7.0))  # batch larger than the bank: keeps the newest 5
    assert ext.memory()[0].tolist() == [7.0] * 5


def test_bank_is_detached_and_gradients_reach_only_the_batch():
    torch.manual_seed(1)
    ext = SubspaceExtractor(dim=6, rank=2, bank_size=8)
    old = torch.randn(4, 6, requires_grad=True)
    ext(old)
    assert not ext.bank.requires_grad
    new = torch.randn(4, 6, requires_grad=True)
    ext(new).projection.sum().backward()
    assert old.grad is None  # no graph through the bank back to the enqueued batch
    assert new.grad is not None and torch.isfinite(new.grad).all()


def test_rank_deficient_batch_gives_finite_gradients():
    torch.manual_seed(2)
    dsft = DomainSumTransform(dim=16, rank=4, bank_size=0)
    row = torch.randn(1, 16)
    x = row.repeat(6, 1).requires_grad_()  # rank-1 batch, fewer samples than rank
    t = torch.randn(2, 16).repeat(3, 1).requires_grad_()  # rank 2
    x_hat = dsft(x, [t])
    ((x_hat - 1.0) ** 2).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(t.grad).all()
    assert x.grad.abs().sum() > 0


def test_transform_output_H_and_disable():
    torch.manual_seed(3)
    dsft = DomainSumTransform(dim=8, rank=2, bank_size=16, num_targets=2)
    x, t1, t2 = torch.randn(5, 8), torch.randn(5, 8), torch.randn(5, 8)
    x_hat = dsft(x, [t1, t2])
    assert x_hat.shape == (5, 8) and len(dsft.bases) == 3
    torch.testing.assert_close(dsft.H, domain_sum(dsft.bases))
    torch.testing.assert_close(x_hat, x @ dsft.H)
    with pytest.raises(ValueError, match="feature batches"):
        dsft(x, [t1])
    off = DomainSumTransform(dim=8, rank=2, bank_size=16, enabled=False)
    assert off(x, [t1]) is x and int(off.extractors[0].bank_fill) == 0


def test_trains_inside_a_small_network():
    """Encoder -> DSFT (target: the fixed class embeddings, as the recipe's vocabulary) -> linear head learns
    three separable blobs: held-out accuracy in eval mode (H from the banks) far above chance 1/3."""
    torch.manual_seed(4)
    centres = 3.0 * torch.randn(3, 10)

    def blobs(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 3, (n,))
        return centres[y] + torch.randn(n, 10), y

    encoder = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16))
    dsft = DomainSumTransform(dim=16, rank=4, bank_size=32, target_bank_size=0)
    head = nn.Linear(16, 3)
    text = nn.Embedding(3, 16)  # stand-in for the gloss text features (the target domain)
    params = [*encoder.parameters(), *head.parameters(), *text.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(60):
        x, y = blobs(16)
        loss = nn.functional.cross_entropy(head(dsft(encoder(x), [text.weight])), y)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:10])
    assert int(dsft.extractors[0].bank_fill) == 32 and int(dsft.extractors[1].bank_fill) == 0
    dsft.eval()
    x, y = blobs(300)
    with torch.no_grad():
        accuracy = (head(dsft(encoder(x), [text.weight])).argmax(1) == y).float().mean().item()
    assert accuracy > 0.9, accuracy  # chance 1/3


# --------------------------------------------------------------------------- protocol: no label leak, inductive


class _FeaturesAsKeypoints(nn.Module):
    """Encoder stand-in: the batch's `keypoints` (B, D) are the clip features themselves."""

    def forward(self, keypoints: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        return keypoints


def _text_scoring_model(num_classes: int, dim: int, rank: int, bank_size: int, seed: int):
    """A DSFTModel whose classifier scores each class by its own text feature (logit_c = x_hat . t_c):
    whatever x @ H carries about the batch's glosses shows up in the predictions."""
    from signprep.models.dsft import DSFTModel

    g = torch.Generator().manual_seed(seed)
    text = nn.functional.normalize(torch.randn(num_classes, 48, generator=g), dim=1)
    torch.manual_seed(seed)
    model = DSFTModel(_FeaturesAsKeypoints(), text, dim, rank, bank_size)
    with torch.no_grad():
        model.classifier.weight.copy_(model.text_proj(model.text_embeddings))
        model.classifier.bias.zero_()
    return model


@torch.no_grad()
def _noise_top1(model, n: int, batch: int, seed: int) -> float:
    """Top-1 of `model` on pure-noise features with uniformly random labels, in its current mode."""
    g = torch.Generator().manual_seed(seed)
    num_classes, dim = model.classifier.weight.shape
    hits = 0
    for _ in range(n // batch):
        x = torch.randn(batch, dim, generator=g)
        y = torch.randint(num_classes, (batch,), generator=g)
        hits += int((model({"keypoints": x, "label": y})["logits"].argmax(1) == y).sum())
    return hits / (n - n % batch)


def test_noise_features_score_chance_in_training_and_evaluation_mode():
    """The target subspace never comes from the labels being classified: on noise features with random
    labels, scoring classes by their text vectors through x @ H is at chance (1/C) in both modes.
    The batch-label target (the default before issue 19) scores its own batch's glosses: 2.19% top-1 in
    training mode here, 10.7 binomial sd above chance."""
    C, n = 100, 8000
    model = _text_scoring_model(C, dim=32, rank=8, bank_size=16, seed=0)
    chance = 1 / C
    sigma = (chance * (1 - chance) / n) ** 0.5  # binomial sd of a chance-level top-1 over n samples
    train_top1 = _noise_top1(model.train(), n, batch=10, seed=1)
    eval_top1 = _noise_top1(model.eval(), n, batch=10, seed=2)
    assert abs(train_top1 - chance) < 3.5 * sigma, (train_top1, chance)
    assert abs(eval_top1 - chance) < 3.5 * sigma, (eval_top1, chance)


def _trained_dsft(seed: int = 0):
    """A DSFTModel after a few training steps (banks filled), in eval mode, and 24 evaluation clips."""
    model = _text_scoring_model(12, dim=16, rank=4, bank_size=32, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.no_grad():
        for _ in range(6):
            model({"keypoints": torch.randn(8, 16, generator=g), "label": torch.randint(12, (8,), generator=g)})
    x = torch.randn(24, 16, generator=g)
    return model.eval(), x, torch.randint(12, (24,), generator=g)


@torch.no_grad()
def test_evaluation_is_inductive_batch_mates_and_order_change_nothing():
    """At evaluation H comes from the state fixed in training (the banks and the vocabulary), so a clip's
    features and logits are the same alone, in any batch size and in any order."""
    model, x, y = _trained_dsft()
    whole = model({"keypoints": x, "label": y})
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(5))
    parts = [model({"keypoints": x[i], "label": y[i]}) for i in order.split(5)]
    inverse = torch.argsort(order)
    for key in ("features", "logits"):
        shuffled = torch.cat([p[key] for p in parts])[inverse]
        torch.testing.assert_close(shuffled, whole[key], atol=1e-5, rtol=1e-5)
    alone = torch.cat([model({"keypoints": x[i : i + 1], "label": y[i : i + 1]})["features"] for i in range(3)])
    torch.testing.assert_close(alone, whole["features"][:3], atol=1e-5, rtol=1e-5)
    # and evaluation leaves the banks alone
    before = [e.bank.clone() for e in model.dsft.extractors]
    model({"keypoints": x, "label": y})
    assert all(torch.equal(b, e.bank) for b, e in zip(before, model.dsft.extractors))
