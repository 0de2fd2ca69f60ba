"""Display names of the class (vision_core/classroom/names.py): the rule, pseudonyms, the teacher's say, a damaged
file."""

from __future__ import annotations

import json
import os

import pytest

from vision_core.classroom import names
from vision_core.classroom.names import NameBook

ALICE, BOB = "a" * 20, "b" * 20


def test_a_name_follows_the_rule_and_a_refusal_names_the_value_and_the_rule():
    assert names.check_name("  Ada   Lovelace ") == "Ada Lovelace"
    assert names.check_name("Bob\nRoss") == "Bob Ross"  # a newline is whitespace: tidied, never shown
    assert names.check_name("Zoë O'Neil-Ng") == "Zoë O'Neil-Ng"
    assert names.check_name("李小龙") == "李小龙"
    for bad, says in [("A", "has 1 characters"), ("x" * 25, "has 25 characters"), ("<b>Bob</b>", "'<'"),
                      ("[x](https://h)", "'['"), ("Bob\u202e", "'\\u202e'"), ("-Bob", "starts with '-'"),
                      ("a*b", "'*'")]:
        with pytest.raises(names.BadName) as caught:
            names.check_name(bad)
        message = str(caught.value)
        assert says in message and "2 to 24 characters" in message
        assert bad[:3] in message or repr(bad)[1:4] in message  # the value received
    with pytest.raises(names.BadName, match="must be text"):
        names.check_name(None)


def test_a_pseudonym_is_stable_animal_style_and_differs_between_people():
    first = names.pseudonym(ALICE)
    assert first == names.pseudonym(ALICE)
    adjective, animal = first.split(" ")
    assert adjective in names.ADJECTIVES and animal in names.ANIMALS
    many = {names.pseudonym(f"owner{i:04d}") for i in range(200)}
    assert len(many) > 180  # 2,304 pseudonyms: few of 200 people share one
    names.check_name(first)  # a pseudonym is a valid name itself


def test_a_person_without_a_name_shows_the_pseudonym_then_their_name(tmp_path):
    book = NameBook(tmp_path)
    assert book.display(ALICE) == names.pseudonym(ALICE)
    assert book.set_name(ALICE, " Ada ") == "Ada"
    assert book.display(ALICE) == "Ada"
    assert NameBook(tmp_path).display(ALICE) == "Ada"  # on the server: another session (or a restart) sees it
    assert book.display(BOB) == names.pseudonym(BOB)
    assert book.display(None) == names.COMMAND_LINE
    book.set_name(ALICE, "Ada L")  # changeable
    assert book.display(ALICE) == "Ada L"
    book.clear(ALICE)
    assert book.display(ALICE) == names.pseudonym(ALICE)
    with pytest.raises(names.BadName):
        book.set_name(ALICE, "<script>")
    with pytest.raises(names.BadName, match="not a person"):
        book.set_name("../x", "Ada")


def test_the_teacher_renames_and_hides_and_a_hidden_name_stays_hidden(tmp_path):
    book = NameBook(tmp_path)
    book.set_name(ALICE, "Rude Word")
    book.set_name(ALICE, "Alice", by_teacher=True)
    assert book.display(ALICE) == "Alice" and book.get(ALICE).by_teacher
    book.hide(ALICE)
    assert book.display(ALICE) == names.pseudonym(ALICE)
    book.set_name(ALICE, "Rude Again")  # the student changes it: still hidden
    assert book.display(ALICE) == names.pseudonym(ALICE)
    book.clear(ALICE)  # clearing does not undo the hide either
    assert book.get(ALICE).hidden
    book.hide(ALICE, False)
    assert book.display(ALICE) == "Rude Again"
    book.hide(BOB)  # hidden before choosing any name: a name chosen later stays hidden
    book.set_name(BOB, "Bob")
    assert book.display(BOB) == names.pseudonym(BOB)


@pytest.mark.parametrize("content", ["{not json", json.dumps([1, 2]), json.dumps({"people": "x"}),
                                     "x" * 1_100_000])
def test_a_damaged_file_means_pseudonyms_and_the_next_save_replaces_it(tmp_path, content):
    (tmp_path / names.FILE_NAME).write_text(content)
    book = NameBook(tmp_path)
    assert book.display(ALICE) == names.pseudonym(ALICE)
    assert book.problems()
    book.set_name(ALICE, "Ada")
    assert book.display(ALICE) == "Ada" and book.problems() == []


def test_bad_entries_are_dropped_one_by_one(tmp_path):
    good = {"name": "Ada", "hidden": False, "by_teacher": False, "updated": 1.0}
    (tmp_path / names.FILE_NAME).write_text(json.dumps({"people": {
        ALICE: good, BOB: {**good, "name": "![x](https://h/p.png)"}, "../etc": good,
        "c" * 20: {**good, "hidden": "yes"}, "d" * 20: "Ada"}}))
    book = NameBook(tmp_path)
    assert book.people() == {ALICE: names.Person("Ada", False, False, 1.0)}
    assert len(book.problems()) == 4
    assert book.display(BOB) == names.pseudonym(BOB)


def test_a_link_in_place_of_the_file_is_not_followed(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"people": {ALICE: {"name": "Ada"}}}))
    root = tmp_path / "runs"
    root.mkdir()
    os.symlink(outside, root / names.FILE_NAME)
    book = NameBook(root)
    assert book.display(ALICE) == names.pseudonym(ALICE)
    book.set_name(BOB, "Bob")  # the save replaces the link, never writes through it
    assert not (root / names.FILE_NAME).is_symlink()
    assert json.loads(outside.read_text()) == {"people": {ALICE: {"name": "Ada"}}}


def test_a_change_from_another_process_is_seen_at_the_next_read(tmp_path):
    mine, theirs = NameBook(tmp_path), NameBook(tmp_path)
    assert mine.display(ALICE) == names.pseudonym(ALICE)  # cached
    theirs.set_name(ALICE, "Ada")
    theirs.set_name(BOB, "Bob")
    assert mine.display(ALICE) == "Ada" and mine.display(BOB) == "Bob"
    mine.set_name(ALICE, "Ada L")  # a write re-reads the file first: Bob's name is kept
    assert theirs.people().keys() == {ALICE, BOB}
