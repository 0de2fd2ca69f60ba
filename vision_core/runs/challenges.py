"""Challenges: one task for the whole class, scored on held-out images no run for it trains or validates on.

A challenge is a plain JSON file in the runs folder, ``<runs>/.challenges/<name>.json`` (the dot keeps it out of
the run listing), written by the teacher and read like a run folder: a sized read, every value's type checked,
a damaged file listed apart with its reason (``scan_challenges``), never breaking the others.

A run is "for" a challenge when its ``RunConfig.challenge`` names it. The gate (``training.guards.gate``) refuses
one that breaks the challenge's constraints (``check_run``); the data leaves the challenge's held-out images out
(``datasets.HeldOut``: ``held_out`` images of the training pool chosen by ``seed``); the worker scores the
finished run on them and writes ``score.json`` in the run folder (``training.scoring``); ``leaderboard`` ranks the
best counted run of each person. Torch-free: the Challenges page reads these files on every view.

Example::

    create_challenge("Digits under 50k", "digits", max_parameters=50_000, root=tmp)   # name "digits-under-50k"
    check_run(load_challenge("digits-under-50k", tmp), RunConfig(model="lenet"), parameters=61_706)  # refused
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vision_core.config import CHALLENGE_NAME_RE, RunConfig
from vision_core.runs.store import (
    _NAME_RE,
    MAX_NAME_CHARS,
    RunError,
    RunRecord,
    _read_json,
    _write_json,
    clean_name,
    runs_root,
)

CHALLENGES_DIR = ".challenges"
MAX_TITLE_CHARS = MAX_NAME_CHARS
SCORE_FILE = "score.json"
MAX_HELD_OUT = 10_000  # held-out images scored per finished run, on the worker's CPU: seconds, not minutes
# Dataset options a student still chooses for a challenge run: how big the images are fed, how much of the rest
# validates, how much of it trains. Every other option (shapes' n_train, difficulty, seed, an image folder)
# decides which images exist, and so which ones are held out: those are the challenge's.
FREE_DATASET_OPTIONS = ("image_size", "val_size", "train_limit", "root")


class ChallengeError(ValueError):
    """A challenge that cannot be made, read or entered; the message names the value and the limit."""


@dataclass(frozen=True)
class Challenge:
    """One challenge as its file holds it (every field checked on read).

    ``deadline`` / ``frozen_at``: seconds since the epoch on the server's clock (None: none). A run counts on the
    leaderboard when it finished before both.
    """

    name: str  # CHALLENGE_NAME_RE: the file name and the ?challenge= link
    title: str  # what the teacher typed, as text
    dataset: str
    dataset_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0  # chooses the held-out images; recorded so `vision-core score` finds the same ones
    held_out: int = 300
    max_parameters: int | None = None
    max_epochs: int | None = None
    allowed_models: tuple[str, ...] = ()  # empty: every model of the zoo
    custom_models: bool = True  # the zoo's "custom" template
    deadline: float | None = None
    frozen: bool = False
    frozen_at: float | None = None
    created: float = 0.0

    @property
    def closes_at(self) -> float | None:
        """When runs stop counting: the deadline or the freeze, whichever came first; None while neither."""
        ends = [t for t in (self.deadline, self.frozen_at if self.frozen else None) if t is not None]
        return min(ends) if ends else None

    def is_open(self, now: float | None = None) -> bool:
        """Whether a new run still counts: not frozen, and before the deadline (if any)."""
        now = time.time() if now is None else now
        return not self.frozen and (self.deadline is None or now < self.deadline)

    def constraints(self) -> list[str]:
        """The rules in words, for the form and the page: ``["at most 50,000 parameters", ...]``."""
        rules = []
        if self.max_parameters is not None:
            rules.append(f"at most {self.max_parameters:,} parameters")
        if self.max_epochs is not None:
            rules.append(f"at most {self.max_epochs:,} epochs")
        if self.allowed_models:
            rules.append("models: " + ", ".join(self.allowed_models))
        if not self.custom_models:
            rules.append("no custom models")
        return rules

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["allowed_models"] = list(self.allowed_models)
        return data


@dataclass(frozen=True)
class DamagedChallenge:
    name: str
    reason: str


def when(timestamp: float | None) -> str:
    """A time on the server's clock as people read it: ``2026-11-22 14:00``; "" for None."""
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp is not None else ""


# --------------------------------------------------------------------------- files


def challenges_dir(root: str | os.PathLike | None = None) -> Path:
    return runs_root(root) / CHALLENGES_DIR


