"""What the browser benchmarks share: the dashboard started as ``scripts/dashboard`` starts it, Chromium, /proc.

Not a benchmark itself (watched_run.py, classroom_load.py and first_page.py import it). On a 2-core machine the
server (and the training workers it starts, which inherit its CPU affinity) is pinned to one core and this
process, Playwright's driver and Chromium to the other, so what a viewer costs the server shows up as training
time, not as the browser's own rendering.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-renderer-backgrounding",
                  "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows"]
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The newest step on the live chart: the last x of the per-step loss trace (downsampling keeps the last point).
# figures.py sends x as an int32 array, which Plotly keeps as {dtype, bdata} in ``data``; ``_fullData`` holds the
# decoded values (the base64 is decoded here as a fallback).
CHART_LAST_STEP = """() => {
  const TYPES = {i1: Int8Array, u1: Uint8Array, i2: Int16Array, u2: Uint16Array, i4: Int32Array, u4: Uint32Array,
                 f4: Float32Array, f8: Float64Array};
  const values = (x) => {
    if (!x) return [];
    if (x.bdata !== undefined) {
      const bytes = Uint8Array.from(atob(x.bdata), (c) => c.charCodeAt(0));
      return new TYPES[x.dtype](bytes.buffer);
    }
    return x;
  };
  let last = -1;
  for (const p of document.querySelectorAll('.js-plotly-plot')) {
    for (const t of (p._fullData || p.data || [])) {
      const x = values(t.x);
      if (t.name === 'train, each step' && x.length) last = Math.max(last, Number(x[x.length - 1]));
    }
  }
  return last;
}"""


def cores() -> tuple[int, int]:
    """(server core, browser core): the first two CPUs this process may use (the same one twice on 1 CPU)."""
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[0], allowed[1 % len(allowed)]


def pin_self(cpu: int) -> None:
    """Pin this process; Playwright's driver and Chromium, started after this, inherit it."""
    os.sched_setaffinity(0, {cpu})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workspace(max_epochs: int = 200) -> Path:
    """A fresh folder with an empty runs/ and a classroom.toml (long runs allowed for the load benchmark)."""
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
    (folder / "runs").mkdir()
    (folder / "classroom.toml").write_text(f"max_epochs = {max_epochs}\nmax_jobs_per_person = 4\n")
    return folder


