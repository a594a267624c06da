"""robust_eigh (Taylor-K backward, float64 inside) against torch.linalg.eigh, side by side in one run.

Prints:
  1. time: for d in 64, 256, 512 and batches of 1 and 8 (float32 covariance
     inputs X^T X / n of random features), the wall time of forward, backward
     alone (autograd.grad on a retained graph) and forward+backward, for both, and
     the ratios robust / torch (targets: forward <= 1.2x, backward <= 3x). The two
     are timed in alternating order, `--repeats` rounds (CPU time of this process on
     the CPU, wall time on CUDA, each over >= 20 ms of calls); each figure is the median
     over the rounds and each ratio the median of the per-round ratios, with their
     range in brackets (the machine is shared: the ratio of neighbouring runs is
     what holds). The loss uses both outputs (weighted eigenvalues + weighted
     eigenvectors), so both backward paths do their full work;
  2. stability: the gradient norm of sum(u) for u the eigenvector of the smallest
     eigenvalue of diag(1, 1+eps, 2, 3) (float64), eps in 1e-3, 1e-5, 1e-7, 0
     (the measurement of docs/methods.md; torch's is ~1/eps, NaN at 0).

Run: python benchmarks/eigh_backward.py [--repeats 5] [--device cpu|cuda] [--threads N]. Needs torch (`.[train]`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from signprep.models.robust_eigh import robust_eigh


def torch_eigh_desc(C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lam, U = torch.linalg.eigh(C)
    return lam.flip(-1), U.flip(-1)


def robust(C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return robust_eigh(C)


def clock(fn: Callable[[], object], device: str) -> float:
    """Seconds per call of fn, over enough calls to pass 20 ms: this process's CPU time on the CPU
    (on a shared machine wall time counts other jobs' time slices), wall time with CUDA."""
    timer = time.perf_counter if device == "cuda" else time.process_time
    n, total = 0, 0.0
    while total < 0.02:
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = timer()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        total += timer() - t0
        n += 1
    return total / n


def timers(eigh, C: torch.Tensor, device: str) -> list[Callable[[], object]]:
    """(forward, backward, forward+backward) calls of `eigh` on C."""
    d = C.shape[-1]
    w_lam = torch.linspace(1.0, 2.0, d, device=device)
    w_U = torch.randn(d, d, generator=torch.Generator().manual_seed(1)).to(device)

    def loss_of(A):
        lam, U = eigh(A)
        return (lam * w_lam).sum() + (U * w_U).sum()

    A = C.clone().requires_grad_()
    loss = loss_of(A)
    return [
        lambda: loss_of(A),
        lambda: torch.autograd.grad(loss, A, retain_graph=True),
        lambda: torch.autograd.grad(loss_of(A), A),
    ]


def timing(repeats: int, device: str) -> None:
    print(f"1. time, median of {repeats} alternating rounds ({device}, float32 input, "
          f"torch threads={torch.get_num_threads()})")  # fmt: skip
    print(
        f"{'d':>4} {'batch':>5} | {'torch fwd':>9} {'bwd':>8} {'fwd+bwd':>8} | {'robust fwd':>10} {'bwd':>8} "
        f"{'fwd+bwd':>8} | {'ratio fwd':>17} {'bwd':>17} {'fwd+bwd':>17}"
    )
    gen = torch.Generator().manual_seed(0)
    for d in (64, 256, 512):
        for batch in (1, 8):
            X = torch.randn(batch, 2 * d, d, generator=gen)
            C = (X.transpose(-1, -2) @ X / (2 * d)).to(device)
            calls = {"torch": timers(torch_eigh_desc, C, device), "robust": timers(robust, C, device)}
            for fns in calls.values():
                for fn in fns:
                    fn()  # warm-up
            times = {name: [[], [], []] for name in calls}
            for r in range(repeats):
                order = list(calls) if r % 2 == 0 else list(calls)[::-1]
                for k in range(3):
                    for name in order:
                        times[name][k].append(clock(calls[name][k], device))
            med = {name: [statistics.median(t) for t in ts] for name, ts in times.items()}
            cells = []
            for k in range(3):
                ratios = [r / t for r, t in zip(times["robust"][k], times["torch"][k])]
                cells.append(f"{statistics.median(ratios):5.2f} [{min(ratios):4.2f}-{max(ratios):4.2f}]")
            ms = [f"{1e3 * v:8.2f}" for v in (*med["torch"], *med["robust"])]
            print(f"{d:>4} {batch:>5} | {ms[0]:>9} {ms[1]} {ms[2]} | {ms[3]:>10} {ms[4]} {ms[5]} | "
                  f"{cells[0]:>17} {cells[1]:>17} {cells[2]:>17}")  # fmt: skip
    print("   (times in ms; ratio = robust / torch, median of the rounds [range])")


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
