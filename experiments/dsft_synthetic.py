"""Controlled synthetic experiment: does the domain-sum feature transformation (DSFT) help?

Problem (known structure). C classes have prototypes mu_c in a k-dim latent space;
a sample is z = mu_c + latent_noise * n. Every domain sees z through its own fixed
linear map into R^D plus isotropic noise:

    source:     x = A_S z + input_noise * e,      A_S (D, k) orthonormal columns
    target j:   x = A_j z + input_noise * e,      A_j = A_S cos(theta_j) + A_perp_j sin(theta_j)

A_perp_j (D, k) is orthonormal and orthogonal to span(A_S), so every principal
angle between the source and target-j input subspaces is theta_j: the targets
are "the same classes seen through a rotated lens" (0 deg = no shift, 90 deg =
no shared directions at all).

Model (identical for both variants): MLP encoder R^D -> R^d, then
``DomainSumTransform(d, rank, bank_size, num_targets)``, then a linear head.
Training uses labelled source batches and, per target domain, an unlabelled
batch of the same size (the encoder features of the target batches feed the
target subspaces and banks; target labels are never used). The baseline is the
same model and data with ``enabled=False`` (x @ H replaced by x; the target
batches are still drawn, encoded and ignored). Same seed => same data, same
initial weights, same batch order for both variants.

Evaluation: top-1 accuracy on held-out labelled sets of every domain. With DSFT,
H at test time is computed in eval mode (banks untouched) from the encoder
features of a fixed pool of source training samples and of each target's
unlabelled pool, together with the memory banks, and applied to the test
features: logits = head(enc(x_test) @ H).

Run:  .venv/bin/python experiments/dsft_synthetic.py [--seeds 0 1 2 3 4] [--epochs 12] [--rank 2 4 8 16]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signprep.evaluation.metrics import topk_accuracy  # noqa: E402
from signprep.models.dsft import DomainSumTransform  # noqa: E402
from signprep.training.seeding import seed_everything  # noqa: E402


@dataclass(frozen=True)
class Config:
    num_classes: int = 10
    latent_dim: int = 6  # k
    input_dim: int = 32  # D
    feature_dim: int = 32  # d, encoder output = DSFT dim
    hidden_dim: int = 64
    target_angles_deg: tuple[float, ...] = (30.0, 60.0)  # one target domain per angle
    prototype_scale: float = 1.0  # mu_c ~ N(0, scale^2 I_k)
    latent_noise: float = 0.5
    input_noise: float = 0.3
    n_train: int = 2000  # labelled source samples / unlabelled samples per target
    n_test: int = 1000  # labelled test samples per domain
    batch_size: int = 64
    epochs: int = 12
    lr: float = 1e-3
    weight_decay: float = 1e-4
    bank_size: int = 256
    ranks: tuple[int, ...] = (2, 4, 8, 16)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    eval_pool: int = 512  # samples per domain used to compute H at test time


@dataclass
class Domain:
    name: str
    x_train: torch.Tensor  # labelled (source) / unlabelled (targets)
    y_train: torch.Tensor  # only used for the source
    x_test: torch.Tensor
    y_test: torch.Tensor


@dataclass
class RunResult:
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch
    acc: dict[str, float] = field(default_factory=dict)  # domain name -> top-1 accuracy


# --------------------------------------------------------------------------- data


def make_domains(cfg: Config, seed: int) -> list[Domain]:
    """Source first, then one target per angle; deterministic in ``seed``."""
    g = torch.Generator().manual_seed(10_000 + seed)
    k, D = cfg.latent_dim, cfg.input_dim
    if k * (1 + len(cfg.target_angles_deg)) > D:
        raise ValueError("input_dim too small for orthogonal source and target directions")
    mu = cfg.prototype_scale * torch.randn(cfg.num_classes, k, generator=g)
    # one random orthonormal frame: source directions, then fresh directions per target
    Q, _ = torch.linalg.qr(torch.randn(D, D, generator=g))
    A_S = Q[:, :k]
    maps = [("source", A_S)]
    for j, deg in enumerate(cfg.target_angles_deg):
        A_perp = Q[:, k * (j + 1) : k * (j + 2)]
        th = math.radians(deg)
        maps.append((f"target{j + 1}({deg:g}deg)", math.cos(th) * A_S + math.sin(th) * A_perp))

    def sample(A: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(cfg.num_classes, (n,), generator=g)
        z = mu[y] + cfg.latent_noise * torch.randn(n, k, generator=g)
        x = z @ A.T + cfg.input_noise * torch.randn(n, D, generator=g)
        return x, y

    domains = []
    for name, A in maps:
        x_tr, y_tr = sample(A, cfg.n_train)
        x_te, y_te = sample(A, cfg.n_test)
        domains.append(Domain(name, x_tr, y_tr, x_te, y_te))
    return domains


# --------------------------------------------------------------------------- model


class Classifier(nn.Module):
    def __init__(self, cfg: Config, rank: int, enabled: bool) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(cfg.input_dim, cfg.hidden_dim),
            nn.ReLU(),
            nn.Linear(cfg.hidden_dim, cfg.feature_dim),
        )
        self.head = nn.Linear(cfg.feature_dim, cfg.num_classes)
        # built after the parameterised layers: DSFT has buffers only, so both variants get the same init
        self.dsft = DomainSumTransform(
            cfg.feature_dim, rank, cfg.bank_size, num_targets=len(cfg.target_angles_deg), enabled=enabled
        )

    def forward(self, x_source: torch.Tensor, x_targets: list[torch.Tensor]) -> torch.Tensor:
        f_s = self.encoder(x_source)
        f_t = [self.encoder(x) for x in x_targets]
        return self.head(self.dsft(f_s, f_t))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, pools: list[torch.Tensor]) -> torch.Tensor:
        """Logits for x of any domain; H from eval pools (source first) plus the banks, banks untouched."""
        f = self.encoder(x)
        if self.dsft.enabled:
            H = self.dsft.domain_sum_matrix([self.encoder(p) for p in pools])
            f = f @ H.to(f.dtype)
        return self.head(f)


# --------------------------------------------------------------------------- train / eval


def run_one(cfg: Config, domains: list[Domain], seed: int, rank: int, enabled: bool) -> RunResult:
    seed_everything(seed)
    model = Classifier(cfg, rank, enabled)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(20_000 + seed)  # batch order, shared by both variants
    src, tgts = domains[0], domains[1:]
    n, B = cfg.n_train, cfg.batch_size
    res = RunResult()
    model.train()
    for _ in range(cfg.epochs):
        perm_s = torch.randperm(n, generator=g)
        perm_t = [torch.randperm(n, generator=g) for _ in tgts]
        total, count = 0.0, 0
        for i in range(0, n - B + 1, B):  # drop the last partial batch
            idx = perm_s[i : i + B]
            logits = model(src.x_train[idx], [t.x_train[p[i : i + B]] for t, p in zip(tgts, perm_t)])
            loss = loss_fn(logits, src.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            count += 1
        res.losses.append(total / count)
    model.eval()
    pools = [d.x_train[: cfg.eval_pool] for d in domains]
    for d in domains:
        res.acc[d.name] = topk_accuracy(model.predict(d.x_test, pools), d.y_test, ks=(1,))[1]
    return res


def run_experiment(cfg: Config, log=print) -> dict[str, dict[int, RunResult]]:
    """{variant: {seed: RunResult}}; variants 'no-dsft' and 'dsft r=<rank>'."""
    results: dict[str, dict[int, RunResult]] = {}
    variants = [("no-dsft", cfg.ranks[0], False)] + [(f"dsft r={r}", r, True) for r in cfg.ranks]
    for seed in cfg.seeds:
        domains = make_domains(cfg, seed)
        for name, rank, enabled in variants:
            t0 = time.perf_counter()
            res = run_one(cfg, domains, seed, rank, enabled)
            results.setdefault(name, {})[seed] = res
            accs = " ".join(f"{k}={v:.3f}" for k, v in res.acc.items())
            log(f"seed {seed} {name:<11} final loss {res.losses[-1]:.4f}  {accs}  ({time.perf_counter() - t0:.1f}s)")
    return results


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def summarize(cfg: Config, results: dict[str, dict[int, RunResult]]) -> str:
    domain_names = list(next(iter(next(iter(results.values())).values())).acc)
    target_names = domain_names[1:]
    lines = []
    head = f"{'variant':<12}" + "".join(f"{n:>22}" for n in domain_names) + f"{'target mean':>22}{'final loss':>14}"
    lines += [head, "-" * len(head)]

    def tgt_mean(res: RunResult) -> float:
        return statistics.fmean(res.acc[n] for n in target_names)

    for name, per_seed in results.items():
        row = f"{name:<12}"
        for dn in domain_names:
            m, s = _mean_std([r.acc[dn] for r in per_seed.values()])
            row += f"{m:>14.3f} ± {s:.3f}"
        m, s = _mean_std([tgt_mean(r) for r in per_seed.values()])
        row += f"{m:>14.3f} ± {s:.3f}"
        lm, _ = _mean_std([r.losses[-1] for r in per_seed.values()])
        row += f"{lm:>14.4f}"
        lines.append(row)

    # verdict on the mean target accuracy, paired by seed (same data, init and batch order)
    base = results["no-dsft"]
    lines.append("")
    lines.append("paired difference, DSFT minus no-DSFT, mean target accuracy (per seed; mean ± std):")
    best_name, best_diff = None, None
    verdicts = []
    for name, per_seed in results.items():
        if name == "no-dsft":
            continue
        diffs = [tgt_mean(per_seed[s]) - tgt_mean(base[s]) for s in per_seed]
        m, s = _mean_std(diffs)
        wins = sum(d > 0 for d in diffs)
        if m > 0 and m > s:
            v = "wins"
        elif m < 0 and -m > s:
            v = "loses"
        else:
            v = "no difference beyond the seed spread"
        verdicts.append(v)
        lines.append(f"  {name:<11} {m:+.3f} ± {s:.3f}  (DSFT better on {wins}/{len(diffs)} seeds)  -> {v}")
        if best_diff is None or m > best_diff:
            best_name, best_diff = name, m
    chance = 1.0 / cfg.num_classes
    lines.append("")
    if len(set(verdicts)) == 1:
        overall = {"wins": "DSFT wins", "loses": "DSFT loses"}.get(verdicts[0], "no difference beyond the seed spread")
    else:
        overall = "mixed: " + ", ".join(f"{n.split()[1]} {v}" for n, v in zip(list(results)[1:], verdicts))
    lines.append(
        f"VERDICT (target-domain top-1, {len(cfg.seeds)} seeds, chance {chance:.2f}): {overall}; "
        f"best rank {best_name} at {best_diff:+.3f} vs no-DSFT."
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = Config()
    p.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds))
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--rank", type=int, nargs="+", default=list(d.ranks), help="DSFT ranks to try")
    p.add_argument(
        "--angles",
        type=float,
        nargs="+",
        default=list(d.target_angles_deg),
        help="principal angle (degrees) of each target domain's map to the source map",
    )
    p.add_argument("--bank-size", type=int, default=d.bank_size)
    p.add_argument("--n-train", type=int, default=d.n_train)
    a = p.parse_args(argv)
    return replace(
        d,
        seeds=tuple(a.seeds),
        epochs=a.epochs,
        ranks=tuple(a.rank),
        target_angles_deg=tuple(a.angles),
        bank_size=a.bank_size,
        n_train=a.n_train,
    )


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    cfg = parse_args(argv)
    print(f"config: {cfg}")
    t0 = time.perf_counter()
    results = run_experiment(cfg)
    print()
    print(summarize(cfg, results))
    print(f"\ntotal time {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
