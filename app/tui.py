"""The lstm-vision Textual app: composes the screens and routes engine events to them."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from lstm_vision.config import Settings, SettingsError
from lstm_vision.control import RunControl
from lstm_vision.events import (
    CheckpointSaved, EpochFinished, EvaluationFinished, LogMessage, PredictionsSampled,
    ResourcesSampled, RunFailed, RunFinished, RunStarted, RunStopped, StepLogged,
)
from app.charts import ChartPair
from app.dialogs import ConfirmScreen
from app.files import SettingsFileActions
from app.form import SettingsForm
from app.history import HistoryView, read_confusion, read_summary
from app.panels import LogPanel, MemoryPanel, RunProgress, StatusLine
from app.record import RunRecord
from app.results import ResultsView
from app.worker import Engine, EngineEvent, run_engine, write_crash_log

ACTIVE = ("starting", "running", "paused", "stopping")
EXIT_CODES = {"completed": 0, "stopped": 130, "failed": 1}
TABS = {"settings": "tab-settings", "train": "tab-train", "results": "tab-results", "history": "tab-history"}


class LstmVisionApp(SettingsFileActions, App[int]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "lstm-vision"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [
        Binding("f5", "start", "Start", key_display="F5"),
        Binding("f6", "pause", "Pause", key_display="F6"),
        Binding("f7", "resume_run", "Resume", key_display="F7"),
        Binding("f8", "stop", "Stop", key_display="F8"),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+o", "open", "Open", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f2", "show_tab('settings')", "Settings", show=False),
        Binding("f3", "show_tab('train')", "Train", show=False),
        Binding("f4", "show_tab('results')", "Results", show=False),
        Binding("f9", "show_tab('history')", "History", show=False),
    ]

    def __init__(self, settings: Settings | None = None, settings_path: Path | str = "settings.toml",
                 resume: str | None = None, engine: Engine | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.settings_path = Path(settings_path)
        self.initial_resume = resume
        self.engine = engine
        self.state = "idle"
        self.control: RunControl | None = None
        self.record = RunRecord()
        self.resumable: str | None = None
        self.exit_code = 0
        self._quitting = False

    # ---- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with TabbedContent(id="main-tabs"):
            with TabPane("Settings F2", id="tab-settings"):
                with Horizontal(id="settings-bar"):
                    yield Label("", id="settings-path")
                    yield Button("Start F5", id="btn-start", variant="success", compact=True, action="app.start")
                    yield Button("Preset…", id="btn-preset", compact=True, action="app.preset")
                    yield Button("Open…", id="btn-open", compact=True, action="app.open")
                    yield Button("Save", id="btn-save", compact=True, action="app.save")
                    yield Button("Save as…", id="btn-save-as", compact=True, action="app.save_as")
                yield SettingsForm(self.settings, id="form")
            with TabPane("Train F3", id="tab-train"):
                yield RunProgress(id="progress")
                yield ChartPair(id="live-charts")
                with Horizontal(id="train-bottom"):
                    yield MemoryPanel(id="memory")
                    yield LogPanel(id="log")
            with TabPane("Results F4", id="tab-results"):
                yield ResultsView(id="results")
            with TabPane("History F9", id="tab-history"):
                yield HistoryView(id="history")
        yield Footer()

    def on_mount(self) -> None:
        self.show_settings_path()
        self.query_one(LogPanel).add("Ready. Edit settings (F2), start with F5; ctrl+p lists every command.", "app")
        self.query_one(ChartPair).show_record(self.record)
        self.call_after_refresh(self.form.focus_first)
        if self.initial_resume:
            self.call_after_refresh(self._launch, self.settings, self.initial_resume)

    def on_unmount(self) -> None:
        if self.control is not None:  # never leave a training thread running behind a closed app
            self.control.stop()

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        # engine and file messages hold brackets ([data], paths): never parse them as markup
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    @property
    def form(self) -> SettingsForm:
        return self.query_one(SettingsForm)

    @property
    def log_panel(self) -> LogPanel:
        return self.query_one(LogPanel)

    def set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self.query_one(StatusLine).set_state(state, detail)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("pause", "stop"):
            return True if self.state in ("running", "paused", "starting") else None
        if action == "resume_run":
            return bool(self.resumable and self.state not in ACTIVE)  # hidden unless there is one
        return True

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        commands = [
            ("Start run", "Start training with the settings in the form (F5)", self.action_start),
            ("Pause or resume run", "Pause the run between batches, or go on (F6)", self.action_pause),
            ("Stop run", "Finish the batch, save last.pt, stop (F8)", self.action_stop),
            ("Resume stopped run", "Continue the last stopped run from its last.pt (F7)", self.action_resume_run),
            ("Save settings", "Write the form to the settings file, keeping its comments (ctrl+s)", self.action_save),
            ("Save settings as…", "Write the form to another file", self.action_save_as),
            ("Open settings file…", "Load settings from a TOML file (ctrl+o)", self.action_open),
            ("Load preset…", "Load one of the shipped presets into the form", self.action_preset),
            ("Toggle light/dark theme", "Switch between the light and the dark theme", self.action_toggle_theme),
        ] + [(f"Show {name}", f"Go to the {name} screen", partial(self.action_show_tab, name)) for name in TABS]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)

    def action_show_tab(self, name: str) -> None:
        self.query_one("#main-tabs", TabbedContent).active = TABS[name]
        self.call_after_refresh(self._focus_tab, TABS[name])

    def _focus_tab(self, pane_id: str) -> None:
        """Put the focus where the keys of a screen act, so no tab needs the mouse."""
        if pane_id == "tab-settings":
            self.form.focus_first()
        elif pane_id == "tab-train":
            self.log_panel.focus()
        elif pane_id == "tab-results":
            self.query_one(ResultsView).focus()
        elif pane_id == "tab-history":
            self.query_one(HistoryView).focus_table()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "main-tabs" and event.pane.id == "tab-history":
            self.refresh_history()

    def refresh_history(self) -> None:
        try:
            output_dir = self.form.row("output", "dir").value()
        except SettingsError:
            output_dir = self.settings.output.dir
        self.query_one(HistoryView).load(output_dir)

    # ---- runs -------------------------------------------------------------------------
    def action_start(self) -> None:
        self._start(resume=None)

    def action_resume_run(self) -> None:
        if self.resumable:
            self._start(resume=self.resumable)
        else:
            self.notify("No stopped run to resume; pick one in History (F9) and press r.", severity="warning")

    def _start(self, resume: str | None) -> None:
        if self.state in ACTIVE:
            self.notify(f"A run is {self.state}; stop it first (F8).", severity="warning")
            return
        try:
            settings = self.form.collect()
        except SettingsError as err:
            self.notify(f"Cannot start: {err}", title="Invalid settings", severity="error", timeout=8)
            self.action_show_tab("settings")
            self.form.focus_field(self.form.errors()[0][0])
            return
        self._launch(settings, resume)

    def _launch(self, settings: Settings, resume: str | None) -> None:
        self.settings = settings
        self.control = RunControl()
        self.record = RunRecord()
        self.query_one(RunProgress).reset()
        self.query_one("#live-charts", ChartPair).show_record(self.record)
        self.query_one(ResultsView).clear()
        self.query_one(StatusLine).set_started(None)
        what = f"Resuming {resume}" if resume else "Starting a run"
        self.log_panel.add(f"{what} ({settings.model.num_layers}x{settings.model.hidden_size} LSTM, "
                           f"{settings.train.epochs} epochs, batch {settings.train.batch_size}).", "app")
        self.set_state("starting", "loading data…")
        self.action_show_tab("train")
        self.run_worker(partial(run_engine, self.post_message, self.engine, settings, self.control, resume),
                        name="training", group="training", thread=True, exit_on_error=False)

    def action_pause(self) -> None:
        if self.control is None or self.state not in ("running", "paused", "starting"):
            return
        if self.control.paused:
            self.control.resume()
            self.set_state("running", "resumed")
            self.log_panel.add("Resumed.", "app")
        else:
            self.control.pause()
            self.set_state("paused", "F6 resumes · the batch in flight finishes first")
            self.log_panel.add("Paused.", "app")

    def action_stop(self) -> None:
        if self.control is None or self.state not in ("running", "paused", "starting"):
            return
        self.control.stop()
        self.set_state("stopping", "finishing the batch and saving last.pt…")
        self.log_panel.add("Stopping: finishing the batch, saving last.pt.", "app")

    def _quit_with(self, code: int) -> None:
        self.exit(code, return_code=code)

    async def action_quit(self) -> None:
        if self.state not in ACTIVE:
            self._quit_with(self.exit_code)
            return
        if self._quitting:  # asked twice: do not wait for the checkpoint
            self._quit_with(130)
            return

        def answered(yes: bool | None) -> None:
            if yes and self.state in ACTIVE:
                self._quitting = True
                self.action_stop()
                self.notify("Stopping the run, then quitting (ctrl+q again quits without waiting).")
            elif yes:
                self._quit_with(self.exit_code)

        self.push_screen(ConfirmScreen("A run is going. Stop it (saving last.pt, resumable) and quit?",
                                       yes="Stop and quit", no="Keep training"), answered)

    # ---- events from the training thread, routed in one place ------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        ev = message.event
        self.record.apply(ev)
        charts = self.query_one("#live-charts", ChartPair)
        if isinstance(ev, RunStarted):
            self.query_one(StatusLine).set_started(ev)
            self.query_one(RunProgress).on_run_started(ev)
            if self.state == "starting":
                self.set_state("running")
            self.log_panel.add(f"Run folder: {ev.run_dir}", "app")
        elif isinstance(ev, StepLogged):
            self.query_one(RunProgress).on_step(ev)
            charts.show_record(self.record)
        elif isinstance(ev, EpochFinished):
            self.query_one(RunProgress).on_epoch(ev)
            charts.show_record(self.record)
            val = "" if ev.val_accuracy is None else f", val loss {ev.val_loss:.4f} acc {100 * ev.val_accuracy:.2f}%"
            self.log_panel.add(f"Epoch {ev.epoch}/{ev.epochs}: train loss {ev.train_loss:.4f} "
                               f"acc {100 * ev.train_accuracy:.2f}%{val}, {ev.samples_per_s:,.0f} samples/s")
        elif isinstance(ev, EvaluationFinished):
            self.log_panel.add(f"{ev.split} after epoch {ev.epoch}: loss {ev.loss:.4f}, "
                               f"{ev.correct}/{ev.total} = {100 * ev.accuracy:.2f}%")
        elif isinstance(ev, ResourcesSampled):
            self.query_one(MemoryPanel).show(ev)
        elif isinstance(ev, CheckpointSaved):
            self.log_panel.add(f"Saved {ev.kind} checkpoint {ev.path}")
        elif isinstance(ev, LogMessage):
            self.log_panel.add(ev.text, ev.level)
        elif isinstance(ev, PredictionsSampled):
            self.query_one(ResultsView).show_predictions(ev)
        elif isinstance(ev, RunFinished):
            self.query_one(RunProgress).finish()
            results = self.query_one(ResultsView)
            results.show_summary(ev.summary, "completed", self._run_title())
            results.show_matrix(ev.confusion_matrix, self._class_names())
            self.log_panel.add("Run completed.", "app")
            self.action_show_tab("results")
        elif isinstance(ev, RunStopped):
            self.resumable = str(Path(ev.checkpoint).parent) if ev.checkpoint else (
                self.record.started.run_dir if self.record.started else None)
            self.log_panel.add(f"Stopped; checkpoint {ev.checkpoint}. F7 resumes this run.", "warning")
            self.query_one(ResultsView).show_summary(ev.summary, "stopped", self._run_title())
        elif isinstance(ev, RunFailed):
            self.log_panel.add(f"Run failed: {ev.message}", "error")
            if ev.log_path:
                self.log_panel.add(f"Details: {ev.log_path}", "error")
            self.notify(f"{ev.message}\nLog: {ev.log_path}", title="Run failed", severity="error", timeout=15)

    def _run_title(self) -> str:
        return self.record.name or ""

    def _class_names(self) -> list[str] | None:
        p = self.record.predictions
        return list(p.class_names) if p and p.class_names else None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where the outcome of the training thread, and any exception of it, lands."""
        worker = event.worker
        if worker.group != "training" or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        if event.state == WorkerState.SUCCESS:
            result = worker.result
            status = getattr(result, "status", None) or self.record.status
            if status not in EXIT_CODES:
                status = "completed"
            self.exit_code = getattr(result, "exit_code", None) or EXIT_CODES[status]
            if status == "stopped":
                run_dir = getattr(result, "run_dir", None)
                self.resumable = str(run_dir) if run_dir else self.resumable
            elif status == "completed":
                self.resumable = None
            self.set_state(status, getattr(result, "run_dir", "") or "")
        elif event.state == WorkerState.ERROR:
            self._worker_failed(worker.error)
        else:
            self.set_state("stopped", "cancelled")
        self.control = None
        self.refresh_history()
        if self._quitting:
            self._quit_with(self.exit_code)

    def _worker_failed(self, error: BaseException | None) -> None:
        self.exit_code = 2 if isinstance(error, SettingsError) else 1
        if isinstance(error, SettingsError):
            self.log_panel.add(f"Cannot start: {error}", "error")
            self.notify(str(error), title="Invalid settings", severity="error", timeout=10)
            self.set_state("failed", "bad settings: fix them (F2) and press F5")
            return
        log = write_crash_log(error, self.settings.output.dir) if error else None
        text = f"{type(error).__name__}: {error}" if error else "unknown error"
        self.log_panel.add(f"Training thread failed: {text}", "error")
        if log:
            self.log_panel.add(f"Traceback: {log}", "error")
        self.notify(f"{text}\nLog: {log}", title="Run failed", severity="error", timeout=15)
        self.set_state("failed", "see the log; fix and press F5")

    # ---- history ---------------------------------------------------------------------------
    def on_history_view_run_opened(self, message: HistoryView.RunOpened) -> None:
        record, run_dir = message.record, message.run_dir
        results = self.query_one(ResultsView)
        summary = read_summary(run_dir) or record.summary
        results.show_summary(summary, summary.get("status", record.status), run_dir.name)
        matrix = record.finished.confusion_matrix if record.finished else read_confusion(run_dir)
        names = list(record.predictions.class_names) if record.predictions else None
        results.show_matrix(matrix, names)
        results.show_predictions(record.predictions)
        self.notify(f"Opened {run_dir.name}: curves below, results under F4.")

    def on_history_view_resume_requested(self, message: HistoryView.ResumeRequested) -> None:
        if self.state in ACTIVE:
            self.notify(f"A run is {self.state}; stop it first (F8).", severity="warning")
            return
        if read_summary(message.run_dir).get("status") == "completed":
            self.notify(f"{message.run_dir.name} completed; nothing to resume.", severity="warning")
            return
        if self.load_run_settings(message.run_dir):
            self.resumable = str(message.run_dir)
            self._start(resume=self.resumable)

    def on_history_view_load_settings_requested(self, message: HistoryView.LoadSettingsRequested) -> None:
        if self.load_run_settings(message.run_dir):
            self.action_show_tab("settings")


def run_app(settings: Settings, settings_path: Path, resume: str | None = None, engine: Engine | None = None) -> int:
    """Entry point for ``lstm-vision-tui``; returns the exit code of the last run (0 if none)."""
    app = LstmVisionApp(settings, settings_path, resume=resume, engine=engine)
    try:
        code = app.run()
    finally:
        if app.control is not None:
            app.control.stop()
    return int(code) if code is not None else int(app.return_code or 0)
