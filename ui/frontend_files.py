"""Streamlit's frontend files (its JavaScript, styles, fonts) served from memory, gzipped once.

Why: every student's browser fetches ~2.3 MB of them on its first visit (the teacher's link, thirty at once), and
more as it opens pages that draw new kinds of element (Plotly's 4.7 MB). Streamlit serves them from disk on its
one event loop, uncompressed, in 64 KB reads each handed to a thread: ~50 ms of the server's CPU per new browser,
1.5 s for a class arriving together, in the same process that runs every student's page
(benchmarks/protocol_class.py, "of which its files"). Here each file is read through Streamlit once (its answer,
headers included, is what is kept: the same cache rules, the same security checks), gzipped once in a thread, and
then answered from memory: gzipped to every browser that accepts it (all do), which also sends a quarter of the
bytes over the school's network.

Only Streamlit's own files are kept (``/static/…`` paths that are files of its static folder, answered 200 in
full): a bounded set, ~26 MB at most, fixed by the installed Streamlit. Anything else (pages, the websocket,
uploads, media, a range request, a made-up path) goes to Streamlit untouched.
"""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass
from pathlib import Path

from streamlit import config
from streamlit.file_util import get_static_dir

# What is worth packing: text. Images and fonts in woff2 are compressed already.
PACKED_TYPES = (b"text/", b"application/javascript", b"application/json", b"image/svg+xml")
MIN_PACKED_BYTES = 1024


@dataclass(frozen=True)
class Kept:
    headers: list[tuple[bytes, bytes]]  # Streamlit's, without content-length
    body: bytes
    packed: bytes | None  # gzip of body, when that is smaller and the type is text


class FrontendFiles:
    """ASGI middleware (``st.App(…, middleware=[Middleware(FrontendFiles)])``): see the module's docstring."""

    def __init__(self, app, static_dir: str | None = None) -> None:
        self.app = app
        self.root = Path(static_dir or get_static_dir()).resolve()
        self.base = "/" + (config.get_option("server.baseUrlPath") or "").strip("/")
        self.kept: dict[str, Kept] = {}
        self._reading: dict[str, asyncio.Future] = {}  # one read per file, however many browsers ask at once

    async def __call__(self, scope, receive, send) -> None:
        path = self._file_path(scope)
        if path is None:
            await self.app(scope, receive, send)
            return
        kept = self.kept.get(path)
        if kept is None:
            kept = await self._read_once(path, scope, receive)
            if kept is None:  # not a plain 200 answer: Streamlit answers this request itself
                await self.app(scope, receive, send)
                return
        await self._answer(kept, scope, send)

    def _file_path(self, scope) -> str | None:
        """The path, relative to Streamlit's static folder, of a file there this GET asks for in full; else None."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        if any(name == b"range" for name, _ in scope["headers"]):
            return None
        path: str = scope["path"]
        if self.base != "/":
            if not path.startswith(self.base + "/"):
                return None
            path = path[len(self.base):]
        if not path.startswith("/static/") or "//" in path or "\\" in path or "/." in path:
            return None
        relative = path.lstrip("/")
        if relative in self.kept:
            return relative
        file = (self.root / relative).resolve()
        if not file.is_relative_to(self.root) or not file.is_file():
            return None
        return relative

    async def _read_once(self, path: str, scope, receive) -> Kept | None:
        if path in self._reading:
            return await asyncio.shield(self._reading[path])
        future = asyncio.get_running_loop().create_future()
        self._reading[path] = future
        try:
            kept = await self._read(scope, receive)
            if kept is not None:
                self.kept[path] = kept
            future.set_result(kept)
            return kept
        except BaseException as exc:
            future.set_result(None)  # those waiting ask Streamlit themselves
            if isinstance(exc, Exception):
                return None
            raise
        finally:
            del self._reading[path]

    async def _read(self, scope, receive) -> Kept | None:
        """Streamlit's own answer to this request, whole, if it is a 200; packed in a thread."""
        messages: list[dict] = []

        async def keep(message: dict) -> None:
            messages.append(message)

        plain_scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"accept-encoding"]}
        await self.app(plain_scope, receive, keep)
        start = messages[0] if messages else {}
        if start.get("type") != "http.response.start" or start.get("status") != 200:
            return None
        headers = [(k.lower(), v) for k, v in start.get("headers", [])]
        if any(k == b"content-encoding" for k, _ in headers):
            return None
        parts = [m for m in messages[1:] if m.get("type") == "http.response.body"]
        body = b"".join(m.get("body", b"") for m in parts)
        length = next((v for k, v in headers if k == b"content-length"), None)
        if not parts or parts[-1].get("more_body", False) or (length is not None and int(length) != len(body)):
            return None  # cut short (the browser left while Streamlit sent it): never kept for everybody
        headers = [(k, v) for k, v in headers if k != b"content-length"]
        content_type = next((v for k, v in headers if k == b"content-type"), b"")
        packed = None
        if len(body) >= MIN_PACKED_BYTES and content_type.startswith(PACKED_TYPES):
            packed = await asyncio.to_thread(gzip.compress, body, 6, mtime=0)
            if len(packed) >= len(body):
                packed = None
        return Kept(headers, body, packed)

    @staticmethod
    async def _answer(kept: Kept, scope, send) -> None:
        accepts = b"gzip" in b",".join(v for k, v in scope["headers"] if k == b"accept-encoding")
        headers = list(kept.headers)
        body = kept.body
        if kept.packed is not None:
            headers.append((b"vary", b"Accept-Encoding"))
            if accepts:
                body = kept.packed
                headers.append((b"content-encoding", b"gzip"))
                # An ETag names one encoding of the file (RFC 9110 8.8.3): the packed one gets its own.
                headers = [(k, v[:-1] + b'-gz"' if k == b"etag" and v.endswith(b'"') else v) for k, v in headers]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
