"""AppTest: the Train form's guards — over-limit models, numbers out of range, image folders and zips,
datasets not on disk, and the recipe menu that follows the form."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import torchvision
from PIL import Image

from tests.pages.apptest import open_page
from ui.train_form import WHOLE_NUMBER_KEYS
from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.training import setups

HUGE = {"train_opt_blocks": 1, "train_opt_convs": 1, "train_opt_channels": 256, "train_opt_hidden": 2048}


@pytest.fixture
def page_env(tmp_path, monkeypatch):
    """A fresh data folder, runs folder and (absent) classroom file, so tests see only what they make."""
    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("VISION_CORE_CLASSROOM", str(tmp_path / "classroom.toml"))
    return tmp_path


def start_disabled_because(at) -> str:
    assert at.button(key="train_start").disabled
    reasons = [w.value for w in at.warning if w.value.startswith("Start is disabled")]
    assert reasons, [w.value for w in at.warning]
    return reasons[0]


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --------------------------------------------------------------------------- models over the limits


def test_the_two_billion_parameter_model_is_previewed_and_refused_with_its_estimate(page_env):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("shapes")
    at.selectbox(key="train_image_size").set_value("64 × 64")
    at.selectbox(key="train_model").set_value("custom").run()
    for key, value in HUGE.items():
        at.text_input(key=key).set_value(str(value))
    at.selectbox(key="train_opt_pool").set_value("none").run()
    assert not at.exception
    # The preview is drawn (on the meta device: no 8 GB of weights), and the guard says why Start is off.
    assert any("2,147,505,158 parameters" in m.value for m in at.markdown)
    errors = [e.value for e in at.error if "2,147,505,158" in e.value]
    assert errors and "20,000,000" in errors[0] and "≈ 32" in errors[0] and "fc1" in errors[0]
    assert "2,147,505,158" in start_disabled_because(at)


def test_an_estimate_over_the_memory_limit_names_a_batch_that_fits(page_env):
    (page_env / "classroom.toml").write_text("max_memory_mb = 40\n")
    at = open_page("pages/train.py")
    assert not at.button(key="train_start").disabled  # LeNet at batch 32 fits in 40 MB
    assert any("Memory to train: ≈" in c.value and "40.0 MB per job" in c.value for c in at.caption)
    at.text_input(key="train_batch_size").set_value("1024").run()
    reason = start_disabled_because(at)
    assert "the limit per job is 40.0 MB" in reason and "Try batch size" in reason
    batch = int(reason.split("Try batch size ")[1].split()[0])
    at.text_input(key="train_batch_size").set_value(str(batch)).run()
    assert not at.button(key="train_start").disabled


def test_the_teachers_limits_apply_to_the_form(page_env):
    (page_env / "classroom.toml").write_text("max_epochs = 5\nmax_batch_size = 16\n")
    at = open_page("pages/train.py")
    reason = start_disabled_because(at)  # the quick start's batch 32 and 10 epochs are over these limits
    assert "Batch size must be between 1 and 16, got 32" in reason and "Epochs must be between 1 and 5" in reason
    at.text_input(key="train_batch_size").set_value("16")
    at.text_input(key="train_epochs").set_value("5").run()
    assert not at.button(key="train_start").disabled


def test_a_broken_classroom_file_is_said_and_the_defaults_apply(page_env):
    (page_env / "classroom.toml").write_text("max_epoch = 5\n")
    at = open_page("pages/train.py")
    assert not at.exception
    assert any("max_epoch" in w.value and "default limits" in w.value for w in at.warning)
    assert not at.button(key="train_start").disabled


# --------------------------------------------------------------------------- numbers: never clamped


@pytest.mark.parametrize("key, value, reason", [
    ("train_lr", 100.0, "Learning rate must be between 1e-06 and 10, got 100"),
    ("train_lr", 0.0, "Learning rate must be between 1e-06 and 10, got 0"),
    ("train_momentum", 1.5, "Momentum (SGD) must be between 0 and 0.999, got 1.5"),
    ("train_weight_decay", -0.1, "Weight decay (L2) must be between 0 and 1, got -0.1"),
])
def test_a_number_out_of_range_disables_start_with_the_reason(page_env, key, value, reason):
    at = open_page("pages/train.py")
    before = at.number_input(key=key).value
    at.number_input(key=key).set_value(value).run()
    assert not at.exception
    assert at.number_input(key=key).value == value  # kept as typed, not clamped to the nearest bound
    assert reason in start_disabled_because(at)
    assert any(reason in e.value for e in at.error)  # also said right under the box
    at.number_input(key=key).set_value(before).run()
    assert not at.button(key="train_start").disabled


def unescaped(text: str) -> str:
    return text.replace("\\", "")


# Issue 19.5: a whole-number box is a text box read on the server. Streamlit's number box rounded 12.7 to 12 in
# the browser (Start stayed enabled), read "abc" as 0, and wrote the seed's limit as 2.14748e+09.
@pytest.mark.parametrize("key, typed, reason", [
    ("train_batch_size", "12.7", "Batch size must be a whole number between 1 and 1,024: “12.7” is not a whole number"),
    ("train_epochs", "2.5", "Epochs must be a whole number between 1 and 200: “2.5” is not a whole number"),
    ("train_epochs", "abc", "Epochs must be a whole number between 1 and 200: “abc” is not a whole number"),
    ("train_epochs", "", "Epochs must be a whole number between 1 and 200: the box is empty"),
    ("train_epochs", "0", "Epochs must be between 1 and 200, got 0"),
    ("train_batch_size", "2,048", "Batch size must be between 1 and 1,024, got 2,048"),
    ("train_seed", "3000000000", "Seed must be between 0 and 2,147,483,647, got 3,000,000,000"),
    ("train_seed", "1e3", "Seed must be a whole number between 0 and 2,147,483,647: “1e3” is not a whole number"),
    ("train_patience", "-1", "Early stopping patience (0 = off) must be between 0 and 50, got -1"),
])
def test_a_whole_number_field_refuses_fractions_and_letters_quoting_what_was_typed(page_env, key, typed, reason):
    at = open_page("pages/train.py")
    at.text_input(key=key).set_value(typed).run()
    assert not at.exception
    assert at.text_input(key=key).value == typed  # kept as typed: never rounded, never clamped
    assert reason in unescaped(start_disabled_because(at))
    assert any(reason in unescaped(e.value) for e in at.error)  # also said right under the box
    assert "e+" not in start_disabled_because(at)  # limits print as whole numbers


def test_a_whole_number_with_thousands_separators_is_read_and_trained_as_typed(page_env):
    at = open_page("pages/train.py")
    at.text_input(key="train_batch_size").set_value("1,024")
    at.text_input(key="train_seed").set_value(" 2_147_483_647 ").run()
    assert not at.exception
    assert not [e.value for e in at.error if "Seed" in e.value or "Batch size" in e.value]
    codes = [c.value for c in at.code if "?setup=" in c.value]
    config = setups.decode(codes[0].split("setup=")[1])
    assert (config.batch_size, config.seed) == (1024, 2**31 - 1)


def test_a_custom_model_number_out_of_range_disables_start(page_env):
    at = open_page("pages/train.py")
    at.selectbox(key="train_model").set_value("custom").run()
    at.text_input(key="train_opt_channels").set_value("0").run()
    assert "Channels must be between 1 and 256, got 0" in start_disabled_because(at)


# --------------------------------------------------------------------------- image folders


def write_folder(root, per_class: int = 5) -> None:
    for cls, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            (root / cls / f"{i}.png").write_bytes(png(colour))


def test_image_folders_are_chosen_from_the_data_folder(page_env):
    write_folder(page_env / "data" / "imagefolder" / "pets")
    (page_env / "data" / "imagefolder" / "empty").mkdir()
    at = open_page("pages/train.py")
    labels = at.selectbox(key="train_dataset").options
    assert "Image folder (your own photos)" in labels  # no "(download)" on it
    assert "MNIST (download)" in labels
    at.selectbox(key="train_dataset").set_value("imagefolder").run()
    assert not at.exception
    # No path box anywhere: the only text boxes are the whole-number fields (and the sidebar's "Your name").
    assert {t.key for t in at.text_input} - {"names_box"} <= WHOLE_NUMBER_KEYS
    picker = at.selectbox(key="train_image_folder")
    assert picker.options == ["empty", "pets"] and picker.value == "empty"
    assert any(r"train/\<class\>" in w.value for w in at.warning)  # that folder is no dataset: the layout is said
    assert at.button(key="train_start").disabled
    picker.set_value("pets").run()
    assert any("2 classes" in m.value for m in at.markdown)
    assert not at.button(key="train_start").disabled
    # The caption says *.jpg literally (escaped markdown, not italics) and keeps <class> visible.
    assert any(r"train/\<class\>/\*.jpg" in c.value for c in at.caption)


def test_a_zip_upload_becomes_a_chosen_folder(page_env):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("imagefolder").run()
    assert at.selectbox(key="train_image_folder").options == []
    assert any("No image folder yet" in i.value for i in at.info)
    entries = {f"my pets/{split}/{cls}/{i}.png": png(colour) for split, n in (("train", 4), ("test", 2))
               for cls, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))) for i in range(n)}
    at.file_uploader(key="train_folder_zip").set_value(("my pets.zip", zip_of(entries), "application/zip")).run()
    assert not at.exception
    assert any("Added" in s.value and "12 images in 2 classes" in s.value for s in at.success)
    assert at.selectbox(key="train_image_folder").value == "my_pets"
    assert any("**7** train · **1** validation · **4** test" in m.value for m in at.markdown)
    assert not at.button(key="train_start").disabled
    assert sorted(p.name for p in (page_env / "data" / "imagefolder").iterdir()) == ["my_pets"]


def test_a_hostile_zip_is_refused_and_nothing_is_added(page_env):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("imagefolder").run()
    evil = zip_of({"cat/0.png": png((1, 2, 3)), "dog/0.png": png((4, 5, 6)), "../../escape.png": png((0, 0, 0))})
    at.file_uploader(key="train_folder_zip").set_value(("evil.zip", evil, "application/zip")).run()
    assert not at.exception
    assert any("outside its folder" in e.value for e in at.error)
    assert at.selectbox(key="train_image_folder").options == []
    assert not (page_env / "escape.png").exists() and not (page_env / "data" / "escape.png").exists()
    assert str(page_env) not in " ".join(e.value for e in at.error)


# --------------------------------------------------------------------------- datasets not on disk


def test_a_dataset_not_on_disk_is_one_sentence_a_download_button_and_folded_details(page_env, monkeypatch):
    monkeypatch.setattr(datasets, "is_reachable", lambda url, timeout=3.0: False)  # as on this offline machine
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("mnist").run()
    assert not at.exception
    assert [w.value for w in at.warning if "not on this machine" in w.value] == ["**MNIST** is not on this machine yet."]
    assert at.button(key="train_download").label == "Download MNIST"
    details = next(e for e in at.expander if e.label == "Where the files go")
    text = " ".join(m.value for m in details.markdown)
    assert "`<data folder>/MNIST/raw`" in text and "train-images-idx3-ubyte" in text
    assert str(page_env) not in " ".join(m.value for m in [*at.markdown, *at.warning, *at.caption])
    at.button(key="train_download").click().run()
    assert any("This machine is offline" in e.value for e in at.error)
    assert at.button(key="train_start").disabled


def test_the_download_button_fetches_the_dataset_when_online(page_env, monkeypatch):
    from tests.core.test_datasets import write_mnist_like

    monkeypatch.setattr(datasets, "is_reachable", lambda url, timeout=3.0: True)
    # torchvision's own download, with the network replaced by writing the files it would fetch.
    def fetch(self):  # called once per split, as torchvision does
        if not (page_env / "data" / "MNIST").exists():
            write_mnist_like(page_env / "data", "MNIST", 5020, 10)

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fetch)
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("mnist").run()
    at.button(key="train_download").click().run()
    assert not at.exception
    assert any("**20** train · **5,000** validation · **10** test" in m.value for m in at.markdown)
    assert not any("not on this machine" in w.value for w in at.warning)


# --------------------------------------------------------------------------- the recipe menu follows the form


def test_the_recipe_menu_and_its_notice_follow_the_form(page_env):
    at = open_page("pages/train.py")
    menu = at.selectbox(key="train_preset")
    assert menu.value == "own" and menu.options[0] == "Your own set-up"  # the quick start is no recipe
    menu.set_value("tinyvgg_fashion").run()  # choosing a recipe loads it
    assert at.selectbox(key="train_model").value == "tinyvgg"
    notice = " ".join(i.value for i in at.info)
    # The names the menus show: the recipe's title, Fashion-MNIST (not fashion_mnist), Digits' full title.
    assert "TinyVGG on FashionMNIST" in notice and "Fashion-MNIST is not on disk" in notice
    assert "Digits (scikit-learn, 8×8 → 32×32)" in notice and "fashion_mnist" not in notice
    at.run()  # a rerun without a change keeps both
    assert at.selectbox(key="train_preset").value == "tinyvgg_fashion" and at.info
    at.text_input(key="train_epochs").set_value("7").run()  # the student changes the recipe
    assert at.selectbox(key="train_preset").value == "own"
    assert not any("TinyVGG" in i.value for i in at.info)
    at.selectbox(key="train_preset").set_value("tinyvgg_fashion")
    at.button(key="train_load_preset").click().run()
    assert at.text_input(key="train_epochs").value == "3" and at.selectbox(key="train_preset").value == "tinyvgg_fashion"


# --------------------------------------------------------------------------- shareable set-ups


SHARED = RunConfig(dataset="shapes", dataset_options={"image_size": 64, "difficulty": 0.5}, model="tinyvgg",
                   model_options={"hidden_units": 12}, optimizer="sgd", lr=0.1, momentum=0.9, batch_size=64,
                   epochs=7, augment={"hflip": True, "rotation": 10.0}, name="")


def test_a_shared_link_opens_the_form_filled_in(page_env):
    at = open_page("pages/train.py", query_params={"setup": setups.encode(SHARED)})
    assert not at.exception
    assert at.selectbox(key="train_dataset").value == "shapes"
    assert at.selectbox(key="train_image_size").value == "64 × 64"
    assert at.slider(key="train_difficulty").value == 0.5
    assert at.selectbox(key="train_model").value == "tinyvgg"
    assert at.text_input(key="train_opt_hidden_tinyvgg").value == "12"
    assert (at.selectbox(key="train_optimizer").value, at.number_input(key="train_lr").value) == ("sgd", 0.1)
    assert (at.text_input(key="train_epochs").value, at.text_input(key="train_batch_size").value) == ("7", "64")
    assert at.toggle(key="train_aug_hflip").value and at.toggle(key="train_aug_rotation").value
    assert any("shared link" in i.value for i in at.info)
    assert not at.button(key="train_start").disabled and not at.selectbox(key="train_model").disabled
    # The form's own share link carries exactly this set-up (rotation's 10° strength included).
    codes = [c.value for c in at.code if "?setup=" in c.value]
    assert codes and codes[0].startswith("/train?setup=") and codes[1].endswith("&locked=1")
    assert setups.decode(codes[0].split("setup=")[1]) == SHARED
    assert any(e.label == "Share this set-up" for e in at.expander)
    at.text_input(key="train_epochs").set_value("3").run()  # the student may change an unlocked link
    assert setups.decode(next(c.value for c in at.code if "?setup=" in c.value).split("setup=")[1]).epochs == 3


def test_a_locked_link_lets_the_student_start_but_not_change(page_env):
    at = open_page("pages/train.py", query_params={"setup": setups.encode(SHARED), "locked": "1"})
    assert not at.exception
    assert any("locked" in i.value for i in at.info)
    for widget in (at.selectbox(key="train_dataset"), at.selectbox(key="train_model"),
                   at.selectbox(key="train_preset"), at.number_input(key="train_lr"),
                   at.text_input(key="train_epochs"), at.toggle(key="train_aug_hflip"),
                   at.slider(key="train_difficulty"), at.text_input(key="train_opt_hidden_tinyvgg")):
        assert widget.disabled, widget
    assert at.text_input(key="train_epochs").value == "7"
    assert not at.button(key="train_start").disabled
    assert not [c for c in at.code if "?setup=" in c.value]  # no share box to copy a changed set-up from


def test_a_damaged_link_is_one_error_and_the_form_stays_usable(page_env):
    at = open_page("pages/train.py", query_params={"setup": "not-a-setup", "locked": "1"})
    assert not at.exception
    assert [e.value for e in at.error if "set-up link" in e.value]
    assert not at.selectbox(key="train_model").disabled  # a damaged link locks nothing
    assert not at.button(key="train_start").disabled and at.selectbox(key="train_model").value == "lenet"


# --------------------------------------------------------------------------- words and layout (issue 19.10, 11, 13)


def chart(at, key: str) -> dict:
    (found,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(found.proto.spec)


def test_the_custom_template_is_described_once(page_env):
    at = open_page("pages/train.py")
    at.selectbox(key="train_model").set_value("custom").run()
    template = "[[Conv → (BatchNorm) → ReLU] × N → Pool] × M"
    assert sum(template in unescaped(c.value) for c in at.caption) == 1


def test_an_image_folder_not_chosen_yet_points_at_the_zip_upload(page_env):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("imagefolder").run()
    assert not at.exception
    reason = unescaped(start_disabled_because(at))
    assert "No image folder yet: upload a zip of class folders with “Add your own” in 1 · Data" in reason
    assert "on disk" not in reason


def test_a_dataset_not_on_disk_says_how_to_get_it(page_env):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("mnist").run()
    reason = unescaped(start_disabled_because(at))
    assert "Download MNIST first (the button in 1 · Data), or choose a built-in dataset" in reason


def test_the_two_share_links_are_labelled_and_shown_in_full(page_env):
    at = open_page("pages/train.py")
    (box,) = [e for e in at.expander if e.label == "Share this set-up"]
    shown = [(child.type, child.value) for child in box.children.values() if child.type in ("markdown", "code")]
    labels = [value for kind, value in shown if kind == "markdown"]
    assert labels == ["**Link to share (students can change it)**",
                      "**Locked link (students cannot change the set-up)**"]
    codes = [child for child in box.children.values() if child.type == "code"]
    # Each label is right above its own link, and the links wrap: "&locked=1" at the end is never out of sight.
    assert [kind for kind, _ in shown] == ["markdown", "code", "markdown", "code"]
    assert not codes[0].value.endswith("&locked=1") and codes[1].value.endswith("&locked=1")
    assert all(c.proto.wrap_lines for c in codes)


def test_the_augmentation_preview_labels_its_rows_not_each_image(page_env):
    at = open_page("pages/train.py")
    at.toggle(key="train_aug_hflip").set_value(True).run()
    assert not at.exception
    shown = at.get("image")  # the data preview, the originals, the augmented views
    assert len(shown) == 3 and all(len(element.proto.imgs) >= 8 for element in shown)
    captions = [img.caption for element in shown for img in element.proto.imgs]
    # "augmented" under each 64-pixel image broke mid-word; a caption above each row says what it is.
    assert "augmented" not in captions and "original" not in captions
    assert any(c.value == "Original images" for c in at.caption)
    assert any(c.value.startswith("The same images augmented") for c in at.caption)


def test_the_class_count_chart_labels_every_class(page_env):
    at = open_page("pages/train.py")
    xaxis = chart(at, "train_counts_chart")["layout"]["xaxis"]
    assert xaxis["type"] == "category"  # the digits' classes "0"…"9" are names, not numbers
    assert xaxis["tickvals"] == [str(d) for d in range(10)]


def test_the_parameter_chart_reads_for_a_two_billion_parameter_model(page_env):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("shapes")
    at.selectbox(key="train_image_size").set_value("64 × 64")
    at.selectbox(key="train_model").set_value("custom").run()
    for key, value in HUGE.items():
        at.text_input(key=key).set_value(str(value))
    at.selectbox(key="train_opt_pool").set_value("none").run()
    (bars,) = chart(at, "train_param_chart")["data"]
    assert bars["orientation"] == "h"  # layer names read along the rows, not slanted under the bars
    assert bars["cliponaxis"] is False  # a label past the end of its bar is drawn, not cut off
    assert "2.15 B · >99 %" in bars["text"]  # short labels: not "2,147,483,648 (100.0%)"
    assert max(len(t) for t in bars["text"]) <= 16


def test_each_box_of_a_filled_in_form_defaults_to_the_value_it_shows(page_env):
    """A browser that draws a box before Streamlit's one-shot "set value" arrives shows the widget's default, and
    sends it back with the next click: on a busy server a shared link's learning rate became 0 (the default of a
    number box) and Start was disabled. So every box the form fills from its state has that value as its default."""
    at = open_page("pages/train.py", query_params={"setup": setups.encode(SHARED)})
    assert not at.exception
    checked = 0
    for kind in (at.number_input, at.text_input, at.toggle):
        for widget in kind:
            if widget.key and widget.key.startswith("train_"):
                assert widget.proto.default == widget.value, widget.key
                checked += 1
    for menu in at.selectbox:
        if menu.key and menu.key.startswith("train_") and menu.index is not None:
            assert menu.proto.default == menu.index, menu.key
            checked += 1
    assert checked >= 20
    assert at.number_input(key="train_lr").proto.default == pytest.approx(0.1)  # not 0


def test_a_second_student_gets_the_form_without_building_a_figure(page_env):
    """The data preview's chart and the model's parameter chart are made once per data and model."""
    from tests.pages.apptest import figures_built

    one = open_page("pages/train.py")
    with figures_built() as built:
        two = open_page("pages/train.py")
    assert not one.exception and not two.exception
    assert built[0] == 0
    assert {"train_counts_chart", "train_param_chart"} <= {c.proto.id.rsplit("-", 1)[-1] for c in two.get("plotly_chart")}


def test_the_data_preview_pictures_are_sent_as_made_once(page_env):
    """The 16 sample pictures go to st.image as PNG data URIs made once per data (arrays were encoded again on
    every rerun of every student's page), and they are the preview's pictures, pixel for pixel."""
    import base64

    import numpy as np

    from vision_core.figures import training as figures

    at = open_page("pages/train.py")
    (pictures,) = [element.proto.imgs for element in at.get("image")]
    urls = [img.url for img in pictures]
    assert len(urls) == 16 and all(url.startswith("data:image/png;base64,") for url in urls)
    expected = figures.to_display(datasets.preview("digits").images)
    for url, array in zip(urls, expected):
        shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
        assert np.array_equal(shown, array)


def test_the_layer_table_is_sent_as_made_once_and_adds_up_to_the_parameters_shown(page_env, monkeypatch):
    """The model's layer table is the Arrow table st.dataframe sends, made once per model and data (pandas was
    converted again on every rerun), and its rows add up to the parameter count the page states."""
    import re
    from types import SimpleNamespace

    import pyarrow as pa

    from ui import shared_figures

    open_page("pages/train.py")
    converted = []
    monkeypatch.setattr(shared_figures, "pa", SimpleNamespace(Table=SimpleNamespace(
        from_pandas=lambda df: converted.append(df) or pa.Table.from_pandas(df))))
    again = open_page("pages/train.py")
    assert not again.exception
    assert converted == []  # a second student's page converted no table
    (table,) = [t.value for t in again.dataframe if "layer" in t.value.columns]
    (stated,) = [int(m.group(1).replace(",", "")) for m in
                 (re.match(r"\*\*([\d,]+) parameters\*\*", md.value) for md in again.markdown) if m]
    assert len(table) >= 3 and list(table.columns) == ["layer", "what", "output shape", "parameters"]
    assert table["parameters"].sum() == stated
