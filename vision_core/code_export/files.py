"""The exported cells as files: a Jupyter notebook (nbformat), a plain script in the ``# %%`` cell format that
editors run cell by cell, and a zip of both with the run's checkpoint for the Runs page's download.

Example: ``write_files(runs.load_run(run_id), notebook="lenet.ipynb", script="lenet.py")``.
"""

from __future__ import annotations

import io
import shutil
import textwrap
import zipfile
from pathlib import Path

from vision_core.code_export.cells import export_cells
from vision_core.code_export.ready import ExportError, checkpoint_kind, checkpoint_name
from vision_core.code_export.text import Cell
from vision_core.runs.store import RunRecord


def notebook_text(cells: list[Cell]) -> str:
    """The cells as an ``.ipynb`` document (nbformat 4, the python3 kernel), not yet executed."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.cells = [nbformat.v4.new_markdown_cell(c.source) if c.kind == "markdown" else
                      nbformat.v4.new_code_cell(c.source) for c in cells]
    nbformat.validate(notebook)
    return nbformat.writes(notebook)


def _comment(markdown: str) -> str:
    """Markdown as ``#`` comment lines, paragraphs wrapped to 110 characters (tables and lists kept as they are)."""
    lines = []
    for line in markdown.splitlines():
        if line.startswith(("|", "#", "- ")) or len(line) <= 110:
            lines.append(f"# {line}".rstrip())
        else:
            lines += [f"# {part}" for part in textwrap.wrap(line, 110)]
    return "\n".join(lines)


def script_text(cells: list[Cell]) -> str:
    """The cells as one Python script: ``# %% [markdown]`` comment cells and ``# %%`` code cells, in order."""
    parts = [f"# %% [markdown]\n{_comment(c.source)}" if c.kind == "markdown" else f"# %%\n{c.source}"
             for c in cells]
    return "\n\n\n".join(parts) + "\n"


def file_stem(run: RunRecord) -> str:
    """The exported files' name: the run id (already letters, digits, - and _ only)."""
    return run.run_id


def write_files(run: RunRecord, *, notebook: str | Path | None = None, script: str | Path | None = None,
                checkpoint: bool = True) -> list[Path]:
    """Write the notebook and/or the script, and (``checkpoint``) the run's tested checkpoint next to them.

    Returns the paths written. Raises ExportError when the run cannot be exported or has no checkpoint.
    """
    if notebook is None and script is None:
        raise ExportError("Say what to write: a notebook (.ipynb), a script (.py), or both.")
    cells = export_cells(run)
    written = []
    for path, text in ((notebook, notebook_text), (script, script_text)):
        if path is not None:
            path = Path(path)
            path.write_text(text(cells), encoding="utf-8")
            written.append(path)
    if checkpoint:
        source = run.checkpoint(checkpoint_kind(run))
        if source is None:
            raise ExportError(f"Run {run.run_id} has no checkpoint to copy; the code was written without it.")
        target = written[0].parent / checkpoint_name(run)
        shutil.copyfile(source, target)
        written.append(target)
    return written


def zip_bytes(run: RunRecord, *, with_checkpoint: bool) -> bytes:
    """``<run id>/<run id>.ipynb``, ``.py`` and (``with_checkpoint``) ``.ckpt`` as a zip, for a download button."""
    cells = export_cells(run)
    stem = file_stem(run)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}/{stem}.ipynb", notebook_text(cells))
        archive.writestr(f"{stem}/{stem}.py", script_text(cells))
        source = run.checkpoint(checkpoint_kind(run)) if with_checkpoint else None
        if source is not None:
            archive.write(source, f"{stem}/{checkpoint_name(run)}")
    return buffer.getvalue()