class Server:
    """``streamlit run serve.py --server.headless true`` (scripts/dashboard's command) on a free port, pinned."""

    def __init__(self, folder: Path, cpu: int | None, env: dict[str, str] | None = None,
                 script: str = "serve.py", cwd: Path = ROOT) -> None:
        """``script`` and ``cwd``: another app served the same way (page_cost.py's hello-world page; Streamlit reads
        ``cwd/.streamlit/config.toml``)."""
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Only this checkout's serve.py opens every page at start-up (not a hello page, nor an older checkout).
        self.opens_pages = script == "serve.py" and (cwd / "ui" / "warm_pages.py").exists()
        env = {**os.environ, "VISION_CORE_RUNS": str(folder / "runs"),
               "VISION_CORE_CLASSROOM": str(folder / "classroom.toml"),
               "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(env or {})}
        self.env = env
        streamlit = ROOT / ".venv/bin/streamlit"  # a git worktree has no .venv: this interpreter's then
        launcher = [str(streamlit)] if streamlit.exists() else [sys.executable, "-m", "streamlit"]
        command = [*launcher, "run", script, "--server.headless", "true",
                   "--server.port", str(self.port), "--server.address", "127.0.0.1"]
        if cpu is not None:
            command = ["taskset", "-c", str(cpu)] + command  # taskset execs: the pid below is streamlit's
        self.log_path = folder / "server.log"
        self.log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_healthy(self, timeout: float = 120) -> float:
        """Seconds from the start until /_stcore/health answers."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/_stcore/health", timeout=2)
                return time.perf_counter() - self.started
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"streamlit exited: {self.log_path.read_text()[-2000:]}") from None
                time.sleep(0.05)
        raise RuntimeError(f"streamlit did not answer in {timeout:.0f} s")

    def wait_ready(self, timeout: float = 300) -> float:
        """Seconds from the start until the server said it had opened every page once (ui/warm_pages.py), as a
        teacher who waits for that line before sharing the link; at once when the visit is turned off."""
        if self.opens_pages:
            wait_for_lines(self.log_path, self.log_start, 1, timeout, self.env)
        return time.perf_counter() - self.started

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def rss_mb(self) -> float:
        return process_rss_mb(self.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def runs_dir(self) -> Path:
        return self.folder / "runs"


class ManyServers:
    """``scripts/serve_many.py --processes N`` (nginx in front of N dashboard processes) on a free port."""

    def __init__(self, folder: Path, processes: int) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "VISION_CORE_RUNS": str(folder / "runs"),
               "VISION_CORE_CLASSROOM": str(folder / "classroom.toml"),
               "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
        first_backend = free_port()
        self.processes = processes
        self.log_path = folder / f"serve-many-{processes}.log"
        self.log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "scripts/serve_many.py", "--processes", str(processes), "--port", str(self.port),
                 "--address", "127.0.0.1", "--first-backend-port", str(first_backend)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.backends = [f"http://127.0.0.1:{first_backend + i}" for i in range(processes)]

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        for url in [*self.backends, self.url]:
            while True:
                try:
                    urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                    break
                except OSError:
                    if time.time() > deadline or self.proc.poll() is not None:
                        raise RuntimeError(f"serve_many did not answer at {url}") from None
                    time.sleep(0.2)

    def wait_ready(self, timeout: float = 300) -> None:
        """Until every process said it had opened every page once (ui/warm_pages.py)."""
        wait_for_lines(self.log_path, self.log_start, self.processes, timeout, os.environ)

    def dashboard_pids(self) -> list[int]:
        """The dashboard processes (serve_many's children running streamlit; not nginx)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [int(pid) for pid in children if b"streamlit" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def cpu_seconds(self) -> float:
        """The dashboard processes' CPU (the serve_many supervisor's children, nginx included: it is small)."""
        total = 0.0
        for child in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split():
            total += process_cpu_seconds(int(child))
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class CpuQuotas:
    """Each given process limited to ``cores`` of CPU time (a Linux cgroup per process, v1 or v2; needs root).

    On a 2-core machine N dashboard processes cannot each have a core of their own beside the students' client and
    nginx; given the same fraction of a core each, one process and two compare as on a machine with a core per
    process: whether the second process adds what the first gives, or something they share holds them back."""

    def __init__(self, pids: list[int], cores: float, name: str = "cnnlab-bench") -> None:
        v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
        self.groups: list[Path] = []
        for i, pid in enumerate(pids):
            if (v1 / "cpu.cfs_quota_us").exists():
                group = v1 / f"{name}-{os.getpid()}-{i}"
                group.mkdir(exist_ok=True)
                (group / "cpu.cfs_period_us").write_text("100000")
                (group / "cpu.cfs_quota_us").write_text(str(int(cores * 100000)))
            elif "cpu" in (v2 / "cgroup.subtree_control").read_text().split():
                group = v2 / f"{name}-{os.getpid()}-{i}"
                group.mkdir(exist_ok=True)
                (group / "cpu.max").write_text(f"{int(cores * 100000)} 100000")
            else:
                raise RuntimeError("no cgroup cpu controller to write to (root, cgroup v1 cpu or v2 with cpu)")
            (group / "cgroup.procs").write_text(str(pid))  # all its threads, and what it starts from now on
            self.groups.append(group)

    def release(self) -> None:
        """Remove the groups (their processes must have ended)."""
        for group in self.groups:
            with contextlib.suppress(OSError):
                group.rmdir()


READY_MARK = b"every page was opened once"  # ui/warm_pages.py's READY_LINE


def wait_for_lines(log_path: Path, start: int, count: int, timeout: float, env) -> None:
    """Until ``count`` READY_MARK lines follow byte ``start`` of the log (none awaited when ``env`` turns the visit
    off: ``VISION_CORE_WARM_PAGES=0 benchmarks/….py`` measures a class arriving before the pages were opened)."""
    if env.get("VISION_CORE_WARM_PAGES") == "0" or env.get("VISION_CORE_WARM_IMPORTS") == "0":
        return
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(log_path, "rb") as log:
            log.seek(start)
            if log.read().count(READY_MARK) >= count:
                return
        time.sleep(0.1)
    raise RuntimeError(f"no {count} × '{READY_MARK.decode()}' in {log_path} after {timeout:.0f} s")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads, not its children), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def process_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)


def wait_for_app(page, timeout_ms: int = 120_000) -> None:
    """Streamlit finished the current script run (no "Running…" status widget)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout_ms,
    )


def start_run_from_train_page(page, url: str, epochs: int | None = None) -> str:
    """Open /train, optionally set the epochs, click Start (the form's defaults are the quick-start run:
    LeNet on the digits, Adam lr 0.002, batch 32, 10 epochs); returns the run id from the URL."""
    page.goto(url + "/train")
    wait_for_app(page)
    page.get_by_text("Set up a run").wait_for(timeout=120_000)
    if epochs is not None:
        field = page.get_by_label("Epochs", exact=True)
        field.fill(str(epochs))
        field.press("Enter")
        wait_for_app(page)
    page.get_by_role("button", name="▶ Start training").click()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_url(re.compile(r"[?&]run="), timeout=120_000)
    except PlaywrightTimeout:
        shot = ROOT / "test-artifacts" / "benchmarks" / "start-failed.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        raise RuntimeError(f"Start did not open the run's page: see {shot.relative_to(ROOT)} and the server log") from None
    return re.search(r"run=([^&]+)", page.url).group(1)


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_status(run_path: Path) -> str:
    return str((read_json(run_path / "status.json") or {}).get("status", ""))


def wait_status(run_path: Path, statuses: tuple[str, ...], timeout: float) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = run_status(run_path)
        if status in statuses:
            return status
        time.sleep(0.2)
    raise RuntimeError(f"run {run_path.name} stayed {run_status(run_path)!r} for {timeout:.0f} s "
                       f"(wanted {'/'.join(statuses)})")


def worker_pid(server_pid: int, run_id: str) -> int | None:
    """The training worker of ``run_id``: a child of the server running ``python -m vision_core.classroom.worker RUN_ID``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == server_pid and b"vision_core.classroom.worker" in cmdline and run_id.encode() in cmdline:
            return int(proc.name)
    return None
