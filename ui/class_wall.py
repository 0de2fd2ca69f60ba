"""The class wall: every active run of the class in one table with sparklines, shared by every viewer.

Cheap for a class watching it: the wall (vision_core/classroom/wall.py) is built once per REFRESH_SECONDS time
bucket for every session of the server (the first viewer of a bucket builds it, the others wait for it and reuse
it), and its HTML table once per bucket and filter. A viewer's refresh then costs one dictionary look-up and one
string sent. Sparklines are inline SVG (vision_core/figures/wall.py): one element on the page, not thirty charts.
Every text from a run folder or a student goes through ``html.escape``.
"""

from __future__ import annotations

import html
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from ui import identity
from ui.names import display as display_name
from ui.names import name_book
from ui.text import plain
from vision_core.classroom import jobs, names
from vision_core.classroom import wall as class_wall
from vision_core.figures import wall as sparks
from vision_core.runs import store as runs
from vision_core.runs.live_files import RemoteControl

REFRESH_SECONDS = 2.0  # the wall moves every 2 s: the live chart's pace is 1 s, a glance at 30 runs needs less

_views: dict[Path, tuple[int, class_wall.WallView]] = {}
_views_lock = threading.Lock()
_tables: OrderedDict = OrderedDict()
_tables_lock = threading.Lock()

STATUS_COLORS = {  # (light page, projector): the colour of each status word
    class_wall.STUCK: ("#b45309", "#ffb347"), class_wall.DIVERGED: ("#b91c1c", "#ff6b6b"),
    "training": ("#15803d", "#7CFC98"), "testing": ("#15803d", "#7CFC98"), "paused": ("#1d4ed8", "#8ab4ff"),
    "starting": ("#6b7280", "#dddddd"), "queued": ("#6b7280", "#dddddd"), "finished": ("#111827", "#ffffff"),
    "stopped": ("#6b7280", "#dddddd"), "failed": ("#b91c1c", "#ff6b6b"), "interrupted": ("#6b7280", "#dddddd"),
}


