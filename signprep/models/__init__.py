"""Networks and their maths, independent of the shards and the training loop.

- robust_eigh: eigendecomposition with a Taylor-approximated backward (DSFT's subspaces)
- dsft: subspace extraction and the domain-sum feature transformation
- encoders: keypoint transformer and heatmap 3D CNN (DSFT's visual encoders); text: gloss embeddings
- disentangle, disentangle_losses: appearance/sign frame encoder, decoder, temporal model, GaitNet losses
- handpose: the hand-pose heatmap network; siamese: dual-path embedding head and pair loss;
  prototypes: the low-shot prototype classifier
"""

from signprep.models.disentangle import FrameDecoder, FrameEncoder, GradientReversal, TemporalModel
from signprep.models.dsft import (
    DomainSumTransform,
    Subspace,
    SubspaceExtractor,
    domain_sum,
    geodesic_flow,
    geodesic_flow_H,
    projection,
)
from signprep.models.encoders import Heatmap3DCNN, KeypointTransformerEncoder
from signprep.models.handpose import HandPoseNet
from signprep.models.prototypes import PrototypeClassifier
from signprep.models.robust_eigh import RobustEigh, robust_eigh, taylor_kernel
from signprep.models.siamese import DualPathLayer, EmbeddingHead, siamese_pair_loss

__all__ = [
    "DomainSumTransform",
    "DualPathLayer",
    "EmbeddingHead",
    "FrameDecoder",
    "FrameEncoder",
    "GradientReversal",
    "HandPoseNet",
    "Heatmap3DCNN",
    "KeypointTransformerEncoder",
    "PrototypeClassifier",
    "RobustEigh",
    "Subspace",
    "SubspaceExtractor",
    "TemporalModel",
    "domain_sum",
    "geodesic_flow",
    "geodesic_flow_H",
    "projection",
    "robust_eigh",
    "siamese_pair_loss",
    "taylor_kernel",
]
