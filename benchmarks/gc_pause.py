"""How long one of Python's full garbage collections holds the dashboard server, before and after ``gc.freeze()``.

Streamlit's own collection after every script run is off (.streamlit/config.toml), but Python's generational
collector still runs a full collection every so often (when enough new objects survived), walking every object
the process tracks: with torch and Lightning imported, ~500,000 of them. ui/warm.py freezes what the warm-up
imported, so a full collection walks only what came after. This script imports what the warm-up imports, then
times ``gc.collect()`` (median of 5) before and after ``gc.freeze()``, in the same process.

Run: ``.venv/bin/python benchmarks/gc_pause.py``. Never run by the tests.
"""

from __future__ import annotations

import gc
import importlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ui.warm import MODULES


def full_collection_ms(repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        gc.collect()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000


def main() -> None:
    for name in MODULES:
        importlib.import_module(name)
    tracked = len(gc.get_objects())
    before = full_collection_ms()
    gc.freeze()
    after = full_collection_ms()
    print(f"objects tracked after the warm-up's imports: {tracked:,}")
    print(f"one full collection: {before:.0f} ms before gc.freeze(), {after:.1f} ms after "
          f"({len(gc.get_objects()):,} objects left to walk): ratio {after / before:.3f}")


if __name__ == "__main__":
    main()
