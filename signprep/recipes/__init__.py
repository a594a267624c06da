"""Recipes: one module per `signprep train <model>`, each its config, `train_<model>`,
`load_<model>` and (but handpose) `embed_<model>`, and nothing else.

dsft, handpose, siamese, disentangle. A recipe wires pieces that live in their own packages:
networks and losses (`signprep.models`), datasets, samplers, crop augmentation and vocabularies
(`signprep.data`), the loop, schedules and checkpoints (`signprep.training`: every recipe ends in
`Trainer.run`, and its loader reads the checkpoint with `load_run`), evaluation
(`signprep.evaluation`) and pictures (`signprep.reports.plots`). No recipe imports another.
Import the one you need, e.g. `from signprep.recipes.dsft import train_dsft`: importing this
package loads no recipe.
"""
