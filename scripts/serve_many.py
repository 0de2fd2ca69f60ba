"""Several dashboard processes behind nginx, for a class that one process cannot serve (issue 18.4).

``scripts/dashboard --processes N`` runs this. One Streamlit process runs its scripts one at a time under Python's
lock, so a class's page views queue behind each other on one core; N processes use N cores. nginx (Debian's
package) listens on the public port and sends each new browser to the process with the fewest open connections
(``least_conn``: each student's page holds one websocket, so the fewest students); the first answer sets a
``cnnlab_route`` cookie naming that process, and the browser stays there for good, so its websocket, uploads and
media requests (a process keeps its images in its own memory) all reach the process that holds its session. (A
random cookie hashed to a process, as before, left a class of 30 unevenly split, 17 and 13 on average: the busier
process set the pace, and two processes served 1.3-1.5x the page views of one when given as much CPU each.)
Streamlit's own files (~2.3 MB of scripts and styles that every new browser fetches once) are served by nginx
from a gzip-compressed copy, not by a dashboard process: a class opening the teacher's link at once otherwise costs
each Python process ~0.1 s of CPU per browser before its first page runs, and sends every browser the files
uncompressed (Streamlit never compresses them). A process that dies is started again; nginx sends its browsers to another process meanwhile, and Streamlit's page
reconnects by itself (those browsers lose their unsaved widget state, nobody else loses anything). Runs are not
affected: they train in worker processes, and exactly one scheduler leads the runs folder whichever process holds
it (vision_core/classroom/jobs.py).

Usage: ``python scripts/serve_many.py --processes 2 [--port 8501] [streamlit options…]``. Stops everything on
SIGTERM / Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUTE_COOKIE = "cnnlab_route"

NGINX_CONF = """\
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size {upload_mb}m;

    # A browser keeps the process its cookie names; a new one (or one whose cookie names no process) goes to the one
    # with the fewest connections, and is given a cookie naming the process that answered it.
    map $cookie_{cookie} $dashboard {{
{routes}
        default any_dashboard;
    }}
    map $upstream_addr $route {{  # "addr" or, after a retry, "addr1, addr2": the last one answered
{names}
        default "";
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ""      close;
    }}
    upstream any_dashboard {{
        least_conn;
        zone any_dashboard 64k;  # the counts are shared by nginx's workers
{servers}
    }}
{one_each}
    server {{
        listen {address}:{port};
        # Streamlit's frontend files: the same files and cache headers as Streamlit's own handler (names carry a
        # hash: cached for good), each sent as its .gz when the browser accepts gzip (compress_static).
        location /static/ {{
            alias {static}/;
            types {{  # a module script sent as anything but JavaScript is refused by the browser
                application/javascript js; text/css css; font/woff2 woff2; image/svg+xml svg; image/png png;
                image/gif gif; application/json json;
            }}
            gzip_static on;
            add_header Cache-Control "public, immutable, max-age=31536000";
        }}
        location / {{
            proxy_pass http://$dashboard;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1d;  # a student's websocket stays open for the whole lesson
            proxy_buffering off;
            add_header Set-Cookie "{cookie}=$route; Path=/; Max-Age=15552000; SameSite=Strict" always;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        sys.exit("nginx is not installed: `apt-get install nginx-light` (scripts/dashboard does it for you).")
    return found


COMPRESSED = (".js", ".css", ".svg", ".json", ".txt", ".ttf", ".otf", ".woff")  # not .woff2 or images: packed


def streamlit_static() -> Path:
    """The folder Streamlit serves at ``/static/`` (its frontend's scripts, styles, fonts)."""
    from streamlit import file_util

    return Path(file_util.get_static_dir()) / "static"


def link_static(source: Path, target: Path) -> None:
    """``target`` mirrors ``source`` (Streamlit's files) with links: what nginx serves at ``/static/``."""
    for path in sorted(source.rglob("*")):
        if path.is_dir() or path.suffix == ".map":  # source maps: never fetched by a student's browser
            continue
        link = target / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(path)


def compress_static(source: Path, target: Path) -> None:
    """A .gz beside each file worth compressing, for nginx's gzip_static. Written while nginx already serves (a
    .gz not there yet: that file goes out uncompressed), each whole or not at all."""
    import gzip

    for path in sorted(source.rglob("*")):
        if path.suffix in COMPRESSED and path.stat().st_size > 1024:
            packed = target / path.relative_to(source).with_name(path.name + ".gz")
            part = packed.with_name(packed.name + ".part")
            part.write_bytes(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
            part.replace(packed)


def write_conf(tmp: Path, address: str, port: int, backends: list[int], upload_mb: int) -> Path:
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir(exist_ok=True)
    # A process that stops answering is skipped for 5 s, then tried again (it is restarted meanwhile).
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in backends)
    # dashboard_<i>: its browsers' process; while it is down, the others (backup) answer them instead.
    one_each = "\n".join(
        f"    upstream dashboard_{i} {{\n        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n"
        + "".join(f"        server 127.0.0.1:{other} backup;\n" for other in backends if other != p) + "    }"
        for i, p in enumerate(backends))
    routes = "\n".join(f"        d{i} dashboard_{i};" for i in range(len(backends)))
    names = "\n".join(f'        "~127\\.0\\.0\\.1:{p}$" d{i};' for i, p in enumerate(backends))
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, cookie=ROUTE_COOKIE, servers=servers, one_each=one_each, routes=routes,
                                      names=names, address=address, port=port, upload_mb=upload_mb,
                                      static=tmp / "static"))
    return conf


def start_dashboard(port: int, extra: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), *extra]
    # Each process serves its own browsers; the nginx cookie keeps them apart, so no CORS/XSRF sharing is needed.
    return subprocess.Popen(command, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--first-backend-port", type=int, default=None,
                        help="ports of the dashboard processes (default: the port + 1, + 2, …)")
    parser.add_argument("--upload-mb", type=int, default=50)
    args, extra = parser.parse_known_args(argv)
    if not 1 <= args.processes <= 64:
        parser.error(f"--processes must be 1-64, got {args.processes}")
    binary = nginx_binary()  # before any dashboard starts: without nginx they would be left running, unreachable
    first = args.first_backend_port or args.port + 1
    backends = [first + i for i in range(args.processes)]
    tmp = Path(tempfile.mkdtemp(prefix="cnnlab-nginx-"))
    tmp.chmod(0o711)  # nginx's workers (user nobody when started as root) reach static/ through it, list nothing
    conf = write_conf(tmp, args.address, args.port, backends, args.upload_mb)
    dashboards = {port: start_dashboard(port, extra) for port in backends}
    link_static(streamlit_static(), tmp / "static")
    # A few seconds of compression: nginx and the dashboards start meanwhile.
    threading.Thread(target=compress_static, args=(streamlit_static(), tmp / "static"), daemon=True).start()
    nginx = subprocess.Popen([binary, "-c", str(conf), "-p", str(tmp), "-g", "daemon off;"])
    print(f"CNN Lab: {args.processes} dashboard processes behind nginx on http://{args.address}:{args.port}",
          flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            for port, process in dashboards.items():
                if process.poll() is not None:  # a process died: its browsers reconnect to it once it is back
                    print(f"dashboard on port {port} ended ({process.returncode}); starting it again", flush=True)
                    dashboards[port] = start_dashboard(port, extra)
            if nginx.poll() is not None:
                print("nginx ended; stopping", flush=True)
                break
            time.sleep(0.5)
    finally:
        for process in [nginx, *dashboards.values()]:
            if process.poll() is None:
                process.terminate()
        deadline = time.time() + 5
        for process in [nginx, *dashboards.values()]:
            try:
                process.wait(timeout=max(deadline - time.time(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
