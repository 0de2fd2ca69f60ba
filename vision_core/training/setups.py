"""A Train-form set-up as one link: ``encode(config)`` → a short token for ``?setup=``, ``decode(token)`` → RunConfig.

The token is the config's non-default fields as compact JSON, base64url-encoded (no padding), so a teacher
hands out one link that opens the same form filled in. A link is untrusted input: ``decode`` refuses a token
that is too long, not JSON, sets a field this version does not know, names a dataset or model that does not
exist, or carries a dataset option that could name a path (``root``); values go through RunConfig's own checks.

Example: ``decode(encode(RunConfig(model="tinyvgg", lr=0.1))).lr`` → 0.1.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any

from vision_core.config import RunConfig
from vision_core.data import augment, datasets
from vision_core.models import zoo as models


class SetupError(ValueError):
    """A set-up link that cannot be opened; the message says what is wrong with it."""


MAX_TOKEN_CHARS = 2000  # a few hundred characters cover any form; a longer "set-up" is not one
# Dataset options a link may set: never "root" (a path on the server); an image folder is a name, checked later.
_LINK_DATASET_OPTIONS = ("image_size", "val_size", "folder")
_DEFAULTS = RunConfig().to_dict()


def encode(config: RunConfig) -> str:
    """The config's fields that differ from RunConfig's defaults, as a URL-safe token.

    Example: ``encode(RunConfig())`` → 'e30' (the empty object: every default).
    """
    changed = {k: v for k, v in config.to_dict().items() if v != _DEFAULTS.get(k)}
    changed.get("dataset_options", {}).pop("root", None)  # a server path never travels in a link
    text = json.dumps(changed, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(token: str) -> RunConfig:
    """The RunConfig of a ``?setup=`` token. Raises ValueError saying what is wrong with the link.

    Example: ``decode("e30")`` → ``RunConfig()``.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise SetupError(f"a set-up link holds 1 to {MAX_TOKEN_CHARS} characters")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise SetupError("the set-up link is damaged (it is not a set-up this page wrote)") from None
    if not isinstance(data, dict):
        raise SetupError("the set-up link is damaged (it is not a set-up this page wrote)")
    unknown = sorted(set(data) - set(_DEFAULTS))
    if unknown:
        raise SetupError(f"the set-up link sets {unknown[0]!r}, which this version does not know")
    for key, value in data.items():
        data[key] = _of_the_default_kind(key, value)
    options: dict[str, Any] = data.get("dataset_options", {})
    dataset = data.get("dataset", _DEFAULTS["dataset"])
    datasets.dataset_info(dataset)  # ValueError listing the known datasets
    models.model_info(data.get("model", _DEFAULTS["model"]))  # ValueError listing the known models
    allowed = set(_LINK_DATASET_OPTIONS) | set(datasets.dataset_info(dataset).options)
    refused = sorted(set(options) - allowed)
    if refused:
        raise SetupError(f"the set-up link sets the dataset option {refused[0]!r}; a link may set "
                         f"{', '.join(sorted(allowed))}")
    for key, value in options.items():
        if (key == "folder") != isinstance(value, str) or isinstance(value, bool):
            raise SetupError(f"the set-up link's dataset option {key!r} has a value of the wrong kind: {value!r}")
    if "image_size" in options:
        datasets._image_size(options["image_size"])  # ValueError: between 4 and 512
    augment.validate_augment(data.get("augment"))  # ValueError / TypeError naming the augmentation
    _check_model_options(data.get("model", _DEFAULTS["model"]), data.get("model_options", {}), dataset)
    try:
        return RunConfig(**data)
    except TypeError as exc:  # a value RunConfig's checks could not compare
        raise SetupError(f"the set-up link has a value of the wrong kind ({exc})") from None


def _of_the_default_kind(key: str, value: Any) -> Any:
    """``value`` when it is of the kind of the field's default (an int is a fine float), else ValueError."""
    default = _DEFAULTS[key]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise SetupError(f"the set-up link's {key} has a value of the wrong kind: {value!r}")
    return value


def _check_model_options(model: str, options: dict[str, Any], dataset: str) -> None:
    """The options must build the model (on the meta device, nothing allocated) for the dataset's usual input.

    A model that does not fit the input is fine (a lesson may be about exactly that); a wrong option is not.
    """
    from vision_core.training import guards

    info = datasets.dataset_info(dataset)
    for value in options.values():
        if not isinstance(value, (int, float, str, bool, type(None), list)):
            raise SetupError(f"the set-up link's model options must be plain values, got {value!r}")
    try:
        guards.meta_model(model, dict(options), (info.channels, *info.image_size), max(info.num_classes, 2))
    except models.ShapeMismatchError:
        pass
    except (TypeError, ValueError) as exc:
        raise SetupError(f"the set-up link's model options do not fit {model}: {exc}") from None


def fields_of(config: RunConfig) -> dict[str, Any]:
    """Every field of a config, for callers that carry the fields their form does not show."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
