"""Challenges (issue 20.3/20.5): held-out images no run for the challenge sees, rules refused in the gate and at
submission, the server's score equal to `vision-core score`, damaged challenge files, the leaderboard's order."""

from __future__ import annotations

import json
import os
import time

import pytest
import torch

from vision_core import cli
from vision_core.classroom import jobs
from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.runs import challenges
from vision_core.runs import store as runs
from vision_core.training import engine, guards

FAST = {"limit_train_batches": 3, "limit_val_batches": 1, "limit_test_batches": 1}


def rows(split: datasets.Split) -> set[bytes]:
    return {bytes(image.numpy()) for image in split.images.flatten(1)}


def tiny(challenge: str = "", **changes) -> RunConfig:
    return RunConfig(dataset="digits", model="tinyvgg", epochs=1, batch_size=32, snapshot_every=0,
                     challenge=challenge).replace(**changes)


# --------------------------------------------------------------------------- the held-out split


@pytest.mark.parametrize("challenge_seed", [0, 7, 12345])
@pytest.mark.parametrize("run_options", [{}, {"seed": 3, "val_size": 0.2}, {"val_size": 100, "train_limit": 500},
                                         {"image_size": 28}])
def test_held_out_images_are_never_in_a_challenge_runs_train_or_val_split(challenge_seed, run_options):
    pool = datasets.load("digits", val_size=0, image_size=run_options.get("image_size"))  # every training image
    assert len(rows(pool.train)) == len(pool.train)  # the digits are all different: images identify themselves
    held = datasets.HeldOut(300, challenge_seed)
    data = datasets.load("digits", held_out=held, **run_options)
    kept = rows(data.held_out)
    assert len(data.held_out) == 300
    assert kept.isdisjoint(rows(data.train)) and kept.isdisjoint(rows(data.val))
    assert kept == rows(pool.train.subset(datasets.held_out_indices(pool.train.labels, held)))
    assert kept.isdisjoint(rows(data.test))  # from the training pool: the Evaluate page's test split never has them
    assert rows(data.test) == rows(pool.test)  # and the test split is the usual one
    if "train_limit" not in run_options:  # nothing else of the pool is lost
        assert len(data.train) + len(data.val) + len(data.held_out) == len(pool.train)


def test_the_held_out_split_is_fixed_by_the_seed_and_takes_each_class_its_share():
    labels = datasets.load("digits", val_size=0).train.labels
    first = datasets.held_out_indices(labels, datasets.HeldOut(300, 7))
    assert torch.equal(first, datasets.held_out_indices(labels.clone(), datasets.HeldOut(300, 7)))
    assert not torch.equal(first, datasets.held_out_indices(labels, datasets.HeldOut(300, 8)))
    counts = torch.bincount(labels[first], minlength=10).float()
    assert (counts - 300 * torch.bincount(labels, minlength=10) / len(labels)).abs().max() <= 1


def test_the_plan_sizes_what_load_builds_with_a_held_out_split():
    held = datasets.HeldOut(300, 1)
    plan = datasets.plan("digits", held_out=held, val_size=0.1)
    data = datasets.load("digits", held_out=held, val_size=0.1)
    assert (plan.train, plan.val, plan.test) == (len(data.train), len(data.val), len(data.test))
    with pytest.raises(ValueError, match="leaves no training images"):
        datasets.plan("digits", held_out=datasets.HeldOut(1438, 1))


# --------------------------------------------------------------------------- the rules, in the gate


@pytest.fixture
def small_nets(tmp_path):
    challenges.create_challenge("Digits under 50k", "digits", root=tmp_path, max_parameters=50_000, seed=7,
                                held_out=300)
    return tmp_path


def test_a_model_over_the_challenges_parameters_is_refused_by_the_gate_with_the_limit_named(small_nets):
    with pytest.raises(challenges.ChallengeError,
                       match="This model has 61,706 parameters; the challenge “Digits under 50k” allows at most 50,000"):
        guards.gate(tiny("digits-under-50k", model="lenet"), root=small_nets)
    assert guards.gate(tiny("digits-under-50k"), root=small_nets).parameters < 50_000
    guards.gate(tiny(model="lenet"), root=small_nets)  # outside the challenge LeNet is fine


def test_a_crafted_submission_is_refused_before_a_run_is_queued(small_nets):
    scheduler = jobs.Scheduler(small_nets, launcher=type("L", (), {"resolve_accelerator": lambda s, a: "cpu"})())
    scheduler.start = lambda: scheduler
    with pytest.raises(jobs.QueueError, match="61,706 parameters.*at most 50,000"):
        scheduler.submit(tiny("digits-under-50k", model="lenet"), owner="student-a")
    assert runs.list_runs(small_nets) == []


