"""Overfitting lab: one click trains runs that differ only in dropout / weight decay / augmentation / data size,
and overlays their training and validation curves (vision_core/lessons/experiments.py, experiment_figures.py).

The experiment lives in the URL (setup, factor, values, epochs and the run ids), so a refresh or a shared link
finds it. Runs are submitted with the student as owner, so the per-person cap applies: as many variants start as
the cap allows; the others wait on this page and are submitted from it, one at a time, as the student's places
free up (only while the page is open, and only for the person who started the experiment). The teacher is exempt
from the cap: all variants start at once.
"""

import pandas as pd
import streamlit as st

from ui import identity
from ui.experiment_table import variant_label, variant_row
from ui.frame import ensure_app_frame
from ui.shared_figures import shared_figures
from ui.text import plain as literal
from vision_core.classroom import jobs
from vision_core.figures.experiments import VariantCurves, overfitting_figure
from vision_core.lessons import experiments as X
from vision_core.limits import load_limits
from vision_core.runs import store as runs
from vision_core.runs.live_files import RemoteControl, read_live

ensure_app_frame()  # a cold server's first request goes through app.py

REFRESH_SECONDS = 1.0
LIVE = runs.ACTIVE_STATUSES + ("testing",)
PARAMS = ("setup", "factor", "values", "epochs", "runs")

st.title("🧪 Overfitting lab")
st.caption("A model that learns its training images by heart scores far better on them than on images it has "
           "not seen: that gap is **overfitting** (the cats-vs-dogs tutorial ends near 95 % training accuracy and "
           "60 % on new images). Pick a setup that overfits and one thing to change; one click trains a run per "
           "value, identical in everything else (same seed, same data), and draws their curves on one chart.")


# --------------------------------------------------------------------------- the experiment in the URL


def _url_experiment() -> X.Experiment | None:
    """The experiment the URL describes (None when it describes none, or a broken one)."""
    q = st.query_params
    if not all(q.get(k) for k in ("setup", "factor", "values")):
        return None
    try:
        epochs = int(q.get("epochs", "")) if q.get("epochs") else None
        factor = str(q.get("factor"))
        return X.experiment(str(q.get("setup")), factor, X.parse_values(factor, str(q.get("values"))), epochs)
    except ValueError:
        return None


def _url_run_ids() -> list[str]:
    ids = [part for part in str(st.query_params.get("runs", "")).split(",") if part]
    return [i for i in ids if runs.RUN_ID_RE.match(i)][:X.MAX_VARIANTS]


def _put_in_url(exp: X.Experiment, run_ids: list[str]) -> None:
    st.query_params.update(setup=exp.setup, factor=exp.factor, values=X.show_values(exp.factor, exp.values),
                           epochs=str(exp.base.epochs), runs=",".join(run_ids))


# --------------------------------------------------------------------------- submitting


def _submit(config, estimate_mb: float) -> runs.RunRecord:
    return jobs.manager().submit(config, owner=identity.current_person(), estimate_mb=estimate_mb,
                                 teacher=identity.is_teacher())


def _start(exp: X.Experiment) -> None:
    """Submit every variant the cap allows now; the URL keeps the experiment and the ids."""
    try:
        estimates = exp.check(load_limits())
    except ValueError as exc:
        st.error(literal(str(exc).splitlines()[0]))
        return
    started, refusal = [], ""
    for config, estimate in zip(exp.variants(), estimates):
        try:
            started.append(_submit(config, estimate).run_id)
        except jobs.QueueError as exc:
            refusal = str(exc)
            break
    if not started:
        st.error(literal(refusal) or "No variant could be queued.")
        return
    _put_in_url(exp, started)
    if refusal:  # shown after the rerun: how many started, and what happens to the others
        st.session_state["reg_notice"] = len(started)
    st.rerun()


def _continues(exp: X.Experiment | None, records: list[runs.RunRecord | None]) -> list:
    """The variants still to submit: only for the person whose runs these are, and only when the runs on disk are
    the experiment's own first variants (a link someone edited starts nothing)."""
    if exp is None or not records or any(r is None for r in records):
        return []
    configs = exp.variants()
    if len(records) >= len(configs):
        return []
    me = identity.current_person()
    for record, config in zip(records, configs):
        if record.owner != me or record.config.to_dict() != config.to_dict():
            return []
    if any(RemoteControl(r.path).stop_requested for r in records):
        return []  # stopped by its owner: the rest is not wanted
    return configs[len(records):]


