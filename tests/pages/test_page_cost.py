"""What a page view costs the server, kept small (issue 18.1): no Lightning import for a page view, the heavy
imports warmed in the background once per server."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from tests.pages.apptest import open_page
from ui import warm

ROOT = Path(__file__).resolve().parents[2]

# Imports every module ``page`` imports at its top level, as its first view does, then says what got loaded.
_TOP_LEVEL_IMPORTS = """
import ast, importlib, sys
for node in ast.parse(open(sys.argv[1]).read()).body:
    if isinstance(node, ast.Import):
        for alias in node.names:
            importlib.import_module(alias.name)
    elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
        importlib.import_module(node.module)
        for alias in node.names:
            try:
                importlib.import_module(f"{node.module}.{alias.name}")
            except ModuleNotFoundError:
                pass  # a name, not a module
print(" ".join(sorted(m for m in ("torch", "lightning") if m in sys.modules)))
"""


def test_a_train_page_view_imports_no_lightning():
    # Lightning (and torchmetrics, torchvision with it) cost seconds of the server's CPU in the first Train view;
    # only submitting a run needs the engine.
    done = subprocess.run([sys.executable, "-c", _TOP_LEVEL_IMPORTS, "pages/train.py"], cwd=ROOT, text=True,
                          capture_output=True, check=True, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert done.stdout.split() == ["torch"], done.stdout + done.stderr


def test_warming_starts_one_thread_per_process_and_imports_its_modules(monkeypatch):
    monkeypatch.setattr(warm, "_thread", None)
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    thread = warm.start(("colorsys",))
    assert warm.start(("colorsys",)) is thread  # every rerun calls it: one thread, not one per rerun
    thread.join(timeout=60)
    assert "colorsys" in sys.modules
    assert thread.name == "warm-imports" and thread.daemon  # never keeps a stopping server alive
    # What it loaded is frozen out of the collector's full collections (they walked all of torch's objects).
    assert gc.get_freeze_count() > 0
    gc.unfreeze()


def test_a_module_that_fails_to_import_does_not_stop_the_others(monkeypatch):
    monkeypatch.setattr(warm, "_thread", None)
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    warm.start(("vision_core.no_such_module", "colorsys")).join(timeout=60)
    assert "colorsys" in sys.modules


def test_the_app_starts_warming_once_a_page_is_drawn(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    started = []
    monkeypatch.setattr(warm, "start", lambda *args: started.append(args))
    at = open_page("pages/home.py")
    assert not at.exception, at.exception
    assert started == [()]
