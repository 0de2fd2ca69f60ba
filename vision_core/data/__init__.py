"""Data: the dataset registry, the generated `shapes` set, uploads of image folders, augmentation, batch loading.

What comes in as images ends here as uint8 tensors. Imports only ``vision_core.config`` and ``vision_core.limits``.
"""
