"""Import what the heavy pages need in a background thread, once per server, after its first page is drawn.

The first Train page view of a fresh server cost 7-11 s of CPU, nearly all of it ``import torch`` (and, before
pages/train.py and ui/live_panel.py stopped importing it, Lightning) inside that student's script run, under the
lock every other student's script runs wait for. Imported here in the background, the first student to open Train,
Convolution or Inside finds them loaded; Lightning last, for the first Start (``jobs.submit`` imports the engine).
A page that imports torch itself while this thread does can be handed a half-imported module (torch._dynamo's
circular imports meet Python's deadlock detection between the two threads: "partially initialized module"), so
app.py has every page but Home (which imports no torch, tests/core/test_lazy_imports.py) ``wait()`` first.
``VISION_CORE_WARM_IMPORTS=0`` turns it off (a server short of memory; tests of what a page itself imports).
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import threading

# In the order the pages need them: torch (Train, Convolution, Inside, Predict), the Train form's own modules,
# then the training engine (Lightning), which only Start needs.
MODULES = ("torch", "ui.train_form", "ui.live_panel", "vision_core.analysis.inspection",
           "vision_core.training.engine")

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # a page that needs it will import it again and show the error itself
            logging.getLogger(__name__).warning("warming %s failed", name, exc_info=True)
    # What is loaded now (torch, Lightning: ~530,000 objects) lives as long as the server: moved out of the
    # collector's sight, Python's full collections, which walked every one of them every few dozen page views
    # (260 ms of the one server's CPU each, landing in some student's page view: benchmarks/gc_pause.py), look
    # at the rest alone.
    gc.collect()  # nothing garbage is frozen with them
    gc.freeze()


def started() -> bool:
    """Whether a page has started the warm-up (the end of the server's first page view does)."""
    return _thread is not None


def wait() -> None:
    """Return once the warm-up has finished (at once when it has, was never started, or this is its own thread)."""
    thread = _thread
    if thread is not None and thread is not threading.current_thread():
        thread.join()


def start(modules: tuple[str, ...] = MODULES) -> threading.Thread | None:
    """Start the warm-up once per process (later calls return the same thread): cheap enough for every rerun."""
    global _thread
    if os.environ.get("VISION_CORE_WARM_IMPORTS") == "0":
        return None
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_import_all, args=(modules,), name="warm-imports", daemon=True)
            _thread.start()
        return _thread
