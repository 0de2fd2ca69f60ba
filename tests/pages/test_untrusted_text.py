"""AppTest: Markdown and HTML in names from a run folder, an upload and a link reach every page as text (issue 16.5).

One runs folder holds a run whose name, config name, status message and class names are Markdown images, links
and HTML; its data is an image folder whose class folders carry such names. Every page is opened on it (the run
in ``?run=`` / ``?runs=``, the image folder through a ``?setup=`` link, a picture uploaded on Predict), and every
string the page sends to the browser is checked where the browser would act on it:

- fields Streamlit renders as Markdown (st.markdown / caption / alerts / headings, labels, metric values, image
  captions, radio options, st.table cells) hold no unescaped image, link or tag;
- Plotly figures hold no tag (Plotly renders a subset of HTML in titles, ticks, legends and hovers);
- plain-text fields (st.text, st.code, select box options, text inputs, st.dataframe) may hold the string as is.
"""

from __future__ import annotations

import io
import json
import re
import shutil

import numpy as np
import pyarrow as pa
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import APP
from tests.patience import PATIENT_S
from vision_core.config import RunConfig
from vision_core.runs import store as runs

# Class folders: a folder name cannot hold "/", so these are the slash-free forms of the same attacks.
FOLDER_CLASSES = ["![x](https:example.invalid)", "<img src=x onerror=alert(1)>", "[link](javascript:alert(1))",
                  "<script>alert(1)"]
RUN_NAME = "![x](https://example.invalid/p.png) <b>bold</b>"
CONFIG_NAME = "<img src=x onerror=alert(1)> [n](javascript:alert(1))"
MESSAGE = "![x](https://example.invalid/p.png) <script>alert(1)</script>"
RUN_ID = "hostile-run"
MARKERS = ("example.invalid", "onerror", "javascript:", "alert(1)", "<b>bold")  # a hostile string is in this text

# Fields shown as plain text by the browser (no Markdown, no HTML): the string may be there as typed.
PLAIN_FIELDS = {"Text.body", "Code.code_text", "Selectbox.options", "Selectbox.raw_value", "MultiSelect.options",
                "MultiSelect.raw_values", "TextInput.default", "TextInput.value", "TextArea.default"}
# What Markdown (or Plotly's HTML subset) would turn into an image, a link or an element.
ACTIVE_MARKDOWN = re.compile(r"!\[|\]\(|<[A-Za-z/]")
ACTIVE_PLOTLY = re.compile(r"<(img|script|a|b|span)\b", re.IGNORECASE)

PAGES = ["pages/home.py", "pages/train.py", "pages/runs.py", "pages/regularisation.py", "pages/convolution.py",
         "pages/pooling.py", "pages/shapes.py", "pages/playground.py", "pages/losses.py", "pages/inside.py",
         "pages/evaluate.py", "pages/predict.py", "pages/predict.py#not-a-picture"]