def _bucket(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // REFRESH_SECONDS)


def shared_view(root: Path | None = None) -> class_wall.WallView:
    """The wall of this time bucket, built once for every viewer (they wait for the one building it)."""
    root = runs.runs_root(root)
    bucket = _bucket()
    with _views_lock:
        cached = _views.get(root)
        if cached is not None and cached[0] == bucket:
            return cached[1]
        view = class_wall.class_view(root)
        _views[root] = (bucket, view)
        return view


_URI_ESCAPES = str.maketrans({"%": "%25", "#": "%23", "<": "%3C", ">": "%3E", '"': "%22"})


def _image(svg: str) -> str:
    """An SVG as an <img> (st.html's sanitiser keeps images with data URIs; inline <svg> may be stripped).

    Percent-encoded, not base64: a third fewer bytes for every viewer's every refresh (30 runs: 54 → 41 KB)."""
    if not svg:
        return ""
    return f'<img alt="" src="data:image/svg+xml,{svg.translate(_URI_ESCAPES)}"/>'



def _cell(text: object) -> str:
    return html.escape(str(text), quote=True)


def _speed(row: class_wall.WallRow) -> str:
    return f"{row.samples_per_sec:,.0f} img/s" if row.samples_per_sec else "–"


def _percent(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "–"


def table_html(rows: list[class_wall.WallRow], *, projector: bool = False, mine: str | None = None) -> str:
    """The wall as one HTML table: person, run, model · data, status, epoch, speed, accuracy, loss and accuracy
    sparklines (GPU memory when a run reports it). Every value is escaped; ``mine`` marks that person's rows."""
    if not rows:
        return ""
    dark = 1 if projector else 0
    loss_color = sparks.PROJECTOR_LOSS_COLOR if projector else sparks.LOSS_COLOR
    acc_color = sparks.PROJECTOR_ACC_COLOR if projector else sparks.ACC_COLOR
    width, height = (220, 56) if projector else (120, 28)
    gpu = any(r.gpu_memory_mb for r in rows)
    head = ["Who", "Run", "Model · data", "Status", "Epoch", "Speed", "Accuracy", "Loss", "Accuracy curve"]
    if gpu:
        head.append("GPU memory")
    lines = [f"<table class='cw-table{' cw-projector' if projector else ''}'><thead><tr>"
             + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        color = STATUS_COLORS.get(row.status, ("#111827", "#ffffff"))[dark]
        status = _cell(row.status)
        title = f" title='{_cell(row.advice)}'" if row.advice else ""
        you = " <span class='cw-you'>(you)</span>" if mine is not None and row.owner == mine else ""
        epoch = f"{row.epoch}/{row.epochs}" if row.status not in ("queued", "starting") else f"–/{row.epochs}"
        cells = [
            f"<b>{_cell(row.person)}</b>{you}",
            _cell(row.label),
            f"{_cell(row.model)} · {_cell(row.dataset)}",
            f"<span class='cw-status' style='color:{color}'{title}>{status}</span>",
            f"{epoch}<div class='cw-bar'><div style='width:{row.progress * 100:.0f}%'></div></div>",
            _speed(row),
            _percent(row.accuracy),
            _image(sparks.sparkline_svg(row.loss_curve, color=loss_color, width=width, height=height)),
            _image(sparks.sparkline_svg(row.acc_curve, color=acc_color, width=width, height=height, low=0.0,
                                        high=1.0)),
        ]
        if gpu:
            cells.append(f"{row.gpu_memory_mb:,.0f} MB" if row.gpu_memory_mb else "–")
        lines.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    lines.append("</tbody></table>")
    return _STYLE + "".join(lines)


_STYLE = (
    "<style>"
    ".cw-table {border-collapse: collapse; width: 100%; font-size: 0.9rem;}"
    ".cw-table th {text-align: left; font-weight: 600; border-bottom: 2px solid #ccc; padding: 4px 8px;}"
    ".cw-table td {border-bottom: 1px solid #e5e7eb; padding: 3px 8px; vertical-align: middle;}"
    ".cw-status {font-weight: 600;}"
    ".cw-summary {margin: 0 0 0.4rem 0;}"
    ".cw-you {font-weight: normal; opacity: 0.7;}"
    ".cw-bar {height: 4px; background: #e5e7eb; border-radius: 2px; margin-top: 2px; width: 5rem;}"
    ".cw-bar div {height: 4px; background: #16a34a; border-radius: 2px;}"
    ".cw-projector {font-size: 1.1rem;} .cw-projector td {border-bottom: 1px solid #555; padding: 8px 12px;}"
    ".cw-projector th {border-bottom: 2px solid #fff; color: #fff;} .cw-projector .cw-bar {background: #444;}"
    ".cw-projector .cw-bar div {background: #7CFC98;}"
    "</style>"
)


def shared_table(view: class_wall.WallView, statuses: tuple[str, ...], projector: bool,
                 keep: Callable[[class_wall.WallRow], bool] | None = None, keep_key: str = "") -> str:
    """The wall's HTML (a count line, then table_html of the view's rows with these filters), built once per
    (view, filters) for every viewer: one element per viewer per refresh.

    ``keep`` (with a ``keep_key`` naming it) is a further filter, e.g. one challenge's runs.
    """
    key = (id(view), view.built, statuses, projector, keep_key)
    with _tables_lock:
        cached = _tables.get(key)
        if cached is not None:
            return cached
    rows = class_wall.select(view.rows, statuses, keep)
    text = (f"<p class='cw-summary'><b>{len(view.rows)} run(s) on the wall</b> · {_cell(_summary(view.rows))}</p>"
            + (table_html(rows, projector=projector) if rows else
               "<p class='cw-summary'>No run has this status right now.</p>" if view.rows else ""))
    with _tables_lock:
        _tables[key] = text
        while len(_tables) > 32:
            _tables.popitem(last=False)
    return text


def _summary(rows: list[class_wall.WallRow]) -> str:
    counted = class_wall.counts(rows)
    if not counted:
        return "Nobody is training right now."
    return " · ".join(f"{n} {status}" for status, n in counted.items())


def wall(*, projector: bool = False, keep: Callable[[class_wall.WallRow], bool] | None = None,
         keep_key: str = "") -> None:
    """The wall (a fragment that redraws itself every REFRESH_SECONDS). In projector mode: no filter, large type.

    The status filter is drawn outside the fragment: a refresh then only sends the one shared HTML element."""
    statuses: tuple[str, ...] = ()
    if not projector:
        chosen = st.pills("Show only", class_wall.STATUSES, selection_mode="multi", key="class_status",
                          help="No choice: every run. Ended runs stay on the wall for "
                               f"{class_wall.RECENT_S // 60} minutes.")
        statuses = tuple(s for s in class_wall.STATUSES if s in (chosen or ()))

    @st.fragment(run_every=REFRESH_SECONDS)
    def body() -> None:
        view = shared_view()
        st.html(shared_table(view, statuses, projector, keep, keep_key))
        if view.damaged and not projector and identity.is_teacher():
            st.caption(f"{view.damaged} run folder(s) cannot be read: see the Runs page.")

    body()


# ---- the teacher's part ------------------------------------------------------------------------------
def _flash(kind: str, text: str) -> None:
    st.session_state["class_flash"] = (kind, text)


def _act(action: str, run_id: str) -> None:
    """Button callback: pause / resume / stop / delete exactly ``run_id`` (the teacher only, checked again)."""
    if not identity.is_teacher():
        _flash("error", "Only the teacher can change other people's runs from the Class page.")
        return
    try:
        run = runs.load_run(run_id)
        control = RemoteControl(run.path)
        if action == "pause":
            control.pause()
        elif action == "resume":
            control.resume()
        elif action == "stop":
            control.stop()  # a queued run is cancelled by the scheduler, a training one stops with a checkpoint
        elif action == "delete":
            runs.delete_run(run_id)
    except runs.RunError as exc:
        _flash("error", str(exc))
    else:
        done = {"pause": "Pausing", "resume": "Resuming", "stop": "Stopping", "delete": "Deleted"}[action]
        _flash("ok", f"{done} {run.label} ({display_name(run.owner)}).")


def _rename(owner: str) -> None:
    if not identity.is_teacher():
        return
    typed = st.session_state.get("class_rename_box", "")
    try:
        name_book().set_name(owner, typed, by_teacher=True)
    except names.BadName as exc:
        _flash("error", str(exc))
    else:
        _flash("ok", f"Renamed to {names.check_name(typed)}.")


def _hide(owner: str, hidden: bool) -> None:
    if not identity.is_teacher():
        return
    name_book().hide(owner, hidden)
    _flash("ok", f"{'Hidden' if hidden else 'Shown again'}: the class sees {display_name(owner)}.")


def machine_load() -> str:
    """'CPU load 3.1 / 16 cores (1 min average)'."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return "CPU load: not available on this system."
    return f"CPU load {load:.1f} on {os.cpu_count() or 1} cores (1-minute average)."


def queue_rows(view: jobs.QueueView) -> list[dict]:
    """The class queue with each run's person (the teacher's view of ui/queue_table.py's table)."""
    from ui.queue_table import queue_rows as rows_of

    rows = rows_of(view, me="")
    for row, entry in zip(rows, view.entries):
        row["whose"] = display_name(entry.owner)
    return rows


def teacher_panel() -> None:
    """Pause, resume, stop and delete any run on the wall; rename or hide a name; the queue and the machine."""

    @st.fragment(run_every=5.0)
    def body() -> None:
        import pandas as pd

        flash = st.session_state.pop("class_flash", None)
        if flash:
            (st.success if flash[0] == "ok" else st.error)(plain(flash[1]))
        view = shared_view()
        st.subheader("Teacher")
        st.caption(machine_load() + " GPU memory per run is in the wall's last column when runs train on a GPU.")
        queue = jobs.manager().view
        if queue.entries:
            st.dataframe(pd.DataFrame(queue_rows(queue)), hide_index=True, key="class_queue",
                         column_config={"progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)})
        if view.rows:
            by_id = {r.run_id: r for r in view.rows}
            run_id = st.selectbox("Run", list(by_id), key="class_run",
                                  format_func=lambda i: f"{by_id[i].person} · {by_id[i].label} · {by_id[i].status}")
            row = by_id[run_id]
            c = st.columns(4)
            if row.status == "paused" or (row.status == class_wall.STUCK and _paused(row)):
                c[0].button("▶ Resume", key="class_resume", on_click=_act, args=("resume", run_id))
            else:
                c[0].button("⏸ Pause", key="class_pause", on_click=_act, args=("pause", run_id),
                            disabled=not row.active or row.status in ("queued", "starting"))
            c[1].button("⏹ Stop", key="class_stop", on_click=_act, args=("stop", run_id), disabled=not row.active,
                        help="A queued run is cancelled; a training one stops after its batch, with a checkpoint.")
            c[2].button("🗑 Delete", key="class_delete", on_click=_act, args=("delete", run_id),
                        disabled=row.active, help="Stop it first: a run that trains is never deleted.")
            if row.advice:
                c[3].caption(plain(row.advice))
            _names_admin(view)

    body()


def _paused(row: class_wall.WallRow) -> bool:
    try:
        return RemoteControl(runs.run_dir(row.run_id)).paused
    except runs.RunError:
        return False


def _names_admin(view: class_wall.WallView) -> None:
    """Rename a person, or hide their name (the class then sees their animal name)."""
    owners = sorted({r.owner for r in view.rows if r.owner} | set(name_book().people()), key=display_name)
    if not owners:
        return
    with st.expander("Names"):
        owner = st.selectbox("Person", owners, key="class_person",
                             format_func=lambda o: f"{display_name(o)} ({names.pseudonym(o)})")
        person = name_book().get(owner)
        c = st.columns([3, 1, 1], vertical_alignment="bottom")
        c[0].text_input("New name", max_chars=names.MAX_CHARS, key="class_rename_box",
                        help=f"A name has {names.NAME_RULE}.")
        c[1].button("Rename", key="class_rename", on_click=_rename, args=(owner,))
        hidden = bool(person and person.hidden)
        c[2].button("Show name" if hidden else "Hide name", key="class_hide", on_click=_hide, args=(owner, not hidden))
