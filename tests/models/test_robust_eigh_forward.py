"""robust_eigh's forward (issue 22: speed only) gives torch.linalg.eigh's decomposition of the
symmetric part of its input, bit for bit, in the input's precision: an exactly symmetric input is
decomposed as it is, an asymmetric one through (C + C^T) / 2."""

from __future__ import annotations

import pytest
import torch

from signprep.models.robust_eigh import robust_eigh


def descending_eigh(C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lam, U = torch.linalg.eigh(C)
    return lam.flip(-1), U.flip(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_is_eigh_of_the_symmetric_part_bit_for_bit(dtype):
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(3, 40, 16, generator=gen, dtype=dtype)
    M = X.transpose(-1, -2) @ X / 40
    C = 0.5 * (M + M.transpose(-1, -2))  # exactly symmetric (a float64 matmul need not be)
    assert torch.equal(C, C.transpose(-1, -2))
    skew = torch.randn(3, 16, 16, generator=gen, dtype=dtype) * 1e-3
    for A, symmetric_part in ((C, C), (C + skew, 0.5 * ((C + skew) + (C + skew).transpose(-1, -2)))):
        lam, U = robust_eigh(A.clone().requires_grad_())
        want_lam, want_U = descending_eigh(symmetric_part)
        assert lam.dtype == dtype and torch.equal(lam, want_lam) and torch.equal(U, want_U)
    # the skew part changes the decomposition: the asymmetric case really went through (C + C^T) / 2
    assert not torch.equal(robust_eigh(C + skew)[0], descending_eigh(C + skew)[0])
