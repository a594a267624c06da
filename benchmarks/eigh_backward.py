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
     (the measurement of docs/methods.md; torch's is ~1/eps, NaN at 0);
  3. gradient quality, what the Taylor truncation costs: for the DSFT's loss shape, L = sum(P o W)
     with P = U_r U_r^T the rank-r projection of C = Z Z^T / n (Z = [X, M], the batch X of B
     features and a bank M of Q, d-dim), the cosine and the norm ratio of robust_eigh's dL/dX to
     the exact one (torch.linalg.eigh), at Taylor degrees 4, 9 (the default) and 19, on
       - DSFT-sized features: d = 128, B = 10, Q = 64, r = 16, from the trained encoder of a
         `signprep train dsft` run on its shards' training clips (--checkpoint, --shards), or
         without them from a stand-in (LayerNorm'd random projections of a 24-dim latent, like
         the encoder's output layer);
       - well-separated spectra: the same d and r, C = Q diag(lambda) Q^T with the kept eigenvalues
         in [1, 2] and the dropped ones in [0.01, 0.5] (every ratio across the cut <= 0.5).
     Each over --draws random W (and batches); also printed: the spectrum's ratio across the cut,
     lambda_{r+1} / lambda_r, which sets the truncation error q^(K+1) of the entries that matter.

Run: python benchmarks/eigh_backward.py [--repeats 5] [--device cpu|cuda] [--threads N]
                                        [--checkpoint RUN/last.pt --shards SHARDS] [--skip-timing]
Needs torch (`.[train]`).
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


def projection_loss_grad(Z: torch.Tensor, batch: int, W: torch.Tensor, rank: int, eigh) -> torch.Tensor:
    """dL/dX for L = sum(P o W), P the rank-`rank` projection of C = Z Z^T / n, X = Z[:, :batch] (float64)."""
    X = Z[:, :batch].clone().requires_grad_()
    Zx = torch.cat([X, Z[:, batch:]], dim=1)  # the bank part is detached, as in training
    _, U = eigh(Zx @ Zx.T / Zx.shape[1])
    P = U[:, :rank] @ U[:, :rank].T
    (grad,) = torch.autograd.grad((P * W).sum(), X)
    return grad


def dsft_features(checkpoint: str | None, shards: str | None, n: int, gen: torch.Generator) -> torch.Tensor:
    """(d, n) clip features: the trained encoder's on augmented training clips, or the stand-in."""
    if checkpoint is None:
        latent = torch.randn(n, 24, generator=gen, dtype=torch.float64)
        return torch.nn.functional.layer_norm(latent @ torch.randn(24, 128, generator=gen, dtype=torch.float64),
                                              (128,)).T  # fmt: skip
    from torch.utils.data import DataLoader

    from signprep.data import ShardDataset
    from signprep.recipes.dsft import load_dsft

    model, config, vocab = load_dsft(checkpoint)
    ds = ShardDataset(shards, clip_len=config.clip_len, split="train", augment=True,
                      keypoint_subset=config.keypoint_subset, label_map=vocab.label_map,
                      seed=int(torch.randint(1 << 30, (1,), generator=gen)))  # fmt: skip
    feats = []
    with torch.no_grad():
        while sum(len(f) for f in feats) < n:
            for batch in DataLoader(ds, batch_size=32):
                feats.append(model.visual(batch).double())
            ds.set_epoch(ds.epoch + 1)  # fresh augmentation
    return torch.cat(feats)[:n].T


def well_separated(d: int, rank: int, gen: torch.Generator) -> torch.Tensor:
    """(d, d) PSD C with kept eigenvalues in [1, 2], dropped in [0.01, 0.5], as Z = Q diag(sqrt lambda) (n = d)."""
    lam = torch.cat([torch.linspace(2.0, 1.0, rank), torch.linspace(0.5, 0.01, d - rank)]).double()
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    return Q * (lam * d).sqrt()  # Z Z^T / d = Q diag(lambda) Q^T


def gradient_quality(checkpoint: str | None, shards: str | None, draws: int, rank: int = 16) -> None:
    where = f"trained encoder of {checkpoint}" if checkpoint else "stand-in features (LayerNorm of a 24-dim latent)"
    print(f"3. gradient quality of robust_eigh vs torch.linalg.eigh, dL/dX for L = sum(P_r o W), r = {rank}, "
          f"{draws} draws (mean [min] cosine, mean [range] norm ratio robust/exact)")  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    cases = {
        f"DSFT-sized: d 128, B 10, Q 64, {where}": lambda: dsft_features(checkpoint, shards, 74, gen),
        "well-separated: d 128, lambda kept [1, 2], dropped [0.01, 0.5]": lambda: well_separated(128, rank, gen),
    }
    for name, make in cases.items():
        rows: dict[int, list[tuple[float, float]]] = {4: [], 9: [], 19: []}
        gaps, bad = [], 0
        for _ in range(draws):
            Z = make()
            lam = torch.linalg.eigvalsh(Z @ Z.T / Z.shape[1]).flip(0)
            gaps.append((lam[rank] / lam[rank - 1]).item())
            W = torch.randn(Z.shape[0], Z.shape[0], generator=gen, dtype=torch.float64)
            exact = projection_loss_grad(Z, 10, W, rank, torch_eigh_desc)
            if not torch.isfinite(exact).all():
                bad += 1
                continue
            for degree in rows:
                g = projection_loss_grad(Z, 10, W, rank, lambda C, k=degree: robust_eigh(C, taylor_degree=k))
                cos = torch.nn.functional.cosine_similarity(g.flatten(), exact.flatten(), dim=0).item()
                rows[degree].append((cos, (g.norm() / exact.norm()).item()))
        print(f"  {name}")
        print(f"    lambda_(r+1)/lambda_r: mean {sum(gaps) / len(gaps):.3f} [{min(gaps):.3f}, {max(gaps):.3f}]"
              + (f"; exact gradient non-finite in {bad} draws (left out)" if bad else ""))  # fmt: skip
        for degree, vals in rows.items():
            if not vals:
                continue
            cos = [c for c, _ in vals]
            ratio = [r for _, r in vals]
            print(f"    Taylor degree {degree:>2}: cosine {sum(cos) / len(cos):.4f} [{min(cos):.4f}], "
                  f"norm ratio {sum(ratio) / len(ratio):.3f} [{min(ratio):.3f}, {max(ratio):.3f}]")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--checkpoint", help="last.pt of a `signprep train dsft` run: its encoder's features")
    parser.add_argument("--shards", help="the shards that run trained on (with --checkpoint)")
    parser.add_argument("--draws", type=int, default=20, help="random draws per gradient-quality case")
    parser.add_argument("--skip-timing", action="store_true", help="print only the stability and gradient quality")
    args = parser.parse_args()
    if (args.checkpoint is None) != (args.shards is None):
        parser.error("--checkpoint and --shards go together")
    if args.threads:
        # on a loaded machine, fewer OpenMP threads than cores avoids spin-wait noise
        torch.set_num_threads(args.threads)
    if not args.skip_timing:
        timing(args.repeats, args.device)
    stability()
    gradient_quality(args.checkpoint, args.shards, args.draws)


if __name__ == "__main__":
    main()