# --------------------------------------------------------------------------- the form


def _default(key: str, options: list[str]) -> int:
    value = st.query_params.get(key)
    return options.index(value) if value in options else 0


try:
    limits = load_limits()
except ValueError as exc:  # the teacher's classroom.toml has a typo: say which key, train nothing
    st.error(literal(f"The classroom limits cannot be read: {exc}"))
    st.stop()
url_exp = _url_experiment()
c1, c2, c3 = st.columns([3, 2, 1])
setup_key = c1.selectbox("Setup (made to overfit)", list(X.SETUPS), index=_default("setup", list(X.SETUPS)),
                         format_func=lambda k: X.SETUPS[k].title, key="reg_setup")
factor_key = c2.selectbox("What changes between the runs", list(X.FACTORS),
                          index=_default("factor", list(X.FACTORS)), format_func=lambda k: X.FACTORS[k].title,
                          key="reg_factor")
setup = X.SETUPS[setup_key]
preset, preset_epochs = X.show_values(factor_key, setup.defaults[factor_key]), setup.epochs_for(factor_key)
if url_exp is not None and (url_exp.setup, url_exp.factor) == (setup_key, factor_key):
    preset = X.show_values(factor_key, url_exp.values)
    if 1 <= url_exp.base.epochs <= limits.max_epochs:
        preset_epochs = url_exp.base.epochs
# One epochs box and one values box per setup and factor: switching either shows that pair's preset at first.
epochs = c3.number_input("Epochs", min_value=1, max_value=limits.max_epochs, step=1, value=preset_epochs,
                         key=f"reg_epochs_{setup_key}_{factor_key}")
hints = {"dropout": "numbers in [0, 1)", "weight_decay": "numbers ≥ 0, e.g. 0, 0.001, 0.01",
         "augment": ", ".join(X.AUGMENT_LEVELS), "train_limit": "numbers of training images, or 'all'"}
values_text = st.text_input(f"Values to compare, separated by commas ({hints[factor_key]})", preset,
                            key=f"reg_values_{setup_key}_{factor_key}")
st.caption(f"**{X.FACTORS[factor_key].title}.** {X.FACTORS[factor_key].explain} {setup.note} "
           f"{setup.expect.get(factor_key, '')}")

problem, exp = None, None
try:
    exp = X.experiment(setup_key, factor_key, X.parse_values(factor_key, values_text), int(epochs))
except ValueError as exc:
    problem = str(exc).splitlines()[0]
if problem:
    st.error(literal(problem))
cap = limits.max_jobs_per_person
count = len(exp.values) if exp else 0
# The button says how the runs will go on this server: a CPU server with one slot trains them one after another.
slots = jobs.manager().parallel_runs(exp.base.accelerator if exp else "auto")
bounds = [count] + ([slots] if slots is not None else []) + ([] if identity.is_teacher() else [cap])
at_once = min(bounds)  # runs of this experiment training at the same time, at best
if not exp:
    label = "▶ Train the runs"
elif at_once >= count:
    label = f"▶ Train {count} runs at the same time"
elif at_once == 1:
    label = f"▶ Train {count} runs, one after another"
else:
    label = f"▶ Train {count} runs, {at_once} at a time"
if st.button(label, type="primary", key="reg_start", disabled=exp is None, help=problem):
    _start(exp)

notes = []
if exp and slots is not None and slots < count:
    notes.append(f"This server trains {slots} run{'s' if slots > 1 else ''} at a time for the whole class, so the "
                 "variants wait in the queue and train "
                 + ("one after another" if slots == 1 else f"{slots} at a time")
                 + ": the chart fills in as each one trains.")
notes.append(f"Each person may have {cap} runs queued or training at once, so everyone gets a turn: the first "
             f"{cap} variants are queued at once and the others from this page as yours finish (keep it open). "
             "The teacher's runs are not capped: a teacher can queue the whole set at once for the class.")
