"""Every page's URL is its file's name: before app.py has run once, a cold server knows its pages only from the
pages/ folder, and a first request to /class when the file was class_page.py showed Streamlit's "Page not found"
dialog (then ran the page anyway)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_each_pages_url_path_is_its_file_name():
    routes = {}
    for node in ast.walk(ast.parse((ROOT / "app.py").read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page":
            path = node.args[0].value
            words = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
            routes[path] = words.get("url_path")
    assert len(routes) >= 15
    for path, url in routes.items():
        assert (ROOT / path).is_file(), path
        assert url is None or url == Path(path).stem, (path, url)
