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

Evaluation (inductive): top-1 accuracy on held-out labelled sets of every domain. With
DSFT, H at evaluation is the state fixed at the end of training: every domain's subspace
from its memory bank alone (`DomainSumTransform.inductive_matrix`), applied to the
evaluated features: logits = head(enc(x) @ H). No evaluated sample enters H.

Selection: the rank is chosen on a validation set (fresh labelled samples of every domain,
disjoint from the test set), by the mean target-domain top-1 over seeds; the test figures
are printed for the baseline and the chosen rank only.

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
    n_val: int = 1000  # labelled validation samples per domain (the rank is chosen on them)
    n_test: int = 1000  # labelled test samples per domain
    batch_size: int = 64
    epochs: int = 12
    lr: float = 1e-3
    weight_decay: float = 1e-4
    bank_size: int = 256
    ranks: tuple[int, ...] = (2, 4, 8, 16)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)


@dataclass
class Domain:
    name: str
    x_train: torch.Tensor  # labelled (source) / unlabelled (targets)
    y_train: torch.Tensor  # only used for the source
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@dataclass
class RunResult:
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch
    acc: dict[str, float] = field(default_factory=dict)  # domain name -> test top-1 accuracy
    val_acc: dict[str, float] = field(default_factory=dict)  # domain name -> validation top-1 accuracy


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
        x_va, y_va = sample(A, cfg.n_val)
        x_te, y_te = sample(A, cfg.n_test)
        domains.append(Domain(name, x_tr, y_tr, x_va, y_va, x_te, y_te))
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
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for x of any domain; H from the trained banks alone (inductive, banks untouched)."""
        f = self.encoder(x)
        if self.dsft.enabled:
            H = self.dsft.inductive_matrix([None] * self.dsft.num_targets)
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
    for d in domains:
        res.val_acc[d.name] = topk_accuracy(model.predict(d.x_val), d.y_val, ks=(1,))[1]
        res.acc[d.name] = topk_accuracy(model.predict(d.x_test), d.y_test, ks=(1,))[1]
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
            accs = " ".join(f"{k}={v:.3f}" for k, v in res.val_acc.items())
            secs = time.perf_counter() - t0
            log(f"seed {seed} {name:<11} final loss {res.losses[-1]:.4f}  val {accs}  ({secs:.1f}s)")
    return results


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def choose_rank(results: dict[str, dict[int, RunResult]]) -> str:
    """The DSFT variant with the best mean target-domain VALIDATION top-1 over seeds (ties: the lower rank)."""
    dsft = [name for name in results if name != "no-dsft"]
    return max(dsft, key=lambda name: (statistics.fmean(_target_mean(r, "val_acc") for r in results[name].values()),
                                       -dsft.index(name)))  # fmt: skip


def _target_mean(res: RunResult, which: str = "acc") -> float:
    accs = getattr(res, which)
    return statistics.fmean(v for k, v in accs.items() if k != "source")


def summarize(cfg: Config, results: dict[str, dict[int, RunResult]]) -> str:
    domain_names = list(next(iter(next(iter(results.values())).values())).acc)
    chosen = choose_rank(results)
    lines = ["validation top-1 (mean over seeds; the rank is chosen on the target mean):"]
    for name, per_seed in results.items():
        vals = "  ".join(f"{n}={statistics.fmean(r.val_acc[n] for r in per_seed.values()):.3f}" for n in domain_names)
        mark = "  <- chosen" if name == chosen else ""
        val_mean = statistics.fmean(_target_mean(r, "val_acc") for r in per_seed.values())
        lines.append(f"  {name:<11} {vals}  target mean={val_mean:.3f}{mark}")
    lines += ["", f"chose {chosen} on val ({cfg.n_val} samples per domain), test on test ({cfg.n_test} per domain)", ""]
    head = f"{'test top-1':<12}" + "".join(f"{n:>22}" for n in domain_names) + f"{'target mean':>22}{'final loss':>14}"
    lines += [head, "-" * len(head)]
    for name in ("no-dsft", chosen):
        per_seed = results[name]
        row = f"{name:<12}"
        for dn in domain_names:
            m, s = _mean_std([r.acc[dn] for r in per_seed.values()])
            row += f"{m:>14.3f} ± {s:.3f}"
        m, s = _mean_std([_target_mean(r) for r in per_seed.values()])
        row += f"{m:>14.3f} ± {s:.3f}"
        lm, _ = _mean_std([r.losses[-1] for r in per_seed.values()])
        row += f"{lm:>14.4f}"
        lines.append(row)

    # verdict on the mean target accuracy, paired by seed (same data, init and batch order)
    base, per_seed = results["no-dsft"], results[chosen]
    diffs = [_target_mean(per_seed[s]) - _target_mean(base[s]) for s in per_seed]
    m, s = _mean_std(diffs)
    wins = sum(d > 0 for d in diffs)
    if m > 0 and m > s:
        verdict = "DSFT wins"
    elif m < 0 and -m > s:
        verdict = "DSFT loses"
    else:
        verdict = "no difference beyond the seed spread"
    per_domain = "  ".join(
        f"{dn} {statistics.fmean(per_seed[k].acc[dn] - base[k].acc[dn] for k in per_seed):+.3f}" for dn in domain_names
    )
    lines += [
        "",
        f"paired difference ({chosen} minus no-DSFT, test): target mean {m:+.3f} ± {s:.3f} "
        f"(DSFT better on {wins}/{len(diffs)} seeds); per domain {per_domain}",
        f"VERDICT (target-domain test top-1, {len(cfg.seeds)} seeds, chance {1.0 / cfg.num_classes:.2f}, "
        f"rank chosen on val): {verdict}.",
    ]
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
