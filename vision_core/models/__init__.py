"""Models: the zoo (``zoo.build``, ``list_models``, layer summaries, shape checks).

Imports nothing of the project but ``vision_core.config``.
"""
