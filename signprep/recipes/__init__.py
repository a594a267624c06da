"""Model trainers built on `signprep.training`: one module per `signprep train <model>` command.

dsft, disentangle (+ disentangle_report), handpose, siamese (+ hand_crops, their shared crop
loading). Import the one you need, e.g. `from signprep.recipes.dsft import train_dsft`: importing
this package loads no trainer.
"""
