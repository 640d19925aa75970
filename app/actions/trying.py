"""Trying a trained model: which run t means, the Try screen (its module imports torch, so only when a model
is tried), a checkpoint file chosen by path."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_vision.runs.folder import LAST_CHECKPOINT
from app.host import Host
from app.screens.dialogs import PathScreen
from app.state import ACTIVE

if TYPE_CHECKING:  # loaded with their tabs, after the first paint (app/panes.py)
    from app.screens.history import HistoryView


class TryActions(Host):
    def trying(self) -> bool:
        """Is the Try screen showing? Its module imports torch, so it is imported when a model is tried."""
        # (the warm-up thread may be importing it: a module in sys.modules without its class yet)
        screen_class = getattr(sys.modules.get("app.screens.try_model"), "TryScreen", None)
        return screen_class is not None and isinstance(self.screen, screen_class)

    def open_try(self, source: Path) -> None:
        from app.screens.try_model import TryScreen  # torch: loaded by then, unless t comes within seconds of the start

        self.push_screen(TryScreen(source))

    def trained_run(self) -> Path | None:
        """The run to try: the one this app ran or watched, once it ended with a last.pt, else the one selected
        in History."""
        started = self.session.record.started
        if started is not None and self.session.state not in ACTIVE and (Path(started.run_dir) / LAST_CHECKPOINT).is_file():
            return Path(started.run_dir)
        if self.query("#history"):  # none before the app's first screen is up (LstmVisionApp.mount_other_tabs)
            return self.history_view.trained()
        return None

    def action_try_model(self) -> None:
        run = self.trained_run()
        if run is None:
            self.notify("No trained model yet: finish a run (F5), or pick one in History (F9) and press t.", severity="warning")
            return
        self.open_try(run)

    def action_try_file(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.open_try(path)

        start = self.trained_run() or Path(self.settings.output.dir)
        self.push_screen(PathScreen("Try a run folder or checkpoint (.pt)", str(start), must_exist=True, folders=True), chosen)

    def on_history_view_try_requested(self, message: HistoryView.TryRequested) -> None:
        self.open_try(message.run_dir)
