"""Lessons: the maths each lesson page steps through, as pure functions checked against PyTorch.

Convolution, pooling, kernels, losses, the shape explorer, the 2-D playground and the overfitting lab's variants.
Imports data, models and training's guards; never the classroom.
"""