def test_the_worker_refuses_it_too_before_loading_anything(small_nets):
    config = tiny("digits-under-50k", model="lenet")
    run = runs.create_run(config, small_nets, owner="student-a")  # as if it had slipped into the queue
    with pytest.raises(engine.TrainingError, match="at most 50,000"):
        engine.train(config, run=run)
    assert runs.load_run(run.run_id, small_nets).state == "failed"


@pytest.mark.parametrize("fields, config, message", [
    ({"max_epochs": 3}, tiny(epochs=5), "trains 5 epochs; the challenge “C” allows at most 3"),
    ({"allowed_models": ["lenet", "mlp"]}, tiny(), "uses the model tinyvgg; the challenge “C” allows lenet, mlp"),
    ({"custom_models": False}, tiny(model="custom"), "does not allow custom models"),
    ({}, tiny(dataset="shapes"), "is on the dataset digits; this run uses shapes"),
    ({"dataset_options": {}}, tiny(dataset_options={"seed": 4}), "Only the image size, the validation size"),
    ({"deadline": 60}, tiny(), "closed at"),  # a minute from when the test runs, checked two minutes later
])
def test_each_rule_is_refused_naming_the_value_and_the_limit(tmp_path, fields, config, message):
    if "deadline" in fields:  # from now, not from collection: a busy suite reaches this test many minutes later
        fields = {**fields, "deadline": time.time() + fields["deadline"]}
    challenges.create_challenge("C", "digits", root=tmp_path, name="c", **fields)
    with pytest.raises(challenges.ChallengeError, match=message):
        challenges.check_run(challenges.load_challenge("c", tmp_path), config.replace(challenge="c"), 9240,
                             now=time.time() + 120)


@pytest.mark.parametrize("title, fields, message", [
    ("  ", {}, "Give the challenge a title"),
    ("Late", {"deadline": 1000.0}, "is already past"),
    ("Big", {"held_out": 20_000}, "between 1 and 10,000"),
    ("Odd", {"max_parameters": -5}, "Most parameters must be a whole number ≥ 1"),
])
def test_a_challenge_the_teacher_cannot_mean_is_refused_with_the_reason(tmp_path, title, fields, message):
    with pytest.raises(challenges.ChallengeError, match=message):
        challenges.create_challenge(title, "digits", root=tmp_path, **fields)
    assert challenges.scan_challenges(tmp_path) == ([], [])


def test_a_frozen_challenge_takes_no_new_runs_and_image_size_stays_the_students(tmp_path):
    challenges.create_challenge("C", "digits", root=tmp_path, name="c")
    check = challenges.check_run
    check(challenges.load_challenge("c", tmp_path), tiny("c", dataset_options={"image_size": 28, "val_size": 0.2}))
    challenges.freeze("c", tmp_path)
    with pytest.raises(challenges.ChallengeError, match="was frozen at"):
        check(challenges.load_challenge("c", tmp_path), tiny("c"))


# --------------------------------------------------------------------------- the score


def test_the_servers_score_on_the_leaderboard_equals_vision_core_score(small_nets, capsys):
    summary = engine.train(tiny("digits-under-50k", lr=3e-3), root=small_nets, trainer_options=FAST)
    run = runs.list_runs(small_nets)[0]
    assert summary["status"] == run.state == "finished"
    assert run.data_info["held_out_size"] == 300
    board = challenges.leaderboard(challenges.load_challenge("digits-under-50k", small_nets), runs.list_runs(small_nets))
    assert [entry.run_id for entry in board] == [run.run_id]
    assert cli.main(["score", run.run_id, "--challenge", "digits-under-50k", "--runs-dir", str(small_nets)]) == 0
    printed = capsys.readouterr().out
    assert f"held-out accuracy {board[0].accuracy:.4f} ({board[0].correct:,} of 300 images" in printed
    assert "(the same)" in printed


def test_score_refuses_a_run_of_another_challenge(small_nets, capsys):
    challenges.create_challenge("Other", "digits", root=small_nets, name="other")
    run = runs.create_run(tiny("digits-under-50k"), small_nets)
    assert cli.main(["score", run.run_id, "--challenge", "other", "--runs-dir", str(small_nets)]) == 1
    assert "is not a run for the challenge 'other'" in capsys.readouterr().err


# --------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize("content, reason", [
    ("{not json", "not readable JSON"),
    (json.dumps({"name": "broken", "dataset": "digits", "held_out": "many"}), "held-out split must be a whole number"),
    (json.dumps({"name": "broken", "dataset": "../etc"}), "dataset must be a dataset's name"),
    (json.dumps({"name": "other-name", "dataset": "digits"}), "names itself 'other-name'"),
    (json.dumps({"name": "broken", "dataset": "digits", "dataset_options": {"root": "/"}}), "never a path"),
    (json.dumps([1, 2]), "not a JSON object"),
    (" " * 1_000_001, "not readable JSON"),  # over the size read: never parsed
])
def test_a_damaged_challenge_file_affects_only_itself(small_nets, content, reason):
    (challenges.challenges_dir(small_nets) / "broken.json").write_text(content)
    good, damaged = challenges.scan_challenges(small_nets)
    assert [c.name for c in good] == ["digits-under-50k"]
    assert [d.name for d in damaged] == ["broken"] and reason in damaged[0].reason
    with pytest.raises(challenges.ChallengeError, match="The challenge 'broken' cannot be read"):
        challenges.load_challenge("broken", small_nets)
    assert runs.scan(small_nets) == ([], [])  # the challenges' folder is no run folder, damaged or not


