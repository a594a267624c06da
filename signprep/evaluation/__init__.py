"""Evaluation of trained models, beside the chance level or baseline it must beat.

- metrics: top-k per instance and per class (WLASL conventions), confusion matrix, retrieval top-k
- classification: gloss classification and video -> text retrieval over a dataset (DSFT)
- keypoint_error: hand keypoint error and the mean-pose baseline (hand pose)
- lowshot: prototype classification of held-out signers' crops, seen and unseen classes (siamese)
- video_codes, probes, disentanglement: codes of whole videos, linear probes of signer and gloss,
  and the disentanglement report with its reconstruction grid (disentangle)

Import from the modules (`from signprep.evaluation.metrics import topk_accuracy`).
"""