def write_hostile(base) -> tuple:
    """(runs folder, data folder, config) under ``base``: the hostile image folder and a run trained (by hand)
    on it, stopped with a hostile message. Also used by the browser test (tests/e2e/test_untrusted_text.py)."""
    data, root = base / "data", base / "runs"
    rng = np.random.default_rng(0)
    for name in FOLDER_CLASSES:
        folder = data / "imagefolder" / "hostile" / name
        folder.mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VISION_CORE_DATA", str(data))
        from vision_core.data import datasets
        from vision_core.models import zoo as models
        from vision_core.training import engine

        config = RunConfig(dataset="imagefolder", dataset_options={"folder": "hostile", "image_size": 32},
                           model="lenet", epochs=1, snapshot_every=0, name=CONFIG_NAME)
        run = runs.create_run(config, root, run_id=RUN_ID)
        dataset = datasets.load("imagefolder", folder="hostile", image_size=32)
        runs.write_data_info(run, engine.data_info(dataset))
        model = models.build("lenet", in_channels=dataset.channels, num_classes=len(dataset.classes),
                             image_size=dataset.image_size)
    weights = {"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "epoch": 0}
    for which in ("best", "last"):
        torch.save(weights, run.path / "checkpoints" / f"{which}.ckpt")
    (run.path / "metrics.csv").write_text("epoch,lr,step,train_acc,train_loss_epoch,val_acc,val_loss\n"
                                          "0,0.001,3,0.3,1.2,0.25,1.3\n")
    runs.write_summary(run, {"status": "stopped", "test_acc": 0.25, "epochs_completed": 1})
    runs.write_status(run, "stopped", MESSAGE, epoch=1)
    runs.rename_run(RUN_ID, RUN_NAME, root)
    (run.path / "heartbeat").unlink(missing_ok=True)
    return root, data, config


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return write_hostile(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def env(hostile, tmp_path, monkeypatch):
    root, data, config = hostile
    shutil.copytree(root, tmp_path / "runs")
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("VISION_CORE_DATA", str(data))
    monkeypatch.delenv("VISION_CORE_TEACHER_PASSWORD", raising=False)
    return config


def open_page(path: str, config: RunConfig) -> AppTest:
    from vision_core.training import setups

    path, _, variant = path.partition("#")
    at = AppTest.from_file(APP, default_timeout=PATIENT_S)
    at.query_params["run"] = RUN_ID  # Train (live panel), Inside, Evaluate, Predict
    at.query_params["runs"] = RUN_ID  # the Overfitting lab's results
    if path == "pages/train.py":
        at.query_params["setup"] = setups.encode(config)  # the form previews the hostile image folder
    at.switch_page(path)
    at.run()
    if path == "pages/predict.py":  # a picture whose file name is HTML (or, #not-a-picture, no picture at all)
        picture = io.BytesIO()
        Image.new("RGB", (20, 20), (200, 30, 30)).save(picture, format="PNG")
        content = b"<html>" if variant == "not-a-picture" else picture.getvalue()
        at.file_uploader(key="pred_upload").set_value(("<img src=x onerror=alert(1)>.png", content,
                                                        "<img src=x onerror=alert(1)>")).run()
    if path == "pages/convolution.py":
        at.radio(key="conv_kernel_source").set_value(at.radio(key="conv_kernel_source").options[-1]).run()
    return at


def shown_strings(at: AppTest) -> list[tuple[str, str]]:
    """(field, text) of every string the page sends to the browser; table cells decoded from their Arrow bytes."""
    found = []

    def message(msg, parent: str = "") -> None:
        for field, value in msg.ListFields():
            for v in (list(value) if field.is_repeated else [value]):
                if field.type == field.TYPE_MESSAGE:
                    message(v, msg.DESCRIPTOR.name)
                elif field.type == field.TYPE_STRING:
                    found.append((f"{msg.DESCRIPTOR.name}.{field.name}", v))
                elif field.type == field.TYPE_BYTES and msg.DESCRIPTOR.name in ("Arrow", "ArrowData") and v:
                    # st.table renders Markdown in its cells (Table > ArrowData); st.dataframe's are plain (Arrow).
                    kind = "Table.cell" if parent == "Table" else "Dataframe.cell"
                    table = pa.ipc.open_stream(v).read_all()
                    found.extend((kind, str(cell)) for column in table.columns for cell in column.to_pylist())

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            message(node.proto)
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at._tree)
    return found


def hostile_strings(at: AppTest) -> list[tuple[str, str]]:
    """The strings that carry a hostile name, escaped or not."""
    return [(field, text) for field, text in shown_strings(at)
            if any(m in re.sub(r"\\(.)", r"\1", text) for m in MARKERS)]


def active(field: str, text: str) -> list[str]:
    """What the browser would act on in ``text``: unescaped Markdown / HTML, or tags in a Plotly figure."""
    if field == "PlotlyChart.spec":
        return ACTIVE_PLOTLY.findall(json.dumps(json.loads(text), ensure_ascii=False))
    if field in PLAIN_FIELDS or field == "Dataframe.cell":
        return []
    return ACTIVE_MARKDOWN.findall(re.sub(r"\\.", "", text))  # backslash-escaped characters are literal


def test_plain_escapes_markdown_and_breaks_bare_links():
    from ui.text import WORD_JOINER, plain

    shown = plain("![x](https://h.invalid/p.png) www.h.invalid a@h.invalid :red[x] $x$")
    assert not ACTIVE_MARKDOWN.findall(re.sub(r"\\.", "", shown))
    # What the reader sees: the text as typed, with invisible joiners where a bare link would start.
    assert re.sub(r"\\(.)", r"\1", shown).replace(WORD_JOINER, "") == \
        "![x](https://h.invalid/p.png) www.h.invalid a@h.invalid :red[x] $x$"
    assert "://" not in shown.replace("\\", "") and "www." not in shown.replace("\\", "")


@pytest.mark.parametrize("path", PAGES)
def test_names_from_folders_uploads_and_links_are_text_on_every_page(env, path):
    at = open_page(path, env)
    assert not at.exception, at.exception
    problems = [(field, text[:200], found) for field, text in hostile_strings(at) if (found := active(field, text))]
    assert not problems, problems


@pytest.mark.parametrize("path, where", [
    ("pages/train.py", {"Image.caption", "Heading.body", "Alert.body", "PlotlyChart.spec"}),
    ("pages/runs.py", {"Text.body", "PlotlyChart.spec"}),
    ("pages/regularisation.py", {"Table.cell", "PlotlyChart.spec"}),
    ("pages/inside.py", {"Image.caption", "PlotlyChart.spec"}),
    ("pages/evaluate.py", {"Markdown.body", "PlotlyChart.spec"}),
    ("pages/predict.py", {"Markdown.body", "Metric.body", "PlotlyChart.spec"}),
    ("pages/predict.py#not-a-picture", {"Alert.body"}),  # the error names the file
])
def test_the_hostile_names_do_reach_those_pages(env, path, where):
    """Not a vacuous pass: the names are on the page, in the places the first test checks."""
    fields = {field for field, _ in hostile_strings(open_page(path, env))}
    assert where <= fields, sorted(fields)