def test_a_link_in_place_of_a_challenge_file_is_not_followed(small_nets, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.json"
    outside.write_text(json.dumps({"name": "linked", "dataset": "digits"}))
    os.symlink(outside, challenges.challenges_dir(small_nets) / "linked.json")
    _, damaged = challenges.scan_challenges(small_nets)
    assert [(d.name, d.reason) for d in damaged] == [("linked", "linked.json is a link")]


@pytest.mark.parametrize("name", ["../x", "A", "", "a/b", "x" * 41, None])
def test_a_name_that_could_make_a_path_is_refused(small_nets, name):
    with pytest.raises(challenges.ChallengeError, match="is not a challenge name"):
        challenges.load_challenge(name, small_nets)


def test_the_same_name_twice_is_refused(small_nets):
    with pytest.raises(challenges.ChallengeError, match="exists already"):
        challenges.create_challenge("Digits under 50k!", "digits", root=small_nets)


# --------------------------------------------------------------------------- the leaderboard


def finished_run(root, owner, accuracy, *, parameters=9240, seconds=10.0, finished_at=1000.0, challenge="c",
                 seed=5, state="finished", images=300):
    run = runs.create_run(tiny(challenge), root, owner=owner)
    runs.write_summary(run, {"parameters": parameters, "train_seconds": seconds, "epochs_completed": 1})
    runs.write_status(run, state)
    challenges.write_score(run.path, {"challenge": challenge, "accuracy": accuracy, "correct": round(accuracy * images),
                                      "images": images, "seed": seed, "checkpoint": "best",
                                      "finished_at": finished_at, "scored_at": finished_at + 1})
    return run.run_id


DEADLINE = time.time() + 3600  # runs below finish at made-up times long before it, unless said otherwise


@pytest.fixture
def board_root(tmp_path):
    challenges.create_challenge("C", "digits", root=tmp_path, name="c", seed=5, held_out=300, deadline=DEADLINE,
                                max_parameters=50_000)
    return tmp_path


def board(root):
    return challenges.leaderboard(challenges.load_challenge("c", root), runs.list_runs(root))


def test_best_run_per_student_in_order_with_ties_broken_by_size_then_time(board_root):
    a_worse = finished_run(board_root, "aaaa", 0.80)
    a_best = finished_run(board_root, "aaaa", 0.90)
    b = finished_run(board_root, "bbbb", 0.90, parameters=5000)  # as accurate as a, smaller: ahead
    c = finished_run(board_root, "cccc", 0.90, parameters=5000, seconds=20.0)  # same size, slower: behind b
    d = finished_run(board_root, "dddd", 0.90, parameters=5000, seconds=20.0, finished_at=1500.0)  # a full tie
    teacher = finished_run(board_root, None, 0.95)
    entries = board(board_root)
    assert [e.run_id for e in entries] == [teacher, b, c, d, a_best]
    assert [e.rank for e in entries] == [1, 2, 3, 3, 5]  # c and d tie on everything but the time they finished
    assert a_worse not in {e.run_id for e in entries}


def test_runs_after_the_deadline_or_the_freeze_and_unfinished_or_foreign_scores_do_not_count(board_root):
    on_time = finished_run(board_root, "aaaa", 0.70, finished_at=1999.0)
    finished_run(board_root, "bbbb", 0.99, finished_at=DEADLINE + 1)  # after the deadline
    finished_run(board_root, "cccc", 0.99, state="stopped")
    finished_run(board_root, "dddd", 0.99, seed=6)  # scored on another held-out split
    finished_run(board_root, "eeee", 0.99, parameters=10**9)  # over the challenge's rules as recorded
    assert [e.run_id for e in board(board_root)] == [on_time]
    challenges.freeze("c", board_root, now=1500.0)
    assert board(board_root) == []  # frozen before on_time finished
    assert challenges.freeze("c", board_root, now=1700.0).frozen_at == 1500.0  # the first freeze stands


def test_a_damaged_score_file_leaves_that_run_off_the_board_only(board_root):
    good = finished_run(board_root, "aaaa", 0.70)
    bad = finished_run(board_root, "bbbb", 0.99)
    (runs.run_dir(bad, board_root) / challenges.SCORE_FILE).write_text('{"challenge": "c", "accuracy": "1.0"}')
    assert [e.run_id for e in board(board_root)] == [good]
