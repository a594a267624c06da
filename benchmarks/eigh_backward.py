"""robust_eigh (Taylor-K backward, float64 inside) against torch.linalg.eigh, side by side in one run.

Prints:
  1. time: for d in 64, 256, 512 and batches of 1 and 8 (float32 covariance
     inputs X^T X / n of random features), the best-of-N wall time of forward,
     backward alone (autograd.grad on a retained graph) and forward+backward,
     for both, and the ratios robust / torch. The loss uses both outputs
     (weighted eigenvalues + weighted eigenvectors), so both backward paths do
     their full work;
  2. stability: the gradient norm of sum(u) for u the eigenvector of the smallest
     eigenvalue of diag(1, 1+eps, 2, 3) (float64), eps in 1e-3, 1e-5, 1e-7, 0
     (the measurement of docs/methods.md; torch's is ~1/eps, NaN at 0).

Run: python benchmarks/eigh_backward.py [--repeats 5] [--device cpu|cuda] [--threads N]. Needs torch (`.[train]`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from signprep.models.robust_eigh import robust_eigh


def torch_eigh_desc(C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lam, U = torch.linalg.eigh(C)
    return lam.flip(-1), U.flip(-1)


def robust(C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return robust_eigh(C)


def best_of(fn: Callable[[], object], repeats: int, device: str) -> float:
    """Best wall time (s) of fn over `repeats` runs after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def time_one(eigh, C: torch.Tensor, repeats: int, device: str) -> tuple[float, float, float]:
    """(forward, backward, forward+backward) best times in seconds."""
    d = C.shape[-1]
    w_lam = torch.linspace(1.0, 2.0, d, device=device)
    w_U = torch.randn(d, d, generator=torch.Generator().manual_seed(1)).to(device)

    def loss_of(A):
        lam, U = eigh(A)
        return (lam * w_lam).sum() + (U * w_U).sum()

    A = C.clone().requires_grad_()
    fwd = best_of(lambda: loss_of(A), repeats, device)
    loss = loss_of(A)
    bwd = best_of(lambda: torch.autograd.grad(loss, A, retain_graph=True), repeats, device)
    both = best_of(lambda: torch.autograd.grad(loss_of(A), A), repeats, device)
    return fwd, bwd, both


def timing(repeats: int, device: str) -> None:
    print(f"1. time, best of {repeats} ({device}, float32 input, torch threads={torch.get_num_threads()})")
    print(
        f"{'d':>4} {'batch':>5} | {'torch fwd':>10} {'bwd':>10} {'fwd+bwd':>10} | "
        f"{'robust fwd':>10} {'bwd':>10} {'fwd+bwd':>10} | {'ratio bwd':>9} {'fwd+bwd':>8}"
    )
    gen = torch.Generator().manual_seed(0)
    for d in (64, 256, 512):
        for batch in (1, 8):
            X = torch.randn(batch, 2 * d, d, generator=gen)
            C = (X.transpose(-1, -2) @ X / (2 * d)).to(device)
            t = time_one(torch_eigh_desc, C, repeats, device)
            r = time_one(robust, C, repeats, device)
            ms = [f"{1e3 * v:10.2f}" for v in (*t, *r)]
            print(
                f"{d:>4} {batch:>5} | {' '.join(ms[:3])} | {' '.join(ms[3:])} | {r[1] / t[1]:9.2f} {r[2] / t[2]:8.2f}"
            )
    print("   (times in ms; ratio = robust / torch)")


def stability() -> None:
    print("2. gradient norm of sum(u_min), diag(1, 1+eps, 2, 3), float64")
    print(f"{'eps':>8} {'torch.linalg.eigh':>18} {'robust_eigh':>12}")
    for eps in (1e-3, 1e-5, 1e-7, 0.0):
        norms = []
        for eigenvector in (lambda A: torch.linalg.eigh(A)[1][:, 0], lambda A: robust_eigh(A)[1][:, -1]):
            C = torch.diag(torch.tensor([1.0, 1.0 + eps, 2.0, 3.0], dtype=torch.float64)).requires_grad_()
            eigenvector(C).sum().backward()
            norms.append(torch.linalg.norm(C.grad).item())
        print(f"{eps:>8.0e} {norms[0]:>18.4g} {norms[1]:>12.4g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        # on a loaded machine, fewer OpenMP threads than cores avoids spin-wait noise
        torch.set_num_threads(args.threads)
    timing(args.repeats, args.device)
    stability()


if __name__ == "__main__":
    main()
