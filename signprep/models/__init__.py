"""Networks and their maths, independent of the shards and the training loop.

- robust_eigh: eigendecomposition with a Taylor-approximated backward (DSFT's subspaces)
- dsft: subspace extraction, the domain-sum feature transformation and the DSFT classifier;
  dsft_losses: cross-entropy with language-aware label smoothing
- encoders: keypoint transformer and heatmap 3D CNN (DSFT's visual encoders); text: gloss embeddings
- disentangle, disentangle_losses: appearance/sign frame encoder, decoder, temporal model, the whole
  network, GaitNet losses
- handpose: the hand-pose heatmap network; siamese: dual-path embedding head, pair loss and the
  model on the frozen hand-pose encoder; prototypes: the low-shot prototype classifier
"""

from signprep.models.disentangle import (
    DisentangleModel,
    DisentangleNetConfig,
    FrameDecoder,
    FrameEncoder,
    GradientReversal,
    TemporalModel,
)
from signprep.models.dsft import (
    DomainSumTransform,
    DSFTModel,
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
from signprep.models.siamese import DualPathLayer, EmbeddingHead, SiameseModel, siamese_pair_loss

__all__ = [
    "DSFTModel",
    "DisentangleModel",
    "DisentangleNetConfig",
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
    "SiameseModel",
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