def validate_name(name: Any) -> str:
    if isinstance(name, str) and CHALLENGE_NAME_RE.match(name):
        return name
    shown = repr(name[:60] if isinstance(name, str) else name)
    raise ChallengeError(f"{shown} is not a challenge name: up to 40 lower-case letters, digits or '-'.")


def challenge_file(name: str, root: str | os.PathLike | None = None) -> Path:
    """``<runs>/.challenges/<name>.json``, the name checked first (no path can come in through it)."""
    return challenges_dir(root) / f"{validate_name(name)}.json"


def slug(title: str) -> str:
    """A challenge name made from its title: ``"Digits under 50k!"`` → ``"digits-under-50k"``."""
    text = re.sub(r"[^a-z0-9]+", "-", clean_name(title).lower()).strip("-")[:40].strip("-")
    return text or f"challenge-{secrets.token_hex(2)}"


def _whole(value: Any, what: str, low: int, high: int | None = None, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"between {low:,} and {high:,}" if high is not None else f"≥ {low:,}"
        raise ChallengeError(f"{what} must be a whole number {allowed}, got {str(value)[:40]!r}")
    return value


def _time(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ChallengeError(f"{what} must be a time (seconds), got {str(value)[:40]!r}")
    return float(value)


def _checked(data: Any) -> Challenge:
    """A Challenge from a file's (or a form's) values: every field's type and range checked."""
    if not isinstance(data, dict):
        raise ChallengeError("it is not a JSON object")
    name = validate_name(data.get("name"))
    title = clean_name(data.get("title")) or name
    dataset = data.get("dataset")
    if not (isinstance(dataset, str) and _NAME_RE.match(dataset)):
        raise ChallengeError(f"dataset must be a dataset's name, got {str(dataset)[:40]!r}")
    options = data.get("dataset_options", {})
    if not (isinstance(options, dict) and all(isinstance(k, str) and _NAME_RE.match(k) for k in options)
            and all(v is None or isinstance(v, (str, int, float, bool)) for v in options.values())
            and "root" not in options):
        raise ChallengeError("dataset_options must map option names to plain values (never a path)")
    models = data.get("allowed_models", [])
    if not (isinstance(models, list) and all(isinstance(m, str) and _NAME_RE.match(m) for m in models)):
        raise ChallengeError("allowed_models must be a list of model names")
    for flag in ("custom_models", "frozen"):
        if not isinstance(data.get(flag, flag == "custom_models"), bool):
            raise ChallengeError(f"{flag} must be true or false")
    return Challenge(
        name=name, title=title, dataset=dataset, dataset_options=dict(options),
        seed=_whole(data.get("seed", 0), "seed", 0, 2**31 - 1),
        held_out=_whole(data.get("held_out", 300), "The held-out split", 1, MAX_HELD_OUT),
        max_parameters=_whole(data.get("max_parameters"), "Most parameters", 1, optional=True),
        max_epochs=_whole(data.get("max_epochs"), "Most epochs", 1, optional=True),
        allowed_models=tuple(sorted(set(models))), custom_models=data.get("custom_models", True),
        deadline=_time(data.get("deadline"), "deadline"), frozen=data.get("frozen", False),
        frozen_at=_time(data.get("frozen_at"), "frozen_at"), created=_time(data.get("created", 0.0), "created") or 0.0)


def create_challenge(title: str, dataset: str, *, root: str | os.PathLike | None = None, name: str | None = None,
                     seed: int | None = None, **fields: Any) -> Challenge:
    """Make a challenge (the teacher's): checked like a file read back, written once (an existing name is refused).

    ``fields``: dataset_options, held_out, max_parameters, max_epochs, allowed_models, custom_models, deadline.
    ``seed`` (default: a random one) chooses the held-out images. Example:
    ``create_challenge("Small nets", "digits", max_parameters=50_000, deadline=time.time() + 3600)``.
    """
    unknown = sorted(set(fields) - {"dataset_options", "held_out", "max_parameters", "max_epochs", "allowed_models",
                                    "custom_models", "deadline"})
    if unknown:
        raise TypeError(f"create_challenge() got unknown field(s) {unknown}")
    if not clean_name(title):
        raise ChallengeError("Give the challenge a title: it names the challenge on the page and in its link.")
    if fields.get("deadline") is not None and fields["deadline"] <= time.time():
        raise ChallengeError(f"The deadline {when(fields['deadline'])} is already past: choose a later one.")
    fields["allowed_models"] = list(fields.get("allowed_models") or [])
    challenge = _checked({"name": name or slug(title), "title": title, "dataset": dataset,
                          "seed": secrets.randbelow(2**31) if seed is None else seed, "created": time.time(),
                          **fields})
    path = challenge_file(challenge.name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: two teachers' tabs making the same name at once get one challenge and one clear refusal
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise ChallengeError(f"A challenge named {challenge.name!r} exists already: choose another title.") from None
    with os.fdopen(fd, "w") as file:
        json.dump(challenge.to_dict(), file, indent=2, sort_keys=True)
    return challenge


def _read(path: Path) -> Challenge:
    try:
        data = _read_json(path)
    except RunError as exc:
        raise ChallengeError(str(exc)) from None
    if data is None:
        raise ChallengeError("its file is missing")
    challenge = _checked(data)
    if challenge.name != path.stem:
        raise ChallengeError(f"it names itself {challenge.name!r}, not {path.stem!r}")
    return challenge


def load_challenge(name: str, root: str | os.PathLike | None = None) -> Challenge:
    """The challenge called ``name``; ChallengeError saying why when there is none or its file is damaged."""
    path = challenge_file(name, root)
    if not os.path.lexists(path):
        raise ChallengeError(f"There is no challenge named {name!r} (the teacher may have removed it).")
    try:
        return _read(path)
    except ChallengeError as exc:
        raise ChallengeError(f"The challenge {name!r} cannot be read: {exc}.") from None


def scan_challenges(root: str | os.PathLike | None = None) -> tuple[list[Challenge], list[DamagedChallenge]]:
    """Every readable challenge (newest first) and every damaged file with its reason; never raises."""
    good, damaged = [], []
    try:
        paths = sorted(challenges_dir(root).glob("*.json"))
    except OSError:
        return [], []
    for path in paths:
        if not CHALLENGE_NAME_RE.match(path.stem):
            continue  # not a file we write (a temporary file, a stray one): not a challenge at all
        try:
            good.append(_read(path))
        except ChallengeError as exc:
            damaged.append(DamagedChallenge(path.stem, str(exc)))
        except Exception as exc:  # noqa: BLE001 — one file on disk must never break the listing of the others
            damaged.append(DamagedChallenge(path.stem, f"unreadable ({type(exc).__name__})"))
    return sorted(good, key=lambda c: (-c.created, c.name)), damaged


def freeze(name: str, root: str | os.PathLike | None = None, now: float | None = None) -> Challenge:
    """Freeze the leaderboard now (the teacher's): runs finishing later no longer count. Freezing twice keeps the
    first time."""
    challenge = load_challenge(name, root)
    if challenge.frozen:
        return challenge
    data = {**challenge.to_dict(), "frozen": True, "frozen_at": time.time() if now is None else now}
    _write_json(challenge_file(name, root), data)
    return _checked(data)


# --------------------------------------------------------------------------- the rules of a run


def check_run(challenge: Challenge, config: RunConfig, parameters: int | None = None,
              now: float | None = None) -> None:
    """Refuse a run for ``challenge`` that breaks one of its rules: ChallengeError naming the value and the limit.

    ``parameters``: the model's count (the gate counts it on the meta device). Example: a LeNet on digits →
    "This model has 61,706 parameters; the challenge allows at most 50,000."
    """
    label = f"the challenge “{challenge.title}”"
    if not challenge.is_open(now):
        how = "was frozen" if challenge.frozen and challenge.closes_at == challenge.frozen_at else "closed"
        raise ChallengeError(f"{label[0].upper()}{label[1:]} {how} at {when(challenge.closes_at)}: new runs no longer "
                             "count. Start the run without the challenge.")
    if config.dataset != challenge.dataset:
        raise ChallengeError(f"{label[0].upper()}{label[1:]} is on the dataset {challenge.dataset}; this run uses "
                             f"{config.dataset}. Choose {challenge.dataset}.")
    fixed = {k: v for k, v in config.dataset_options.items() if k not in FREE_DATASET_OPTIONS}
    if fixed != challenge.dataset_options:
        raise ChallengeError(f"{label[0].upper()}{label[1:]} fixes the dataset's options to "
                             f"{challenge.dataset_options or 'its defaults'}; this run sets {fixed or 'the defaults'}. "
                             "Only the image size, the validation size and the training limit are yours to choose.")
    if config.model == "custom" and not challenge.custom_models:
        raise ChallengeError(f"{label[0].upper()}{label[1:]} does not allow custom models; choose one of "
                             f"{', '.join(challenge.allowed_models) or 'the zoo models'}.")
    if challenge.allowed_models and config.model not in challenge.allowed_models and config.model != "custom":
        raise ChallengeError(f"This run uses the model {config.model}; {label} allows "
                             f"{', '.join(challenge.allowed_models)}.")
    if challenge.max_epochs is not None and config.epochs > challenge.max_epochs:
        raise ChallengeError(f"This run trains {config.epochs:,} epochs; {label} allows at most "
                             f"{challenge.max_epochs:,}.")
    if challenge.max_parameters is not None and parameters is not None and parameters > challenge.max_parameters:
        raise ChallengeError(f"This model has {parameters:,} parameters; {label} allows at most "
                             f"{challenge.max_parameters:,}.")


# --------------------------------------------------------------------------- scores and the leaderboard


def write_score(run_path: str | os.PathLike, score: dict[str, Any]) -> None:
    """``<run>/score.json``: written by the server that trained the run (a student never writes a run folder)."""
    _write_json(Path(run_path) / SCORE_FILE, score)


def read_score(run: RunRecord) -> dict[str, Any] | None:
    """The run's score as checked numbers, or None when it has none (or a damaged one: that run is not ranked).

    Keys: challenge, accuracy (0..1), correct, images, seed, finished_at, scored_at, checkpoint.
    """
    try:
        data = _read_json(run.path / SCORE_FILE)
    except RunError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("challenge"), str):
        return None
    numbers = ("accuracy", "correct", "images", "seed", "finished_at", "scored_at")
    if not all(isinstance(data.get(k), (int, float)) and not isinstance(data.get(k), bool)
               and math.isfinite(data[k]) for k in numbers):
        return None
    if not 0 <= data["accuracy"] <= 1 or data.get("checkpoint") not in ("best", "last"):
        return None
    return {k: data[k] for k in (*numbers, "challenge", "checkpoint")}


@dataclass(frozen=True)
class Entry:
    """One person's best counted run: what the leaderboard shows."""

    rank: int
    owner: str | None  # None: the teacher's (command-line) runs
    run_id: str
    run_name: str
    accuracy: float
    correct: int
    images: int
    parameters: int | None
    train_seconds: float | None
    epochs: int | None
    model: str
    finished_at: float


def _number(summary: dict[str, Any] | None, key: str) -> float | None:
    value = (summary or {}).get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def counted_runs(challenge: Challenge, records: list[RunRecord]) -> list[tuple[RunRecord, dict[str, Any]]]:
    """The finished runs for ``challenge`` that count, with their scores: scored on this challenge's held-out split
    (same seed and size: a challenge made again under an old name does not inherit old scores), finished before it
    closed, and within its rules as recorded."""
    counted = []
    for run in records:
        if run.config.challenge != challenge.name or run.state != "finished":
            continue
        score = read_score(run)
        if score is None or score["challenge"] != challenge.name or score["seed"] != challenge.seed \
                or score["images"] != challenge.held_out:
            continue
        closes = challenge.closes_at
        if closes is not None and score["finished_at"] > closes:
            continue
        parameters = _number(run.summary, "parameters")
        if challenge.max_parameters is not None and parameters is not None and parameters > challenge.max_parameters:
            continue
        counted.append((run, score))
    return counted


def _order(item: tuple[RunRecord, dict[str, Any]]) -> tuple:
    """Higher accuracy first; on a tie the smaller model, then the shorter training, then whoever finished first."""
    run, score = item
    parameters = _number(run.summary, "parameters")
    seconds = _number(run.summary, "train_seconds")
    return (-score["accuracy"], parameters if parameters is not None else math.inf,
            seconds if seconds is not None else math.inf, score["finished_at"], run.run_id)


def leaderboard(challenge: Challenge, records: list[RunRecord]) -> list[Entry]:
    """The best counted run of each person, ranked (see ``_order``); equal accuracy, size and time share a rank.

    Example: ``leaderboard(load_challenge("small-nets"), list_runs())[0].accuracy``.
    """
    best: dict[str | None, tuple[RunRecord, dict[str, Any]]] = {}
    for item in counted_runs(challenge, records):
        owner = item[0].owner
        if owner not in best or _order(item) < _order(best[owner]):
            best[owner] = item
    entries: list[Entry] = []
    previous = None
    for position, (run, score) in enumerate(sorted(best.values(), key=_order), start=1):
        key = _order((run, score))[:3]
        rank = entries[-1].rank if entries and key == previous else position
        previous = key
        epochs = _number(run.summary, "epochs_completed")
        parameters = _number(run.summary, "parameters")
        entries.append(Entry(rank=rank, owner=run.owner, run_id=run.run_id, run_name=run.label,
                             accuracy=float(score["accuracy"]), correct=int(score["correct"]),
                             images=int(score["images"]), parameters=int(parameters) if parameters is not None else None,
                             train_seconds=_number(run.summary, "train_seconds"),
                             epochs=int(epochs) if epochs is not None else None, model=run.config.model,
                             finished_at=float(score["finished_at"])))
    return entries
