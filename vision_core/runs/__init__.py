"""Runs: the run folders on disk (``store``) and the live files that workers, pages and the CLI share.

``live_files`` is torch-free: every page's sidebar reads it. Imports models (to load a checkpoint) and config.
"""
