"""Lessons: the maths each lesson page steps through, as pure functions checked against PyTorch.

Convolution, pooling, kernels, losses, the shape explorer, the 2-D playground, the overfitting lab's variants and
the vanishing-gradients lesson. Imports data, models, training's guards and analysis (histograms); never the
classroom.
"""
