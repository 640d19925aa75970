"""One tiny real training run through the app: the real engine in the app's worker thread."""

from __future__ import annotations

import json

import pytest

from lstm_vision.settings import Settings
from app.screens.results import ConfusionMatrix, ImageGrid
from apps import log_text, make_app, wait_for

pytest.importorskip("lstm_vision.training.engine")


async def test_a_real_tiny_run_reaches_the_results_screen(mnist_root, tmp_path):
    s = Settings()
    s.data.root, s.data.download = str(mnist_root), False
    s.model.hidden_size, s.model.num_layers, s.model.bidirectional = 16, 1, False
    s.train.epochs, s.train.batch_size, s.train.log_every = 1, 32, 2
    s.train.amp = "off"
    s.output.dir, s.output.run_name = str(tmp_path / "runs"), "tiny"
    app = make_app(tmp_path, settings=s)  # engine=None: lstm_vision.training.engine.run, imported on the worker thread
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state in ("completed", "failed"))
        assert app.session.state == "completed", log_text(app)
        assert app.query_one("#main-tabs").active == "tab-results"
        run_dir = tmp_path / "runs" / "tiny"
        summary = json.loads((run_dir / "summary.json").read_text())
        shown = str(app.query_one("#result-summary").render())
        assert f"Got {summary['test_correct']:,}/{summary['test_total']:,}" in shown
        assert app.query_one(ConfusionMatrix).row_count == 10
        assert app.query_one(ImageGrid).sample is not None
        assert app.session.record.step_x and app.session.record.epoch_x == [1.0]
        assert app.session.exit_code == 0

        # the finished run is in the history, and replays the same curves from metrics.jsonl
        await pilot.press("f9")
        await pilot.pause()
        history = app.query_one("HistoryView")
        assert [r.path for r in history.runs] == [run_dir]
        assert history.runs[0].status == "completed"
