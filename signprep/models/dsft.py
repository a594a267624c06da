"""Domain-sum feature transformation (DSFT).

Per domain, a rank-r subspace of the feature space is extracted from the batch
plus a FIFO memory bank (Algorithm 1 of the slides); the domain-sum matrix is
the sum of the domains' projections,

    H = sum_domains B B^T,    B (d, r) orthonormal basis,

which equals the geodesic-flow-kernel "two ends" approximation
H = Phi(0) Phi(0)^T + Phi(1) Phi(1)^T for two domains (docs/methods.md,
"Domain-sum feature transformation"). Features are transformed as
x_hat = H x, written ``x @ H`` for row-vector batches (H is symmetric).

Functional ops (:func:`projection`, :func:`domain_sum`, :func:`geodesic_flow`,
:func:`geodesic_flow_H`) are plain functions on tensors; the modules
(:class:`SubspaceExtractor`, :class:`DomainSumTransform`) wrap them with the
memory banks. :class:`DSFTModel` is the whole classifier of `signprep train dsft`:
a visual encoder, the projected gloss text, the transformation and a linear layer.
Evaluation is inductive: in eval mode H comes from the memory banks filled in
training (and a target fixed in advance), never from the evaluated batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from signprep.models.robust_eigh import robust_eigh

# --------------------------------------------------------------------------- functional


def projection(basis: torch.Tensor) -> torch.Tensor:
    """Orthogonal projection onto span(basis).

    Args:
        basis: (..., d, r) with orthonormal columns.

    Returns:
        (..., d, d) B B^T: idempotent, and exactly symmetric.
    """
    P = basis @ basis.transpose(-1, -2)
    # matmul rounding leaves P - P^T ~ 1e-17; x @ H relies on H = H^T, so make it exact
    return 0.5 * (P + P.transpose(-1, -2))


def domain_sum(bases: Sequence[torch.Tensor]) -> torch.Tensor:
    """H = sum of the projections onto each domain's subspace.

    Args:
        bases: one (d, r_k) orthonormal basis per domain (source first, then targets).

    Returns:
        (d, d) symmetric H with rank <= sum r_k and eigenvalues in [0, len(bases)].
    """
    if len(bases) == 0:
        raise ValueError("domain_sum needs at least one basis")
    return sum(projection(b) for b in bases)


def geodesic_flow(source_basis: torch.Tensor, target_basis: torch.Tensor, t: float) -> torch.Tensor:
    """Phi(t) of the geodesic flow from span(source) to span(target), computed the long way.

    Phi(t) = P_S U1 Gamma(t) - R_S U2 Sigma(t), with P_S^T P_T = U1 Gamma V^T
    (Gamma = cos theta), R_S^T P_T = -U2 Sigma V^T (Sigma = sin theta), R_S the
    orthogonal complement of P_S, Gamma(t) = cos(t theta), Sigma(t) = sin(t theta).
    Reference implementation for tests: float64, no batching, no autograd care.

    Args:
        source_basis: P_S, (d, r) orthonormal.
        target_basis: P_T, (d, r) orthonormal.
        t: position on the flow, 0 = source, 1 = target.

    Returns:
        (d, r) orthonormal basis Phi(t).
    """
    P_S = source_basis.to(torch.float64)
    P_T = target_basis.to(torch.float64)
    d, r = P_S.shape
    # complete P_S to an orthonormal basis of R^d; the last d - r columns span R_S
    Q, _ = torch.linalg.qr(torch.cat([P_S, torch.eye(d, dtype=torch.float64)], dim=1), mode="complete")
    R_S = Q[:, r:d]
    U1, cos_theta, Vh = torch.linalg.svd(P_S.T @ P_T)
    V = Vh.T
    theta = torch.arccos(cos_theta.clamp(-1.0, 1.0))
    sin_theta = torch.sin(theta)
    # R_S^T P_T V = -U2 Sigma, so U2 Sigma(t) = -R_S^T P_T V diag(sin(t theta) / sin theta);
    # the ratio tends to t as theta -> 0, where U2's column is arbitrary anyway
    safe = sin_theta > 1e-12
    ratio = torch.where(safe, torch.sin(t * theta) / torch.where(safe, sin_theta, 1.0), torch.full_like(theta, t))
    U2_sigma_t = -(R_S.T @ P_T @ V) * ratio
    return P_S @ U1 * torch.cos(t * theta) - R_S @ U2_sigma_t


def geodesic_flow_H(
    source_basis: torch.Tensor, target_basis: torch.Tensor, ts: Sequence[float] = (0.0, 1.0)
) -> torch.Tensor:
    """H = sum_{t in ts} Phi(t) Phi(t)^T, the long way (reference for :func:`domain_sum`).

    Args:
        source_basis, target_basis: (d, r) orthonormal.
        ts: flow positions; the DSFT uses {0, 1}.

    Returns:
        (d, d) float64.
    """
    return sum(projection(geodesic_flow(source_basis, target_basis, t)) for t in ts)


# --------------------------------------------------------------------------- modules


class Subspace(NamedTuple):
    """Output of :class:`SubspaceExtractor`: basis (d, r) and projection (d, d)."""

    basis: torch.Tensor
    projection: torch.Tensor


class SubspaceExtractor(nn.Module):
    """Algorithm 1: rank-r subspace of the batch features plus a FIFO memory bank.

    The covariance Z Z^T / n of Z = [X^T, M] (d x n, n = B + bank fill; not
    mean-centred, as in the slides' SVD of [X, M]) is eigendecomposed with
    :func:`robust_eigh`; its top-r eigenvectors are the left singular vectors
    U_r of [X, M]. Gradients flow into the batch X only: the bank holds detached
    copies of past batches. In training mode X.detach() is enqueued after the
    basis is computed (oldest entries are overwritten first); eval mode leaves
    the bank untouched. :meth:`from_memory` is the subspace of the bank alone,
    the state fixed at the end of training that inductive evaluation uses.

    Buffers (saved in state_dict): ``bank`` (d, Q), ``bank_fill`` (number of valid
    columns, <= Q), ``bank_ptr`` (next column to write).

    Args:
        dim: d, feature size.
        rank: r <= d. With fewer than r samples seen, the extra basis vectors
            span an arbitrary part of the null space (gradients stay finite).
        bank_size: Q >= 0 samples remembered.
        taylor_degree: degree of the Taylor K in the backward.
    """

    def __init__(self, dim: int, rank: int, bank_size: int, taylor_degree: int = 9) -> None:
        super().__init__()
        if not 1 <= rank <= dim:
            raise ValueError(f"rank must be in [1, dim={dim}], got {rank}")
        if bank_size < 0:
            raise ValueError(f"bank_size must be >= 0, got {bank_size}")
        self.dim, self.rank, self.bank_size, self.taylor_degree = dim, rank, bank_size, taylor_degree
        self.register_buffer("bank", torch.zeros(dim, bank_size))
        self.register_buffer("bank_fill", torch.zeros((), dtype=torch.long))
        self.register_buffer("bank_ptr", torch.zeros((), dtype=torch.long))

    def memory(self) -> torch.Tensor:
        """The valid bank columns, (d, fill); order is ring-buffer order, not age."""
        return self.bank[:, : int(self.bank_fill)]

    def forward(self, features: torch.Tensor) -> Subspace:
        """Args: features (..., d), flattened to (B, d). Returns Subspace(basis (d, r), projection (d, d))."""
        X = features.reshape(-1, self.dim)
        subspace = self._subspace(torch.cat([X.T, self.memory().to(X.dtype)], dim=1))  # Z (d, B + fill)
        if self.training:
            self._enqueue(X.detach())
        return subspace

    def from_memory(self) -> Subspace:
        """The subspace of the bank alone, (d, r) and (d, d): no batch enters it, so what it transforms
        does not depend on which samples share a batch. ValueError when the bank is empty."""
        if int(self.bank_fill) == 0:
            raise ValueError(
                "the memory bank is empty: inductive evaluation uses the bank filled in training "
                "(train first, and give the extractor bank_size >= 1)"
            )
        return self._subspace(self.memory())

    def _subspace(self, Z: torch.Tensor) -> Subspace:
        """Top-r eigenvectors of Z Z^T / n for Z (d, n)."""
        _, U = robust_eigh(Z @ Z.T / Z.shape[1], taylor_degree=self.taylor_degree)
        basis = U[:, : self.rank]
        return Subspace(basis, projection(basis))

    @torch.no_grad()
    def _enqueue(self, X: torch.Tensor) -> None:
        """FIFO ring buffer: write X (B, d) at bank_ptr, overwriting the oldest columns."""
        Q = self.bank_size
        if Q == 0:
            return
        X = X[-Q:]  # a batch larger than the bank keeps only its newest samples
        n = X.shape[0]
        cols = (int(self.bank_ptr) + torch.arange(n, device=self.bank.device)) % Q
        self.bank[:, cols] = X.T.to(self.bank.dtype)
        self.bank_ptr.fill_((int(self.bank_ptr) + n) % Q)
        self.bank_fill.fill_(min(int(self.bank_fill) + n, Q))


class DomainSumTransform(nn.Module):
    """x_hat = H x with H = sum of the source and target subspace projections.

    One :class:`SubspaceExtractor` (and memory bank) per domain: index 0 is the
    source, 1..num_targets the targets.

    - Training mode: H comes from the source features (``x`` itself unless ``source``
      is given) and the target features, each with its bank, and the banks are updated.
    - Eval mode (inductive): the source subspace comes from the source bank alone, the
      state fixed in training, so a sample's x_hat never depends on its batch-mates;
      a target subspace comes from the target features given (with its bank, not
      updated), or from its bank alone when the target is None. Pass targets that do
      not depend on the evaluated samples (a fixed vocabulary, or None).

    After each forward, ``H`` (d, d) and ``bases`` (list of (d, r)) hold detached copies for logging.

    Args:
        dim, rank, bank_size, taylor_degree: as in :class:`SubspaceExtractor`.
        num_targets: number of target domains (>= 1).
        enabled: False makes forward the identity (the ``--no-dsft`` baseline);
            the banks are then not updated.
        target_bank_size: Q of the target banks (None: ``bank_size``); 0 when every
            batch already holds the whole target domain (a vocabulary).
    """

    def __init__(
        self,
        dim: int,
        rank: int,
        bank_size: int,
        num_targets: int = 1,
        taylor_degree: int = 9,
        enabled: bool = True,
        target_bank_size: int | None = None,
    ) -> None:
        super().__init__()
        if num_targets < 1:
            raise ValueError(f"num_targets must be >= 1, got {num_targets}")
        self.dim, self.num_targets, self.enabled = dim, num_targets, enabled
        target_q = bank_size if target_bank_size is None else target_bank_size
        self.extractors = nn.ModuleList(
            SubspaceExtractor(dim, rank, q, taylor_degree) for q in [bank_size] + [target_q] * num_targets
        )
        self.H: torch.Tensor | None = None
        self.bases: list[torch.Tensor] = []

    def domain_sum_matrix(self, domain_features: Sequence[torch.Tensor]) -> torch.Tensor:
        """H (d, d) from one (..., d) feature batch per domain (source first), each with its bank;
        in training mode the banks are updated."""
        if len(domain_features) != len(self.extractors):
            raise ValueError(
                f"expected {len(self.extractors)} feature batches (source + targets), got {len(domain_features)}"
            )
        return self._sum([ext(f) for ext, f in zip(self.extractors, domain_features)])

    def inductive_matrix(self, targets: Sequence[torch.Tensor | None]) -> torch.Tensor:
        """H (d, d) for evaluation: the source subspace of its bank alone, each target's from the features
        given (with its bank) or, for None, its bank alone. Banks are never updated here."""
        if len(targets) != self.num_targets:
            raise ValueError(f"expected {self.num_targets} target batches, got {len(targets)}")
        source, *target_extractors = self.extractors
        with _frozen_banks(self):
            subspaces = [source.from_memory()]
            subspaces += [ext.from_memory() if t is None else ext(t) for ext, t in zip(target_extractors, targets)]
        return self._sum(subspaces)

    def matrix(
        self, x: torch.Tensor, targets: Sequence[torch.Tensor | None], source: torch.Tensor | None = None
    ) -> torch.Tensor:
        """H (d, d): from the batch and the banks in training mode, from the trained state in eval mode."""
        if self.training:
            return self.domain_sum_matrix([x if source is None else source, *targets])
        return self.inductive_matrix(targets)

    def forward(
        self, x: torch.Tensor, targets: Sequence[torch.Tensor | None], source: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Args: x (..., d); targets: num_targets tensors (..., d) (or None in eval mode); source (..., d)
        or None (= x).

        Returns:
            (..., d) x @ H, or x unchanged when disabled.
        """
        if not self.enabled:
            return x
        return x @ self.matrix(x, targets, source).to(x.dtype)

    def _sum(self, subspaces: Sequence[Subspace]) -> torch.Tensor:
        H = sum(s.projection for s in subspaces)
        self.H = H.detach()
        self.bases = [s.basis.detach() for s in subspaces]
        return H


@contextmanager
def _frozen_banks(module: nn.Module) -> Iterator[None]:
    """The module's extractors in eval mode (no enqueue) inside the block, their modes restored after."""
    extractors = [m for m in module.modules() if isinstance(m, SubspaceExtractor)]
    modes = [m.training for m in extractors]
    for m in extractors:
        m.training = False
    try:
        yield
    finally:
        for m, mode in zip(extractors, modes):
            m.training = mode


TargetDomain = Literal["vocabulary", "batch_glosses"]


class DSFTModel(nn.Module):
    """Visual encoder + text projection + DomainSumTransform + linear classifier.

    encoder: (B, T, K, 3) keypoints [+ (B, T, K) presence] -> (B, D) clip features, or with
    `heatmaps` (a module adding `heatmaps` (B, T, K', H, W) to the batch) heatmaps -> (B, D).
    `text_embeddings` (C, E) is a buffer (saved in checkpoints); the text projection
    Linear(E, D) is trained.

    `target` is what the target (text) subspace is built from:
    - "vocabulary" (default): the text features of the whole vocabulary (C, D), in training and
      evaluation alike, with no target bank (every batch holds the whole domain). Nothing in H
      depends on the labels of the samples being classified.
    - "batch_glosses": in training the text features of the batch's own glosses (with a bank),
      in evaluation the vocabulary's. It leaks the labels: x @ H then carries the batch's
      glosses in training but not in evaluation (kept to reproduce the earlier runs).
    In eval mode H is inductive (`DomainSumTransform`): the source subspace comes from the
    source bank filled in training, so a clip's features and logits do not depend on its
    batch-mates. Without `use_dsft` H is the identity (the `--no-dsft` baseline).

    forward(batch) -> dict with `logits` (B, C) of x @ H, `features` (B, D) x @ H, `text` (C, D)
    the vocabulary's text features @ H (the same H; differentiable, for the alignment loss and
    retrieval).
    """

    def __init__(
        self,
        encoder: nn.Module,
        text_embeddings: torch.Tensor,
        feature_dim: int,
        rank: int,
        bank_size: int,
        use_dsft: bool = True,
        heatmaps: nn.Module | None = None,
        target: TargetDomain = "vocabulary",
    ) -> None:
        super().__init__()
        if target not in ("vocabulary", "batch_glosses"):
            raise ValueError(f"target must be 'vocabulary' or 'batch_glosses', got {target!r}")
        self.encoder = encoder
        self.heatmaps = heatmaps
        self.target = target
        self.register_buffer("text_embeddings", text_embeddings.float().clone())
        self.text_proj = nn.Linear(text_embeddings.shape[1], feature_dim)
        target_bank = 0 if target == "vocabulary" else bank_size
        self.dsft = DomainSumTransform(feature_dim, rank, bank_size, enabled=use_dsft, target_bank_size=target_bank)
        self.classifier = nn.Linear(feature_dim, text_embeddings.shape[0])

    def visual(self, batch: Mapping[str, Any]) -> torch.Tensor:
        if self.heatmaps is None:
            return self.encoder(batch["keypoints"], batch.get("keypoint_present"))
        return self.encoder(self.heatmaps(dict(batch))["heatmaps"])

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        x = self.visual(batch)
        text = self.text_proj(self.text_embeddings)  # (C, D)
        if self.dsft.enabled:
            leak = self.training and self.target == "batch_glosses"
            H = self.dsft.matrix(x, [text[batch["label"]] if leak else text]).to(x.dtype)
            x, text = x @ H, text @ H
        return {"logits": self.classifier(x), "features": x, "text": text}
