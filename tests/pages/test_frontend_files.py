"""ui/frontend_files.py: Streamlit's frontend files from memory, exactly as Streamlit answers them, gzipped once.

The middleware is driven as the ASGI server drives it, in front of a real Starlette StaticFiles (what Streamlit's
own static handler is built on) over a folder these tests write; a counter shows when the files reach it.
"""

from __future__ import annotations

import asyncio
import gzip
import random

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ui.frontend_files import FrontendFiles


class Counted:
    """The app behind the middleware, counting the requests that reach it."""

    def __init__(self, app) -> None:
        self.app, self.paths = app, []

    async def __call__(self, scope, receive, send) -> None:
        self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture
def served(tmp_path):
    rng = random.Random(0)
    script = ("const weights = [" + ",".join(str(rng.random()) for _ in range(3000)) + "];\n").encode()
    (tmp_path / "static" / "js").mkdir(parents=True)
    (tmp_path / "static" / "js" / "index.abc123.js").write_bytes(script)
    (tmp_path / "static" / "media").mkdir()
    (tmp_path / "static" / "media" / "logo.png").write_bytes(bytes(rng.randrange(256) for _ in range(4000)))
    (tmp_path / "secret.txt").write_text("not a frontend file")
    inner = Counted(files_at("/", tmp_path))
    return FrontendFiles(inner, static_dir=str(tmp_path)), inner, script


def files_at(mount: str, folder) -> Starlette:
    """Files served as Streamlit serves its own: a StaticFiles mounted in a Starlette app (404s answered)."""
    return Starlette(routes=[Mount(mount, app=StaticFiles(directory=folder))])


# As uvicorn sends it (ASGI 2.4: a response need not listen for the client leaving).
SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "GET",
         "scheme": "http", "query_string": b"", "root_path": "", "server": ("127.0.0.1", 8501),
         "client": ("127.0.0.1", 5000)}


