"""The lstm-vision Textual app: composes the screens and routes engine events to them."""

from __future__ import annotations

import sys
import threading
from functools import partial
from pathlib import Path

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, TabbedContent, TabPane

from lstm_vision.settings import Settings
from lstm_vision.errors import SettingsError
from lstm_vision.control import RunControl
from lstm_vision.runs.liveness import RemoteControl, run_state
from lstm_vision.runs.folder import read_confusion, read_summary
from app.actions.attach import AttachActions
from app.actions.notes import StaleNotes
from app.widgets.charts import ChartPair
from app.screens.dialogs import PathScreen
from app.actions.settings_files import SettingsFileActions
from app.widgets.form import SettingsForm
from app.screens.history import HistoryView
from app.widgets.panels import LogPanel, MemoryPanel, RunProgress, StatusLine
from app.record import RunRecord, short_paths
from app.screens.results import ResultsView
from app.actions.routes import EventRoutes
from app.actions.runs import RunActions
from app.actions.sweeps import SweepActions
from app.screens.sweep import SweepView
from app.state import ACTIVE, CONTROLLABLE, PAUSABLE, AppState
from app.bridge import Engine, EngineEvent, EngineEvents
from lstm_vision.runs.folder import LAST_CHECKPOINT
from lstm_vision.sweep.folder import is_sweep_dir
from lstm_vision.events import StepLogged

TABS = {
    "settings": "tab-settings",
    "train": "tab-train",
    "results": "tab-results",
    "history": "tab-history",
    "sweep": "tab-sweep",
}


