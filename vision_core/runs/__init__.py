"""Runs: the run folders on disk (``store``) and the live files that workers, pages and the CLI share.

``live_files`` and ``live_summary`` are torch-free: every page's sidebar reads them. Imports models (to load a checkpoint) and config.
"""
