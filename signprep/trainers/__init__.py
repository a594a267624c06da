"""Model trainers built on `signprep.train`: one module per `signprep train <model>` command."""

from signprep.trainers.dsft import DSFTConfig, DSFTModel, embed_dsft, language_aware_targets, train_dsft

__all__ = ["DSFTConfig", "DSFTModel", "embed_dsft", "language_aware_targets", "train_dsft"]
