"""robust_eigh: exact where eigenvalues are well separated, bounded where torch's eigh backward blows up."""

from __future__ import annotations

import pytest
import torch

from signprep.models.robust_eigh import robust_eigh, taylor_kernel


def _sym_with_spectrum(eigenvalues, seed: int = 0, batch: tuple[int, ...] = ()) -> torch.Tensor:
    """Q diag(eigenvalues) Q^T with a random orthogonal Q, float64, shape (*batch, d, d)."""
    gen = torch.Generator().manual_seed(seed)
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64)
    d = lam.shape[-1]
    Q, _ = torch.linalg.qr(torch.randn(*batch, d, d, generator=gen, dtype=torch.float64))
    return (Q * lam) @ Q.transpose(-1, -2)


def _torch_eigh_desc(C):
    lam, U = torch.linalg.eigh(C)
    return lam.flip(-1), U.flip(-1)


def _sign_invariant_loss(C, eigh, r: int = 2):
    """Weighted eigenvalues + weighted top-r projection: independent of eigenvector signs."""
    C = 0.5 * (C + C.transpose(-1, -2))  # gradcheck perturbs entries one at a time
    lam, U = eigh(C)
    d = C.shape[-1]
    P = U[..., :, :r] @ U[..., :, :r].transpose(-1, -2)
    w_lam = torch.linspace(1.0, 2.0, d, dtype=C.dtype)
    w_P = torch.arange(d * d, dtype=C.dtype).reshape(d, d) / (d * d)
    return (lam * w_lam).sum() + (P * w_P).sum()


def _first_eigvec_grad(C, eigenvector):
    """d/dC of sum(u) for u the eigenvector of the smallest eigenvalue (the loss of docs/methods.md's measurement)."""
    C = C.clone().requires_grad_()
    eigenvector(C).sum().backward()
    return C.grad


def _ours_smallest(C):
    return robust_eigh(C)[1][..., :, -1]  # descending order: the smallest eigenvalue is last


def _torch_smallest(C):
    return torch.linalg.eigh(C)[1][..., :, 0]


def test_forward_matches_eigh_descending_and_keeps_dtype():
    C = _sym_with_spectrum([5.0, 3.0, 2.0, 0.5], batch=(3,)).float()
    lam, U = robust_eigh(C)
    assert lam.dtype == U.dtype == torch.float32
    assert torch.all(lam[..., :-1] >= lam[..., 1:])
    torch.testing.assert_close(U @ torch.diag_embed(lam) @ U.transpose(-1, -2), C, atol=1e-5, rtol=1e-5)


def test_taylor_kernel_exact_for_separated_and_bounded_for_equal():
    lam = torch.tensor([4.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    K = taylor_kernel(lam, degree=9)
    torch.testing.assert_close(K, -K.T)
    assert K[0, 1] == pytest.approx(1 / 3, rel=0.25**10 * 2)  # q = 1/4: relative error q^10
    assert K[1, 2] == pytest.approx(10.0)  # equal eigenvalues: (K+1)/lambda, not inf
    assert K[0, 3] == pytest.approx(0.25, rel=1e-5)  # lambda_j = 0 (floored at 1e-6 lambda_max): ~1/lambda_i
    assert torch.isfinite(taylor_kernel(torch.zeros(4, dtype=torch.float64))).all()


def test_gradcheck_well_separated():
    # eigenvalue ratios <= 0.1, so the Taylor truncation error is <= 1e-10 relative: far below gradcheck's tolerance
    C = _sym_with_spectrum([10.0, 1.0, 0.1, 0.01, 0.001]).requires_grad_()
    assert torch.autograd.gradcheck(lambda A: _sign_invariant_loss(A, robust_eigh), (C,))


def test_gradient_matches_torch_eigh_batched():
    # ratios <= 0.5: relative error of each K entry <= 0.5^10 ~ 1e-3
    C = _sym_with_spectrum([8.0, 4.0, 2.0, 1.0, 0.5, 0.25], seed=1, batch=(4,))
    grads = []
    for eigh in (robust_eigh, _torch_eigh_desc):
        A = C.clone().requires_grad_()
        _sign_invariant_loss(A, eigh).backward()
        grads.append(A.grad)
    ours, exact = grads
    assert torch.linalg.norm(ours - exact) <= 2e-3 * torch.linalg.norm(exact)


def test_float32_input_gets_float32_gradient():
    C = _sym_with_spectrum([3.0, 2.0, 1.0]).float().requires_grad_()
    _sign_invariant_loss(C, robust_eigh, r=1).backward()
    assert C.grad.dtype == torch.float32 and torch.isfinite(C.grad).all()


@pytest.mark.parametrize("eps", [1e-3, 1e-5, 1e-7, 0.0])
def test_bounded_on_near_degenerate_spectrum(eps):
    C = torch.diag(torch.tensor([1.0, 1.0 + eps, 2.0, 3.0], dtype=torch.float64))
    ours = _first_eigvec_grad(C, _ours_smallest)
    assert torch.isfinite(ours).all() and torch.linalg.norm(ours) < 100  # ~7 at every eps
    theirs = _first_eigvec_grad(C, _torch_smallest)
    # the exact backward grows like 1/eps and is NaN at eps = 0
    assert not torch.isfinite(theirs).all() or torch.linalg.norm(theirs) > 0.1 / eps


def test_identity_matrix_gradient_finite():
    C = torch.eye(5, dtype=torch.float64, requires_grad=True)
    lam, U = robust_eigh(C)
    (U[:, :2].sum() ** 2 + lam.sum()).backward()
    assert torch.isfinite(C.grad).all() and torch.linalg.norm(C.grad) < 100


def test_rank_deficient_batch_gradient_finite():
    gen = torch.Generator().manual_seed(3)
    # covariances of 3 samples in R^16 (rank <= 3), one batch entry with repeated rows (rank 1)
    X = torch.randn(4, 3, 16, generator=gen)
    X[1] = X[1, :1].expand(3, 16)
    X.requires_grad_()
    C = X.transpose(-1, -2) @ X
    lam, U = robust_eigh(C)
    P = U[..., :, :4] @ U[..., :, :4].transpose(-1, -2)
    (P.sum() + (U**2 * torch.arange(16.0)).sum()).backward()
    assert torch.isfinite(X.grad).all()
    # torch's exact backward on the covariance itself: the null-space eigenvalues are equal up to round-off
    C = C.detach().double().requires_grad_()
    torch.linalg.eigh(C)[1].sum().backward()
    assert not torch.isfinite(C.grad).all() or C.grad.abs().max() > 1e6


def test_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        robust_eigh(torch.eye(3), method="pade")