st.caption(" ".join(notes))


# --------------------------------------------------------------------------- the results


@shared_figures(max_entries=64)
def _shared_figure(key: tuple, _curves: list[VariantCurves]):
    """Built once per new epoch of any variant, for every viewer of the same experiment."""
    return overfitting_figure(_curves)


def _results(run_ids: list[str]) -> None:
    records: list[runs.RunRecord | None] = []
    for run_id in run_ids:
        try:
            records.append(runs.load_run(run_id))
        except (runs.RunError, ValueError):
            records.append(None)
    pending = _continues(url_exp, records)
    active = bool(pending) or any(r is not None and r.state in LIVE for r in records)

    @st.fragment(run_every=REFRESH_SECONDS if active else None)
    def live() -> None:
        current: list[runs.RunRecord] = []
        for run_id in run_ids:
            try:
                current.append(runs.load_run(run_id))
            except (runs.RunError, ValueError):
                st.warning(f"Run {run_id} of this experiment was deleted.")
        waiting = _continues(url_exp, current) if len(current) == len(run_ids) else []
        if waiting:
            _submit_next(waiting[0], [r.run_id for r in current])
        curves, rows, key = [], [], []
        for record in current:
            snap = read_live(record.path) or runs.metrics_history(record)
            label = variant_label(record)
            curves.append(VariantCurves(label, list(snap.get("epochs") or [])))  # the figure escapes it
            rows.append(variant_row(record, snap, label))
            key.append((record.run_id, snap.get("version"), record.state, len(snap.get("epochs") or [])))
        for config in waiting:
            rows.append({"variant": literal(config.name), "status": "waiting for one of your places"})
        table = pd.DataFrame(rows).fillna("–")
        table.index = range(1, len(table) + 1)
        if waiting:
            st.info(f"{len(waiting)} variant(s) wait for one of your {cap} places: they start from this page as "
                    "soon as one of your runs finishes (keep the page open).")
        if any(c.epochs for c in curves):
            st.plotly_chart(_shared_figure(tuple(key), curves), key="reg_chart")
            st.caption("Solid lines: training; dashed: validation, on images the model never trains on. "
                       "Training accuracy is measured while training, with dropout and augmentation switched on "
                       "(as Keras and Lightning report it), so it sits a little lower under those.")
        elif current:
            st.info("Waiting for the first epoch…")
        st.table(table)  # a few rows, as text: the gap is read at a glance
        still = bool(waiting) or any(r.state in LIVE for r in current)
        if active and not still:
            st.rerun()  # stop refreshing: redraw the whole page once in its final state

    st.divider()
    st.subheader(url_exp.title if url_exp is not None else "Your experiment")
    live()
    mine = [r for r in records if r is not None and identity.may_manage(r.owner)]
    c1, c2, _ = st.columns([1, 1, 3])
    stoppable = active and mine
    if stoppable and c1.button("⏹ Stop this experiment", key="reg_stop",
                               help="Stops every run of it that is yours; nothing more is started."):
        for record in mine:
            if record.state in LIVE:
                RemoteControl(record.path).stop()
        st.rerun()
    if (c2 if stoppable else c1).button("New experiment", key="reg_new",
                                        help="Back to the form; the runs stay on the Runs page."):
        for key in PARAMS:
            st.query_params.pop(key, None)
        st.rerun()


def _submit_next(config, run_ids: list[str]) -> None:
    """Queue the next waiting variant when the cap allows it (else it waits for the next refresh)."""
    try:
        estimate = url_exp.check(limits)[len(run_ids)]
        run = _submit(config, estimate)
    except (jobs.QueueError, ValueError):
        return
    st.query_params["runs"] = ",".join([*run_ids, run.run_id])
    st.rerun()


notice = st.session_state.pop("reg_notice", 0)
if notice and url_exp is not None:
    st.warning(f"Started {notice} of {len(url_exp.values)} runs: each person may have {cap} queued or training. "
               "The others start from this page as soon as one of yours finishes (keep it open), "
               "or the teacher can run the whole set at once.")
run_ids = _url_run_ids()
if run_ids:
    _results(run_ids)
