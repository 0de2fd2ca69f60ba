"""AppTest: the Home page's promise for the first run matches what the quick start takes on a CPU."""

from __future__ import annotations

from tests.pages.apptest import open_page
from ui.train_form import QUICKSTART


def test_the_first_run_promise_is_seconds_not_a_minute(tmp_path, monkeypatch):
    # Measured: the quick start (LeNet, digits, 10 epochs) trains in 3.6 s on the idle 2-core server, and takes
    # 14 s of CPU on one thread, start-up included; "about a minute" made a fast run look slow.
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page("pages/home.py")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "about 10 seconds on a laptop CPU" in text
    # ... for the run the button starts (the measured one): keep the two in step.
    assert (QUICKSTART.dataset, QUICKSTART.model, QUICKSTART.epochs, QUICKSTART.batch_size) == ("digits", "lenet", 10, 32)
    assert f"{QUICKSTART.epochs} epochs" in text
    assert "minute" not in text
    assert at.button(key="home_quickstart")