class LstmVisionApp(SweepActions, AttachActions, RunActions, SettingsFileActions, EventRoutes, StaleNotes, App[int]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "lstm-vision"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [
        Binding("f5", "start", "Start", key_display="F5"),
        Binding("shift+f5", "start_background", "Background", key_display="⇧F5", show=False),
        Binding("f6", "pause", "Pause", key_display="F6"),
        Binding("f6", "unpause", "Resume", key_display="F6"),  # the footer names what F6 does now
        Binding("f7", "resume_run", "Resume", key_display="F7"),
        Binding("f8", "stop", "Stop", key_display="F8"),
        Binding("t", "try_model", "Try"),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+o", "open", "Open", show=False, priority=True),
        Binding("escape", "hide_help_panel", "Close keys", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f2", "show_tab('settings')", "Settings", show=False),
        Binding("f3", "show_tab('train')", "Train", show=False),
        Binding("f4", "show_tab('results')", "Results", show=False),
        Binding("f9", "show_tab('history')", "History", show=False),
        # F10, after History: a tab's key is the tab's label, as F2-F9 are; it works while a field has the focus
        Binding("f10", "show_tab('sweep')", "Sweep", show=False),
    ]

    # always_update: the same state with other words (running, then "resumed") redraws the status line too;
    # bindings: the footer shows what the keys can do in the new state (check_action); init=False: the
    # status line starts out idle by itself, and set_state runs only once the app is mounted
    state = reactive(AppState.IDLE, always_update=True, init=False, bindings=True)

    def __init__(
        self,
        settings: Settings | None = None,
        settings_path: Path | str = "settings.toml",
        resume: str | None = None,
        engine: Engine | None = None,
        attach: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.initial_attach = Path(attach) if attach else None
        self.settings = settings or Settings()
        self.settings_path = Path(settings_path)
        self.initial_resume = resume
        self.engine = engine
        self.state_detail = ""  # what the status line says after the state
        self._focus_target = "tab-settings"  # the tab whose keys get the focus after the next refresh (compose sets it)
        self.control: RunControl | RemoteControl | None = None  # RemoteControl while attached
        self.run_done, self.run_result = threading.Event(), None
        self.record = RunRecord()
        self.resumable: str | None = None
        self.exit_code = 0
        self._quitting = False
        self.warm_up = False  # run_app: load torch, the engine and the data on a thread once the first screen is up

    # ---- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        # --attach opens on the Train screen (a sweep's folder on the Sweep tab): its first paint is the viewer,
        # before the journal is read. The tab is chosen here, not later: TabbedContent's own start would undo it.
        if self.initial_attach:
            self._focus_target = "tab-sweep" if is_sweep_dir(self.initial_attach) else "tab-train"
        with TabbedContent(id="main-tabs", initial=self._focus_target):
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
            with TabPane("Sweep F10", id="tab-sweep"):
                yield SweepView(id="sweep")
        yield Footer()

    initial_note = ""  # run_app: "+ --preset cpu, --set ..." when the command line added to the file

    def on_mount(self) -> None:
        self.show_settings_path(self.initial_note)
        self.query_one(LogPanel).add("Ready. Edit settings (F2), start with F5; ctrl+p lists every command.", "app")
        self.query_one(ChartPair).show_record(self.record)
        self.call_after_refresh(self._focus_latest_tab)
        self.install_hangup_handlers()
        if not self.initial_attach:  # an attached run's past is shown first (on_engine_events)
            self.call_after_refresh(self._start_warm_up)
        if self.initial_resume:
            self.call_after_refresh(self._launch, self.settings, self.initial_resume)
        elif self.initial_attach:
            self.call_after_refresh(self.attach, self.initial_attach, False)

    def on_unmount(self) -> None:
        if self.attached_to is not None:
            self.let_go()  # another process trains it: it goes on
        elif self.control is not None:  # never leave a training thread running behind a closed app
            self.control.stop()

    def notify(
        self, message: str, *, title: str = "", severity="information", timeout: float | None = None, markup: bool = False
    ) -> None:
        # engine and file messages hold brackets ([data], paths): never parse them as markup
        super().notify(short_paths(message), title=title, severity=severity, timeout=timeout, markup=markup)

    @property
    def form(self) -> SettingsForm:
        return self.query_one(SettingsForm)

    @property
    def log_panel(self) -> LogPanel:
        return self.query_one(LogPanel)

    def set_state(self, state: AppState, detail: str = "") -> None:
        self.state_detail = detail  # first: watch_state shows it
        self.state = state

    def watch_state(self, state: AppState) -> None:
        self.query_one(StatusLine).set_state(state, self.state_detail)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides a key from the footer: it shows only what the keys can do in this state
        if action in ("start", "start_background", "try_model", "save", "open") and self.trying():
            return False  # runs and settings files are the main screen's business; one model is tried at a time
        if action in ("start", "start_background") and self.query_one("#main-tabs", TabbedContent).active == TABS["sweep"]:
            return False  # F5 there is the sweep's (SweepView shows it while the sweep can start), never a run's
        if action == "start":
            return self.state not in ACTIVE
        if action == "pause":
            return self.state in PAUSABLE
        if action == "unpause":
            return self.state == AppState.PAUSED
        if action == "stop":
            return self.state in CONTROLLABLE
        if action == "hide_help_panel":  # escape passes on to the widgets unless the key panel is open
            return bool(self.screen.query("HelpPanel"))
        if action == "try_model":
            return self.trained_run() is not None  # shown when there is a model to try
        if action == "resume_run":
            return bool(self.resumable and self.state not in ACTIVE)  # hidden unless there is one
        return True

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        commands = [
            ("Start run", "Start training with the settings in the form (F5)", self.action_start),
            (
                "Start run in the background",
                "A headless process of its own that outlives this app and its terminal; the app attaches to it (shift+F5)",
                self.action_start_background,
            ),
            ("Pause or resume run", "Pause the run between batches, or go on (F6)", self.action_pause),
            ("Stop run", "Finish the batch, save last.pt, stop (F8)", self.action_stop),
            ("Resume stopped run", "Continue the last stopped run from its last.pt (F7)", self.action_resume_run),
            (
                "Try the model",
                "Draw digits, open images and step through the test set's mistakes with the "
                "run just finished, or the one selected in History (t)",
                self.action_try_model,
            ),
            ("Try a checkpoint file…", "Try the model of any run folder or .pt file", self.action_try_file),
            ("Save settings", "Write the form to the settings file, keeping its comments (ctrl+s)", self.action_save),
            ("Save settings as…", "Write the form to another file", self.action_save_as),
            ("Open settings file…", "Load settings from a TOML file (ctrl+o)", self.action_open),
            ("Load preset…", "Load one of the shipped presets into the form", self.action_preset),
            (
                "New sweep",
                "Build a sweep over the form's settings: which settings vary, over which values (F10, then n)",
                self.action_new_sweep,
            ),
            ("Open sweep…", "Open a sweep file, or a sweep's folder to watch its trials (F10, then o)", self.action_open_sweep),
            ("Toggle light/dark theme", "Switch between the light and the dark theme", self.action_toggle_theme),
        ] + [(f"Show {name}", f"Go to the {name} screen", partial(self.action_show_tab, name)) for name in TABS]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)

    def action_show_tab(self, name: str) -> None:
        self.query_one("#main-tabs", TabbedContent).active = TABS[name]
        self._focus_target = TABS[name]
        self.call_after_refresh(self._focus_latest_tab)

    def _focus_latest_tab(self) -> None:
        """Put the focus where the keys of the last tab asked for act, so no tab needs the mouse. It runs
        after a refresh, by when another tab may have been asked for (F9 typed before the first refresh):
        a late call must not focus the earlier tab, since focusing a widget also switches to its tab."""
        pane_id = self._focus_target
        if pane_id == "tab-settings":
            self.form.focus_first()
        elif pane_id == "tab-train":
            self.log_panel.focus()
        elif pane_id == "tab-results":
            self.query_one(ResultsView).focus()
        elif pane_id == "tab-history":
            self.query_one(HistoryView).focus_table()
        elif pane_id == "tab-sweep":
            self.sweep_view.activate()

    def action_unpause(self) -> None:
        self.action_pause()  # F6 toggles; a second binding only so that the footer says "Resume"

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

    # ---- events from the run, routed in one place -----------------------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        self.route(message.event)

    def on_engine_events(self, message: EngineEvents) -> None:
        """A batch read from an attached run's journal: every event routed, the charts drawn once. The first
        is the run's past: its log lines say so instead of showing the time of attaching."""
        past, self.history_pending = self.history_pending, False
        tabs = self.query_one("#main-tabs", TabbedContent)
        chosen = tabs.active if past and tabs.active != self.attach_tab else None  # a key moved on while it was read
        self.log_panel.replaying = past
        last_step = max((i for i, e in enumerate(message.events) if isinstance(e, StepLogged)), default=-1)
        try:
            for index, event in enumerate(message.events):
                if past and index < last_step and isinstance(event, StepLogged):
                    self.record.apply(event)  # a point of the curves; the progress bar shows the last one only
                else:
                    self.route(event, redraw=False)
        finally:
            self.log_panel.replaying = False
        self.query_one("#live-charts", ChartPair).show_record(self.record)
        if chosen is not None:  # the keys typed during the replay win over the tab the run's end would show
            self.action_show_tab(next(name for name, pane in TABS.items() if pane == chosen))
        if past:
            self.call_after_refresh(self._start_warm_up)

    def _start_warm_up(self) -> None:
        """After the first paint (and an attached run's past): torch, the engine and the data load on a thread,
        so that F5 and t find them loaded. Importing torch holds the GIL for stretches of a second: done
        before the first paint it would delay it by seconds; done on F5, it would freeze the screen of the run."""
        if self.warm_up:
            self.warm_up = False
            threading.Thread(target=_warm_up, args=(self.settings,), name="lstm-vision-warm-up", daemon=True).start()

    # ---- trying a trained model ------------------------------------------------------------------
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
        started = self.record.started
        if started is not None and self.state not in ACTIVE and (Path(started.run_dir) / LAST_CHECKPOINT).is_file():
            return Path(started.run_dir)
        return self.query_one(HistoryView).trained()

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

    def on_history_view_attach_requested(self, message: HistoryView.AttachRequested) -> None:
        state = run_state(message.run_dir)
        if not state.live:
            self.notify(
                f"{message.run_dir.name} is {state.status}, not training; enter shows its curves and results.", severity="warning"
            )
            return
        self.attach(message.run_dir)

    def on_history_view_resume_requested(self, message: HistoryView.ResumeRequested) -> None:
        if self.refuse_while_busy():
            return
        state = run_state(message.run_dir)
        if state.live:
            self.notify(
                f"{message.run_dir.name} is {state.status} in process {state.pid}; press a to attach to it.", severity="warning"
            )
            return
        if read_summary(message.run_dir).get("status") == AppState.COMPLETED:
            self.notify(f"{message.run_dir.name} completed; nothing to resume.", severity="warning")
            return
        if self.resumed_as_it_began(message.run_dir):  # a background run goes on in the background
            return

        def resume() -> None:  # the form takes the run's settings: edits the file lacks are asked about first
            if self.load_run_settings(message.run_dir):
                self.resumable = str(message.run_dir)
                self._start(resume=self.resumable)

        self.unless_unsaved(f"resuming {message.run_dir.name} with its settings", resume)

    def on_history_view_load_settings_requested(self, message: HistoryView.LoadSettingsRequested) -> None:
        def load() -> None:  # as the run started: l repeats that run (a resume's changes are in its journal)
            if self.load_run_settings(message.run_dir, as_started=True):
                self.action_show_tab("settings")

        self.unless_unsaved(f"loading the settings of {message.run_dir.name}", load)


def _warm_up(settings: Settings) -> None:
    try:
        import app.screens.try_model  # noqa: F401 - torch and the model's loader first: t opens at once

        from lstm_vision.dispatch import warm_up

        warm_up(settings)  # then the engine, torchvision and the data, for F5
    except Exception:  # noqa: BLE001 - the run imports and loads again, and reports any error properly
        pass


def run_app(
    settings: Settings,
    settings_path: Path,
    resume: str | None = None,
    engine: Engine | None = None,
    attach: str | None = None,
    note: str = "",
) -> int:
    """Entry point for ``lstm-vision-tui``; returns the exit code of the last run (0 if none). ``note``: what
    the settings bar says the form holds besides the file (the command line's --preset and --set)."""
    app = LstmVisionApp(settings, settings_path, resume=resume, engine=engine, attach=attach)
    app.initial_note = note
    app.warm_up = engine is None
    try:
        code = app.run()
    finally:
        if app.attached_to is None and app.control is not None:
            app.control.stop()
    if app.left_running is not None:
        _say(
            f"{app.left_running} goes on training in the background; "
            f"watch it again with: lstm-vision-tui --attach {app.left_running}"
        )
    elif hint := app.resume_hint():
        _say(hint)
    return int(code) if code is not None else int(app.return_code or 0)


def _say(text: str) -> None:
    try:
        print(text, flush=True)
    except OSError:
        pass  # the terminal is gone