def request(app, path: str, *, method: str = "GET", headers: dict[str, str] | None = None):
    """(status, headers, body) of one request through ``app``."""
    async def go():
        messages = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            messages.append(message)

        scope = {**SCOPE, "method": method, "path": path, "raw_path": path.encode(),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
        await app(scope, receive, send)
        return messages

    messages = asyncio.run(go())
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


GZIP = {"Accept-Encoding": "gzip, deflate, br"}


def test_a_file_is_read_through_streamlit_once_and_then_answered_from_memory(served):
    app, inner, script = served
    status, headers, body = request(app, "/static/js/index.abc123.js", headers=GZIP)
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == script and len(body) < len(script) / 2
    assert int(headers["content-length"]) == len(body)
    assert "javascript" in headers["content-type"]
    for _ in range(3):
        again = request(app, "/static/js/index.abc123.js", headers=GZIP)
        assert again[2] == body
    plain = request(app, "/static/js/index.abc123.js")  # a client that takes no gzip gets the file itself
    assert plain[0] == 200 and plain[2] == script and "content-encoding" not in plain[1]
    assert int(plain[1]["content-length"]) == len(script)
    assert inner.paths == ["/static/js/index.abc123.js"]


def test_the_answer_keeps_streamlits_headers_and_names_each_encoding_apart(served):
    app, inner, _ = served
    _, packed, _ = request(app, "/static/js/index.abc123.js", headers=GZIP)
    _, plain, _ = request(app, "/static/js/index.abc123.js")
    direct = request(inner.app, "/static/js/index.abc123.js")[1]
    assert plain["etag"] == direct["etag"] and plain["last-modified"] == direct["last-modified"]
    assert packed["etag"] != plain["etag"]
    assert packed["vary"] == plain["vary"] == "Accept-Encoding"


def test_a_class_asking_at_once_reaches_streamlit_once(served):
    app, inner, script = served

    async def together():
        return await asyncio.gather(*(_answer_of(app, "/static/js/index.abc123.js") for _ in range(30)))

    bodies = asyncio.run(together())
    assert all(gzip.decompress(b) == script for b in bodies)
    assert inner.paths == ["/static/js/index.abc123.js"]  # one read, however many browsers ask at once


async def _answer_of(app, path):
    messages = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    await app({**SCOPE, "path": path, "raw_path": path.encode(), "headers": [(b"accept-encoding", b"gzip")]},
              receive, send)
    return b"".join(m.get("body", b"") for m in messages[1:])


def test_images_are_kept_but_not_packed(served):
    app, inner, _ = served
    for _ in range(2):
        status, headers, body = request(app, "/static/media/logo.png", headers=GZIP)
        assert status == 200 and "content-encoding" not in headers and len(body) == 4000
    assert inner.paths == ["/static/media/logo.png"]


@pytest.mark.parametrize("path, how", [
    ("/static/js/missing.js", {}),  # not a file: Streamlit answers (its own fallback page, or a 404)
    ("/static/../secret.txt", {}),  # outside the static files
    ("/static/js/../../secret.txt", {}),
    ("/static//js/index.abc123.js", {}),
    ("/secret.txt", {}),  # not under /static/
    ("/", {}),  # index.html names the session's files: never kept
    ("/static/js/index.abc123.js", {"method": "POST"}),
    ("/static/js/index.abc123.js", {"headers": {"Range": "bytes=0-9"}}),
])
def test_anything_else_goes_to_streamlit_untouched_and_nothing_is_kept(served, path, how):
    app, inner, _ = served
    request(app, path, **how)
    assert inner.paths == [path]
    assert app.kept == {}


def test_an_answer_other_than_200_is_passed_on_and_not_kept(tmp_path):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.js").write_text("x" * 5000)
    calls = []

    async def failing(scope, receive, send):
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"busy"})

    app = FrontendFiles(failing, static_dir=str(tmp_path))
    for _ in range(2):
        status, _, body = request(app, "/static/a.js", headers=GZIP)
        assert (status, body) == (503, b"busy")
    assert app.kept == {} and len(calls) == 4  # each time: the try, then the request itself


def test_under_a_base_url_only_its_static_files_are_kept(served, monkeypatch):
    _, inner, script = served
    from streamlit import config

    folder = inner.app.routes[0].app.directory
    mounted = Counted(files_at("/lab", folder))  # Streamlit mounts its files under the base URL
    monkeypatch.setattr(config, "get_option", lambda name: "/lab/" if name == "server.baseUrlPath" else None)
    app = FrontendFiles(mounted, static_dir=str(folder))
    assert request(app, "/static/js/index.abc123.js")[0] == 404  # not under the base URL: Streamlit's to answer
    assert app.kept == {}
    for _ in range(2):
        status, _, body = request(app, "/lab/static/js/index.abc123.js")
        assert (status, body) == (200, script)
    assert list(app.kept) == ["static/js/index.abc123.js"]
    assert mounted.paths == ["/static/js/index.abc123.js", "/lab/static/js/index.abc123.js"]


def test_an_answer_cut_short_is_never_kept(tmp_path):
    """The browser that asked first left while Streamlit sent the file: what arrived is not kept for everybody."""
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.js").write_text("x" * 5000)
    calls = []

    async def cut_short(scope, receive, send):
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/javascript"), (b"content-length", b"5000")]})
        await send({"type": "http.response.body", "body": b"x" * 100, "more_body": True})

    app = FrontendFiles(cut_short, static_dir=str(tmp_path))
    request(app, "/static/a.js", headers=GZIP)
    assert app.kept == {} and len(calls) == 2

    async def wrong_length(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/javascript"), (b"content-length", b"5000")]})
        await send({"type": "http.response.body", "body": b"x" * 100})

    app = FrontendFiles(wrong_length, static_dir=str(tmp_path))
    request(app, "/static/a.js", headers=GZIP)
    assert app.kept == {}
