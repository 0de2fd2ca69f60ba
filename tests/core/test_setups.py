"""Set-up links: every config survives the round trip; a hostile or damaged link is one clear ValueError."""

from __future__ import annotations

import base64
import json
import random

import pytest

from vision_core.config import OPTIMIZERS, SCHEDULERS, RunConfig
from vision_core.data import augment, datasets
from vision_core.models import zoo as models
from vision_core.training import presets, setups


def token_of(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def random_config(rng: random.Random) -> RunConfig:
    dataset = rng.choice([info.name for info in datasets.list_datasets()])
    model = rng.choice(models.list_models())
    options = {"image_size": rng.choice([28, 32, 64])} if rng.random() < 0.5 else {}
    if dataset == "imagefolder" and rng.random() < 0.5:
        options["folder"] = rng.choice(["cats_dogs", "smiles"])
    model_options = {}
    if model == "custom":
        model_options = {"blocks": rng.randint(0, 3), "channels": rng.randint(1, 64), "pool": rng.choice(["max", None]),
                         "hidden_units": rng.randint(1, 128), "dropout": rng.choice([0.0, 0.25])}
    optimizer = rng.choice(OPTIMIZERS)
    return RunConfig(dataset=dataset, dataset_options=options, model=model, model_options=model_options,
                     optimizer=optimizer, lr=rng.choice([1e-4, 2e-3, 0.1, 1.0]),
                     momentum=rng.choice([0.0, 0.9]) if optimizer == "sgd" else 0.0,
                     weight_decay=rng.choice([0.0, 5e-4]), scheduler=rng.choice(SCHEDULERS),
                     batch_size=rng.choice([1, 32, 256]), epochs=rng.randint(1, 50), seed=rng.randint(0, 10**6),
                     augment={name: True for name in augment.AUGMENTATIONS if rng.random() < 0.3},
                     early_stopping_patience=rng.randint(0, 5), snapshot_every=rng.choice([0, 25]),
                     name=rng.choice(["", "lesson 3"]))


def test_random_configs_survive_the_round_trip():
    rng = random.Random(0)
    for _ in range(200):
        config = random_config(rng)
        token = setups.encode(config)
        assert len(token) < setups.MAX_TOKEN_CHARS and token.replace("-", "").replace("_", "").isalnum()
        assert setups.decode(token) == config


def test_every_recipe_survives_the_round_trip():
    for preset in presets.PRESETS.values():
        assert setups.decode(setups.encode(preset.config)) == preset.config


def test_the_default_config_is_the_empty_object_and_only_changes_travel():
    assert setups.encode(RunConfig()) == "e30"
    assert json.loads(base64.urlsafe_b64decode(setups.encode(RunConfig(lr=0.5)) + "==")) == {"lr": 0.5}


def test_a_root_never_travels_in_a_link():
    config = RunConfig(dataset="mnist", dataset_options={"root": "/srv/secret", "image_size": 32})
    assert setups.decode(setups.encode(config)).dataset_options == {"image_size": 32}


@pytest.mark.parametrize("token, match", [
    ("", "1 to 2000 characters"),
    ("x" * 2001, "1 to 2000 characters"),
    ("!!!!", "damaged"),
    (token_of([1, 2]), "damaged"),
    (base64.urlsafe_b64encode(b"\xff\xfe").decode(), "damaged"),
    (token_of({"lrr": 0.1}), "'lrr', which this version does not know"),
    (token_of({"dataset_options": {"root": "/etc"}}), "dataset option 'root'"),
    (token_of({"dataset": "imagefolder", "dataset_options": {"folder": 3}}), "wrong kind"),
    (token_of({"dataset_options": {"image_size": 4096}}), "between 4 and 512"),
    (token_of({"dataset": "nosuch"}), "unknown dataset"),
    (token_of({"model": "nosuch"}), "Unknown model"),
    (token_of({"lr": "0.1"}), "lr has a value of the wrong kind"),
    (token_of({"batch_size": 32.5}), "batch_size has a value of the wrong kind"),
    (token_of({"epochs": True}), "epochs has a value of the wrong kind"),
    (token_of({"lr": -1}), "lr must be > 0"),
    (token_of({"optimizer": "bogus"}), "optimizer must be one of"),
    (token_of({"model_options": [1]}), "model_options has a value of the wrong kind"),
    (token_of({"model": "custom", "model_options": {"blocks": "x"}}), "do not fit custom: blocks must be an integer"),
    (token_of({"model": "lenet", "model_options": {"hidden_units": 3}}), "do not fit lenet"),
    (token_of({"augment": {"spin": True}}), "unknown augmentation"),
])
def test_a_bad_link_is_one_clear_value_error(token, match):
    with pytest.raises(ValueError, match=match):
        setups.decode(token)


def test_a_model_that_does_not_fit_its_input_may_still_be_shared():
    # A lesson about shape errors: six pooling blocks on 28×28 digits is a set-up worth sending.
    config = RunConfig(model="custom", model_options={"blocks": 6}, dataset_options={"image_size": 28})
    assert setups.decode(setups.encode(config)) == config
