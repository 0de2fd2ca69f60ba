"""Display names of the class: what a student chose to be called, or a stable animal-style pseudonym.

A classroom server has no accounts: a person is the owner hash of their browser's token (ui/identity.py). A
student may give that person a display name (changeable at any time); it is kept in one small JSON file in the
runs folder, ``.class-names.json`` (a dot: never a run id, so the run listing ignores it), keyed by the owner
hash. Nothing else about a browser is ever shown: without a name a person appears as a pseudonym derived from the
owner hash (``"Teal Otter"``), the same on every page and after every restart.

The teacher can rename a person (the student may still change it afterwards) or hide their name: a hidden name is
replaced by the pseudonym everywhere, and stays hidden when the student changes it, until the teacher shows it
again.

The rule for a name (``check_name``): 2 to 24 characters; letters (any alphabet), digits, spaces and ``- ' .``;
it starts with a letter or a digit. Every value read from the file is checked the same way: a bad entry is
dropped, a damaged file reads as "no names" (everyone shows their pseudonym) and is replaced at the next save.
Writes are atomic (write then rename) under a thread lock and an OS lock, so two server processes never lose each
other's names. Pure Python: no Streamlit, no torch.

Example::

    book = NameBook(runs_root)
    book.set_name(owner, "Ada")          # the student's choice
    book.display(owner)                  # "Ada"
    book.hide(owner, True)               # the teacher hides it
    book.display(owner)                  # "Teal Otter"
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = ".class-names.json"
LOCK_NAME = ".class-names.lock"
MIN_CHARS, MAX_CHARS = 2, 24
NAME_RULE = (f"{MIN_CHARS} to {MAX_CHARS} characters: letters, digits, spaces, hyphens (-), apostrophes (') or "
             "dots, starting with a letter or a digit")
MAX_PEOPLE = 5_000  # far more than a class; a file with more entries is not ours and its extra entries are dropped
_MAX_FILE_BYTES = 1_000_000
_OWNER_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # as runs.store checks owner.json
_ALLOWED_PUNCTUATION = " -'."

# 48 × 48 = 2,304 pseudonyms: two students of a class of 30 share one with a chance of about 1 in 5; the page
# tells people apart by their runs, and anyone who minds picks a name.
ADJECTIVES = (
    "Amber", "Azure", "Bold", "Brave", "Bright", "Calm", "Clever", "Coral", "Cosmic", "Crimson", "Curious", "Daring",
    "Eager", "Emerald", "Fuzzy", "Gentle", "Golden", "Happy", "Indigo", "Jolly", "Keen", "Kind", "Lively", "Lucky",
    "Lunar", "Mellow", "Mighty", "Misty", "Nimble", "Olive", "Plucky", "Polar", "Quick", "Quiet", "Rapid", "Rosy",
    "Ruby", "Sandy", "Silver", "Sleepy", "Snowy", "Solar", "Sunny", "Swift", "Teal", "Tidy", "Violet", "Witty",
)
ANIMALS = (
    "Alpaca", "Badger", "Beaver", "Bison", "Camel", "Cheetah", "Crane", "Dolphin", "Eagle", "Falcon", "Ferret",
    "Finch", "Fox", "Gecko", "Gibbon", "Heron", "Ibis", "Jaguar", "Koala", "Lemur", "Lynx", "Marmot", "Meerkat",
    "Moose", "Narwhal", "Newt", "Ocelot", "Orca", "Otter", "Owl", "Panda", "Pelican", "Penguin", "Puffin", "Quokka",
    "Rabbit", "Raven", "Seal", "Sloth", "Stork", "Tapir", "Tiger", "Toucan", "Turtle", "Walrus", "Wombat", "Yak",
    "Zebra",
)
COMMAND_LINE = "Teacher (command line)"  # a run without an owner: started from the CLI, the teacher's


class BadName(ValueError):
    """A display name that breaks the rule; the message names the value received and the rule."""


def check_name(name: object) -> str:
    """``name`` tidied (outer spaces off, inner runs of spaces made one) when it follows NAME_RULE, else BadName.

    Example: ``check_name("  Ada  Lovelace ")`` → ``"Ada Lovelace"``; ``check_name("<b>x</b>")`` raises.
    """
    if not isinstance(name, str):
        raise BadName(f"A name must be text, got {type(name).__name__}.")
    tidy = " ".join(name.split())
    shown = repr(tidy[:40] + ("…" if len(tidy) > 40 else ""))
    if not MIN_CHARS <= len(tidy) <= MAX_CHARS:
        raise BadName(f"{shown} has {len(tidy)} characters; a name has {NAME_RULE}.")
    bad = sorted({ch for ch in tidy if not (ch.isalnum() or ch in _ALLOWED_PUNCTUATION)})
    if bad:
        listed = " ".join(repr(ch) for ch in bad[:5])
        raise BadName(f"{shown} holds characters a name may not hold ({listed}); a name has {NAME_RULE}.")
    if not tidy[0].isalnum():
        raise BadName(f"{shown} starts with {tidy[0]!r}; a name has {NAME_RULE}.")
    return tidy


@functools.lru_cache(maxsize=4096)  # the wall asks for thirty of them every refresh
def pseudonym(owner: str) -> str:
    """The stable animal-style name of a person without one: the same owner hash always gives the same name.

    Example: ``pseudonym("3fa1c2...")`` → ``"Teal Otter"``.
    """
    digest = hashlib.sha256(f"cnnlab-pseudonym:{owner}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    return f"{ADJECTIVES[number % len(ADJECTIVES)]} {ANIMALS[(number // len(ADJECTIVES)) % len(ANIMALS)]}"


@dataclass(frozen=True)
class Person:
    """One entry of the name book: the name chosen (or given by the teacher), and whether the teacher hid it."""

    name: str
    hidden: bool = False
    by_teacher: bool = False  # the last change was the teacher's
    updated: float = 0.0


def _entry(value: object) -> Person | None:
    """A Person from one value of the file; None when anything in it is not what we write."""
    if not isinstance(value, dict):
        return None
    try:
        name = check_name(value.get("name"))
    except BadName:
        return None
    hidden, by_teacher, updated = value.get("hidden", False), value.get("by_teacher", False), value.get("updated", 0)
    if not isinstance(hidden, bool) or not isinstance(by_teacher, bool):
        return None
    if isinstance(updated, bool) or not isinstance(updated, (int, float)) or not math.isfinite(updated):
        updated = 0.0
    return Person(name, hidden, by_teacher, float(updated))


class NameBook:
    """The class's display names in ``<runs root>/.class-names.json``; every method is safe from any thread.

    Reading is cached by the file's identity (inode, size, mtime): thirty pages asking for names cost one parse.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.path = self.root / FILE_NAME
        self._lock = threading.Lock()  # this process's writers; other processes: the OS lock in _changing
        self._cache: tuple[tuple[int, int, int], dict[str, Person], list[str]] | None = None

    # ---- reading ---------------------------------------------------------------------------------
    def _stat_key(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return None
        return stat.st_ino, stat.st_size, stat.st_mtime_ns

    def _parse(self) -> tuple[dict[str, Person], list[str]]:
        """Every valid entry of the file, and what was wrong with it (a damaged file: no names, one problem)."""
        if self.path.is_symlink():
            return {}, [f"{FILE_NAME} is a link (ignored)"]
        try:
            if self.path.stat().st_size > _MAX_FILE_BYTES:
                return {}, [f"{FILE_NAME} is too large (ignored)"]
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}, []
        except (OSError, ValueError):
            return {}, [f"{FILE_NAME} is not readable JSON (ignored: everyone shows their pseudonym)"]
        people = data.get("people") if isinstance(data, dict) else None
        if not isinstance(people, dict):
            return {}, [f"{FILE_NAME} holds no 'people' object (ignored)"]
        good, problems = {}, []
        for owner, value in list(people.items())[:MAX_PEOPLE]:
            person = _entry(value) if isinstance(owner, str) and _OWNER_RE.match(owner) else None
            if person is None:
                problems.append(f"an entry of {FILE_NAME} is not a valid name (ignored)")
            else:
                good[owner] = person
        return good, problems

    def _read(self) -> tuple[dict[str, Person], list[str]]:
        key = self._stat_key()
        cached = self._cache
        if cached is not None and key is not None and cached[0] == key:
            return cached[1], cached[2]
        if key is None:
            return {}, []
        people, problems = self._parse()
        self._cache = (key, people, problems)
        return people, problems

    def people(self) -> dict[str, Person]:
        """owner hash → Person, for every valid entry."""
        return dict(self._read()[0])

    def problems(self) -> list[str]:
        """What was wrong with the file (for the teacher); [] when it is fine or missing."""
        return list(self._read()[1])

    def get(self, owner: str | None) -> Person | None:
        return self._read()[0].get(owner) if owner else None

    def display(self, owner: str | None) -> str:
        """What the class sees for ``owner``: the chosen name, else (none, or hidden by the teacher) the pseudonym."""
        if owner is None:
            return COMMAND_LINE
        person = self.get(owner)
        if person is None or person.hidden:
            return pseudonym(owner)
        return person.name

    # ---- writing ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _changing(self):
        """Read, change, write under this process's lock and the OS lock (other server processes on the folder)."""
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._cache = None
                people = self._parse()[0]
                yield people
                self._write(people)
            finally:
                os.close(fd)  # closing drops the flock

    def _write(self, people: dict[str, Person]) -> None:
        data = {"people": {owner: {"name": p.name, "hidden": p.hidden, "by_teacher": p.by_teacher,
                                   "updated": p.updated} for owner, p in people.items()}}
        tmp = self.path.with_name(f"{FILE_NAME}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.unlink(missing_ok=True)  # never write through a link left at that name
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
        self._cache = None

    @staticmethod
    def _check_owner(owner: object) -> str:
        if not (isinstance(owner, str) and _OWNER_RE.match(owner)):
            raise BadName(f"{str(owner)[:40]!r} is not a person of this class.")
        return owner

    def set_name(self, owner: str, name: str, *, by_teacher: bool = False) -> str:
        """Give ``owner`` the display name ``name`` (checked: BadName with the rule); returns it as stored.

        A name the teacher hid stays hidden when its owner changes it (only the teacher shows it again).
        """
        owner, name = self._check_owner(owner), check_name(name)
        with self._changing() as people:
            if owner not in people and len(people) >= MAX_PEOPLE:
                raise BadName(f"The class already has {MAX_PEOPLE} names: ask the teacher to clear some.")
            before = people.get(owner)
            people[owner] = Person(name, hidden=before.hidden if before else False, by_teacher=by_teacher,
                                   updated=time.time())
        return name

    def clear(self, owner: str) -> None:
        """Forget ``owner``'s name (they show their pseudonym again); a name the teacher hid stays hidden."""
        owner = self._check_owner(owner)
        with self._changing() as people:
            before = people.pop(owner, None)
            if before is not None and before.hidden:
                people[owner] = before  # clearing must not undo the teacher's hide

    def hide(self, owner: str, hidden: bool = True) -> None:
        """The teacher hides (or shows again) ``owner``'s name: hidden, the class sees the pseudonym."""
        owner = self._check_owner(owner)
        with self._changing() as people:
            before = people.get(owner)
            if before is None:
                if not hidden:
                    return
                before = Person(pseudonym(owner))  # nothing to hide yet: a name they choose later stays hidden
            people[owner] = Person(before.name, hidden=hidden, by_teacher=True, updated=time.time())


_books: dict[Path, NameBook] = {}
_books_lock = threading.Lock()


def book(root: str | os.PathLike) -> NameBook:
    """The name book of a runs folder, shared by every session of this process (one cache, one lock)."""
    key = Path(root).resolve()
    with _books_lock:
        if key not in _books:
            _books[key] = NameBook(key)
        return _books[key]
