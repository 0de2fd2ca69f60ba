"""scripts/serve_many.py without nginx: it says how to install it and starts no dashboard process (two were left
running, unreachable, each time the browser test ran on a machine without nginx)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_without_nginx_no_dashboard_is_started(monkeypatch):
    spec = importlib.util.spec_from_file_location("serve_many", ROOT / "scripts" / "serve_many.py")
    serve_many = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve_many)
    started = []
    monkeypatch.setattr(serve_many, "start_dashboard", lambda port, extra: started.append(port))
    monkeypatch.setattr(serve_many.shutil, "which", lambda name: None)
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: False if str(self) == "/usr/sbin/nginx" else real_exists(self))
    with pytest.raises(SystemExit, match="nginx is not installed"):
        serve_many.main(["--processes", "2", "--port", "18501"])
    assert started == []
    assert "serve_many" not in sys.modules  # loaded from its file only
