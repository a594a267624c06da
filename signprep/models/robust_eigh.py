"""Symmetric eigendecomposition with a bounded (Taylor-approximated) backward.

The exact eigh gradient contains K_ij = 1/(lambda_i - lambda_j), which explodes
for (near-)repeated eigenvalues: with torch 2.13 the gradient norm of a loss on
the first eigenvector of diag(1, 1+eps, 2, 3) is ~1e7 at eps = 1e-7 and NaN/inf
for exactly equal eigenvalues (docs/methods.md, "Differentiable SVD").

Following Wang et al. (TPAMI 2021, "Robust Differentiable SVD"), the backward
replaces K by its degree-K Taylor series. For lambda_i > lambda_j (both > 0)

    1/(lambda_i - lambda_j) = (1/lambda_i) * 1/(1 - q),    q = lambda_j/lambda_i in [0, 1)
                            ~ (1/lambda_i) * sum_{k=0..K} q^k

and K_ji = -K_ij. The truncation error is relative q^(K+1): exact for
well-separated eigenvalues, bounded by (K+1)/lambda_i for equal ones.

Conventions
-----------
* Eigenvalues are returned in DESCENDING order (like singular values), so the
  top-r basis is ``U[..., :, :r]``.
* Input is a symmetric (..., d, d) matrix; only its symmetric part (C + C^T)/2
  is used, and the gradient returned is symmetric.
* The decomposition and the backward's matrix products run in the input's
  precision, as torch.linalg.eigh's do (float32 or float64; half types in
  float32); the Taylor kernel K is computed in float64. Outputs and gradients
  come back in the input dtype.
* Intended for PSD inputs (covariances). For K only, eigenvalues are floored
  at ``max(eps * lambda_max, 1e-12)``: tiny, zero or (round-off) negative
  eigenvalues of a rank-deficient covariance then give q in (0, 1] and a finite
  K, at most (K+1) / floor. The absolute 1e-12 only matters for an all-zero
  input. The eigenvalues returned are not clamped.

Padé: the [m/n] Padé approximant (n >= 1) of the geometric series sum q^k is
1/(1-q) itself (the series is rational of type [0/1], and Padé approximants
are unique), i.e. the exact, unbounded kernel, so it is not offered here; see
the report of this module's issue.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

SUPPORTED_METHODS = ("taylor",)


def taylor_kernel(eigenvalues: torch.Tensor, degree: int = 9, eps: float = 1e-6) -> torch.Tensor:
    """Antisymmetric Taylor-approximated K matrix.

    Args:
        eigenvalues: (..., d) in descending order.
        degree: K, the highest power of q = lambda_j / lambda_i kept.
        eps: relative floor for the eigenvalues (see module docstring).

    Returns:
        (..., d, d) with K_ij ~ 1/(lambda_i - lambda_j) for i < j, K_ji = -K_ij,
        zero diagonal. Same dtype as ``eigenvalues``.
    """
    floor = (eps * eigenvalues.amax(dim=-1, keepdim=True)).clamp(min=1e-12)
    lam = torch.maximum(eigenvalues, floor)
    lam_i = lam.unsqueeze(-1)  # row index i
    lam_j = lam.unsqueeze(-2)  # column index j
    # descending order makes q <= 1 on the upper triangle (ties included, where q = 1)
    q = (lam_j / lam_i).clamp_(max=1.0)
    # Horner: sum_{k=0..K} q^k, in place (the same products and sums as 1 + q * series)
    series = torch.ones_like(q)
    for _ in range(degree):
        series.mul_(q).add_(1.0)
    upper = series.div_(lam_i).triu_(diagonal=1)
    return upper - upper.transpose(-1, -2)


class RobustEigh(torch.autograd.Function):
    """eigh forward, Taylor-K backward. Use through :func:`robust_eigh`."""

    @staticmethod
    def forward(ctx, C: torch.Tensor, taylor_degree: int, eps: float):  # noqa: D102
        # The decomposition runs in C's dtype, as torch.linalg.eigh does: a float64 eigh of a
        # float32 input cost 1.4-3.0x the float32 one (d 64-512, one thread), the whole
        # difference between robust_eigh's forward and torch's.
        ctx.in_dtype = C.dtype
        if C.dtype not in (torch.float32, torch.float64):  # eigh has no half-precision kernels
            C = C.float()
        # (C + C^T)/2 is C itself, bit for bit, when C is exactly symmetric (a float32 covariance
        # X^T X / n from one matmul often is): the check is one read, the symmetrisation three
        # passes and two allocations, ~40 us of the forward's gap to torch's at d = 64
        if not torch.equal(C, C.mT):
            C = C.add(C.mT).mul_(0.5)
        lam, U = torch.linalg.eigh(C)
        # eigh is ascending; flip to descending so the top-r basis is U[:, :r]
        lam, U = lam.flip(-1), U.flip(-1)
        ctx.save_for_backward(lam, U)
        ctx.taylor_degree, ctx.eps = taylor_degree, eps
        if lam.dtype == ctx.in_dtype:  # the common case: no cast calls (~3% of the forward at d = 64)
            return lam, U
        return lam.to(ctx.in_dtype), U.to(ctx.in_dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_lam: torch.Tensor | None, grad_U: torch.Tensor | None):  # noqa: D102
        lam, U = ctx.saved_tensors  # in the dtype the decomposition ran in
        Ut = U.transpose(-1, -2)
        if grad_U is not None:
            # K in float64 (q^k sums near q = 1), the products in the decomposition's dtype, as torch's
            # backward: float64 products of float32 inputs made the backward 2.6-2.9x torch's (d 256-512)
            K = taylor_kernel(lam.to(torch.float64), ctx.taylor_degree, ctx.eps).to(U.dtype)
            # F_ij = 1/(lambda_j - lambda_i) = K_ji: dC = U (K^T o U^T dU) U^T
            inner = (Ut @ grad_U.to(U.dtype)).mul_(K.transpose(-1, -2))
        else:
            inner = torch.zeros_like(U)
        if grad_lam is not None:
            inner.diagonal(dim1=-2, dim2=-1).add_(grad_lam.to(U.dtype))
        grad_C = U @ inner @ Ut
        grad_C = (grad_C + grad_C.transpose(-1, -2)).mul_(0.5)
        return grad_C.to(ctx.in_dtype), None, None


def robust_eigh(
    C: torch.Tensor, taylor_degree: int = 9, method: str = "taylor", eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigendecomposition of a symmetric (PSD) matrix with a bounded gradient.

    Args:
        C: (..., d, d) symmetric, typically a covariance; any float dtype.
        taylor_degree: K, number of Taylor terms minus one (Wang et al. use 9).
        method: "taylor" (the only one; see module docstring on Padé).
        eps: relative eigenvalue floor used only in the backward's K.

    Returns:
        eigenvalues (..., d) in descending order and eigenvectors (..., d, d)
        (column k belongs to eigenvalue k), both in C's dtype.
    """
    if method not in SUPPORTED_METHODS:
        raise ValueError(f"method must be one of {SUPPORTED_METHODS}, got {method!r}")
    if taylor_degree < 0:
        raise ValueError(f"taylor_degree must be >= 0, got {taylor_degree}")
    if C.shape[-1] != C.shape[-2]:
        raise ValueError(f"expected (..., d, d), got {tuple(C.shape)}")
    return RobustEigh.apply(C, taylor_degree, eps)
