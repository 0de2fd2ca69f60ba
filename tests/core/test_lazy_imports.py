"""The Home page's path imports no torch (issue 9.3): a cold server draws its first page without loading it.

Each check runs in a fresh interpreter, since this test process has long imported torch itself.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "lightning", "torchvision", "torchmetrics")


def top_level_imports(path: Path) -> list[str]:
    """The modules a script imports at its top level (what runs before it draws anything)."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]  # `from ui import identity`
    return names


def heavy_modules_after(code: str) -> list[str]:
    """Run ``code`` in a fresh Python in the project root; the heavy modules it left in sys.modules."""
    probe = code + f"\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=180,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def imports_of(*scripts: str) -> str:
    modules = sorted({name for script in scripts for name in top_level_imports(ROOT / script)})
    return "\n".join(f"try:\n    import {name}\nexcept ImportError:\n    pass" for name in modules)


def test_the_frame_and_the_home_page_import_no_torch():
    code = imports_of("app.py", "pages/home.py")
    assert "ui.status_strip" in code and "vision_core.training.presets" in code  # the walk found the real imports
    assert heavy_modules_after(code) == []


def test_the_sidebar_queue_reads_run_folders_without_torch(tmp_path):
    # The scheduler's look at a runs folder with a queued run, the live file reader and the run list: what every
    # page's sidebar strip does on every refresh.
    code = f"""
from pathlib import Path
from vision_core.classroom import jobs
from vision_core.runs import store as runs
from vision_core.config import RunConfig
from vision_core.runs.live_files import RemoteControl, read_live


class NoLaunch:  # the scheduler decides to start the run; no worker process is started
    def launch(self, *args):
        self.launched = args[0]

    def finished(self):
        return {{}}


root = Path({str(tmp_path)!r})
run = runs.create_run(RunConfig(dataset="digits", model="lenet"), root, owner="someone")
runs.write_status(run, "queued", "", submitted=1.0, kind="cpu", estimate_mb=1.0)
launcher = NoLaunch()
scheduler = jobs.Scheduler(root, launcher=launcher)
RemoteControl(run.path).pause()
assert read_live(run.path) is None
assert [r.run_id for r in runs.list_runs(root)] == [run.run_id]
scheduler.refresh()
assert launcher.launched == run.run_id
assert scheduler.view.entries and scheduler.view.entries[0].run_id == run.run_id
empty = root / "empty"  # the server's own scheduler (with whatever launcher is configured), on no runs
empty.mkdir()
assert jobs.manager(empty).refresh().entries == []
"""
    assert heavy_modules_after(code) == []


def test_the_heavy_modules_are_seen_when_imported():
    # The probe itself can fail: importing the training side does load torch and Lightning.
    assert {"torch", "lightning"} <= set(heavy_modules_after("import vision_core.training.live"))


def test_live_re_exports_the_page_side():
    from vision_core.runs import live_files
    from vision_core.training import live

    for name in ("RemoteControl", "read_live", "check_lr", "LIVE_FILE", "CONTROL_FILE", "MAX_LR"):
        assert getattr(live, name) is getattr(live_files, name)


def test_drawing_the_home_page_loads_no_torch(tmp_path):
    # The Home page drawn through app.py (sidebar strip with a run training, identity, the scheduler thread started):
    # what a cold server runs for its first visitor. The run is alive by its heartbeat, so nothing is launched.
    code = f"""
import os
os.environ["VISION_CORE_RUNS"] = {str(tmp_path)!r}
os.environ["VISION_CORE_MAX_JOBS_CPU"] = "1"
os.environ["VISION_CORE_WARM_IMPORTS"] = "0"  # what the page itself imports; torch comes later, in ui/warm.py
from vision_core.runs import store as runs
from vision_core.config import RunConfig

run = runs.create_run(RunConfig(dataset="digits", model="lenet"), {str(tmp_path)!r}, owner="someone")
runs.write_status(run, "running", "", kind="cpu")
from tests.pages.apptest import open_page

at = open_page("pages/home.py")
assert not at.exception, at.exception
assert "CNN Lab" in at.title[0].value
"""
    assert heavy_modules_after(code) == []


def test_a_page_opened_during_the_warm_up_waits_for_it(tmp_path):
    # Two threads importing torch at once can hand one of them a half-imported torch._dynamo ("partially
    # initialized module"): seen when a page was opened while ui/warm.py imported in the background. Every page
    # but Home waits for the warm-up, so the warm thread has finished by the time the Train page is drawn.
    code = f"""
import os
os.environ["VISION_CORE_RUNS"] = {str(tmp_path)!r}
from ui import warm
from tests.pages.apptest import open_page

thread = warm.start()
assert thread.is_alive()  # torch, the Train form and Lightning take seconds
at = open_page("pages/train.py")
assert not at.exception, at.exception
assert not thread.is_alive()
home = open_page("pages/home.py")
assert not home.exception, home.exception
"""
    assert "torch" in heavy_modules_after(code)
