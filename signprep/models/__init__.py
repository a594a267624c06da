"""Model building blocks: robust eigendecomposition and the domain-sum feature transformation."""

from signprep.models.dsft import (
    DomainSumTransform,
    Subspace,
    SubspaceExtractor,
    domain_sum,
    geodesic_flow,
    geodesic_flow_H,
    projection,
)
from signprep.models.robust_eigh import RobustEigh, robust_eigh, taylor_kernel

__all__ = [
    "DomainSumTransform",
    "RobustEigh",
    "Subspace",
    "SubspaceExtractor",
    "domain_sum",
    "geodesic_flow",
    "geodesic_flow_H",
    "projection",
    "robust_eigh",
    "taylor_kernel",
]
