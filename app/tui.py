"""The lstm-vision Textual app: composes the tabs (app/panes.py) and the run session (app/session.py), and routes
between them: the keys that act on every tab, the run's events to the tabs that show them, and what one tab asks
of another (History's keys, a sweep's trial, the Try screen)."""

from __future__ import annotations

import sys
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual.actions import parse as parse_action
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import TabbedContent, TabPane

from lstm_vision.events import Event, RunFinished, RunStarted, StepLogged
from lstm_vision.runs.folder import LAST_CHECKPOINT, METRICS_FILE, read_summary, run_dir_of
from lstm_vision.runs.liveness import run_state
from lstm_vision.settings import Settings
from lstm_vision.detached import started_in_background
from lstm_vision.sweep.folder import is_sweep_dir
from app.bridge import Runner, EngineEvent, EngineEvents
from app.hangup import end_with_server, install_hangup_handlers
from app.messages import LogLine, TabWanted
from app.palette import COMMANDS
from app.panes import PANES, TabParts
from app.record import RunRecord, short_paths
from app.screens.dialogs import ConfirmScreen, PathScreen
from app.session import RunSession
from app.stale_notes import BUSY_NOTE, RUN_NOTE, SETTINGS_NOTE, StaleNotes
from app.state import ACTIVE, CONTROLLABLE, PAUSABLE, TABS, AppState
from app.widgets.footer import KeysFooter
from app.widgets.form import SettingsForm
from app.widgets.panels import LogPanel, StatusLine
from app.warm_up import warm_up

if TYPE_CHECKING:  # loaded with their tabs (app/panes.py): the others after the first paint
    from app.screens.history import HistoryView
    from app.screens.results import ResultsView
    from app.screens.settings import SettingsView
    from app.screens.sweep import SweepView
    from app.screens.train import TrainView


class LstmVisionApp(App[int]):
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
        Binding("p", "pictures", "Pictures", show=False),  # the footer has no room at 80 columns: the palette names it
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

    def __init__(
        self,
        settings: Settings | None = None,
        settings_path: Path | str = "settings.toml",
        resume: str | None = None,
        engine: Runner | None = None,
        attach: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.initial_settings = settings or Settings()  # what the Settings tab opens with
        self.initial_path = Path(settings_path)  # the file its ctrl+s writes, until another is opened or saved
        self.initial_resume = resume
        self.initial_attach = Path(attach) if attach else None
        self.engine = engine  # None: the real one (lstm_vision.dispatch), imported on the training thread
        self.session = RunSession(on_change=self._session_changed)  # the run's lifecycle: app/session.py
        self.stale_notes = StaleNotes(self)
        self._focus_target = TABS["settings"]  # the tab whose keys get the focus after the next refresh (compose sets it)
        self._held_actions: list[tuple] = []  # actions asked for before the app started
        self.started = False  # every tab's widgets are there, every field of the form: the keys act at once
        self.warm_up = False  # run_app: load torch, the engine and the data on a thread once the first screen is up
        self._replay_pending = False  # the next batch of events is an attached run's past, not news
        self._attach_tab = ""  # the tab shown when an attach began: another one by the replay's end was the user's
        self._opened_run: Path | None = None  # the run History or a sweep's trial opened last (its results under F4)

    initial_note = ""  # run_app: "+ --preset cpu, --set ..." when the command line added to the file
    initial_invalid = ""  # run_app: why the settings file is not valid (the form opens on its values)

    # ---- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        # --attach opens on the Train screen (a sweep's folder on the Sweep tab): its first paint is the viewer,
        # before the journal is read. The tab is chosen here, not later: TabbedContent's own start would undo it.
        if self.initial_attach:
            self._focus_target = TABS["sweep"] if is_sweep_dir(self.initial_attach) else TABS["train"]
        elif self.initial_resume:  # --resume RUN: the run trains at once, so its screen shows first
            self._focus_target = TABS["train"]
        self._first_tab = self._focus_target
        with TabbedContent(id="main-tabs", initial=self._first_tab):
            for pane_id, (label, view) in PANES.items():
                with TabPane(label, id=pane_id):
                    if pane_id == self._first_tab:  # the others: mount_other_tabs, once this one is painted
                        yield view(self._tab_parts())
        yield KeysFooter()

    def on_mount(self) -> None:
        self.call_after_refresh(self._focus_latest_tab)
        install_hangup_handlers(self.session, self.action_stop, self._quit_with)
        if self.is_web:
            end_with_server()

    async def run_action(self, action, default_namespace=None, namespaces=None) -> bool:
        # An app's key (F5, F9, ctrl+q, a button's app.start) before the other tabs are there acts once they
        # are. A widget's own (backspace in a field) acts now, in its order with the characters typed there.
        namespace, _, _ = parse_action(action) if isinstance(action, str) else action
        on_app = namespace == "app" or (not namespace and default_namespace in (None, self, self.screen))
        if on_app and not self.started:
            self._held_actions.append((action, default_namespace, namespaces))
            return True
        return await super().run_action(action, default_namespace, namespaces)

    async def on_keys_footer_keys_shown(self, message: KeysFooter.KeysShown) -> None:
        """The first screen is on the terminal: the other tabs and the form's other fields are mounted behind it
        (the app's messages, keys among them, wait meanwhile: half a second), then what waited for them: the
        keys typed before, and what the command line asked for (a resume, an attach) or the warm-up."""
        await self.mount_other_tabs()
        await self.form.mount_other_rows()
        self.train_view.say("Ready. Edit settings (F2), start with F5; ctrl+p lists every command.")
        self.train_view.charts.show_record(self.session.record)
        self.started = True
        for action in self._held_actions:
            await self.run_action(*action)
        self._held_actions.clear()
        if self._focus_target == TABS["sweep"]:
            self._focus_latest_tab()  # now with the form, whose values the sweep builder shows
        if not self.initial_attach:  # an attached run's past is shown first (on_engine_events)
            self.call_after_refresh(self._start_warm_up)
        if self.initial_resume and self.is_web:  # --serve --resume RUN: in a process of its own, as every served run
            self.call_after_refresh(self._resume_served, run_dir_of(self.initial_resume))
        elif self.initial_resume:
            self.call_after_refresh(self._launch, self.initial_settings, self.initial_resume)
        elif self.initial_attach:
            self.call_after_refresh(self.attach, self.initial_attach, False)

    async def mount_other_tabs(self) -> None:
        """The views of the tabs the app did not open on (compose built the first one's)."""
        for pane_id, (_, view) in PANES.items():
            if pane_id != self._first_tab:
                await self.query_one(f"#{pane_id}", TabPane).mount(view(self._tab_parts()))

    def _tab_parts(self) -> TabParts:
        return TabParts(
            self.initial_settings,
            self.initial_path,
            self.initial_note,
            self.stale_notes,
            self.session,
            self.engine,
            lambda: self.settings_view,
            self.initial_invalid,
        )

    def on_unmount(self) -> None:
        if self.session.attached_to is not None:
            self.session.let_go()  # another process trains it: it goes on
        elif self.session.control is not None:  # never leave a training thread running behind a closed app
            self.session.control.stop()

    def notify(
        self, message: str, *, title: str = "", severity="information", timeout: float | None = None, markup: bool = False
    ) -> None:
        # engine and file messages hold brackets ([data], paths): never parse them as markup
        super().notify(short_paths(message), title=title, severity=severity, timeout=timeout, markup=markup)

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        for title, help_text, action, arguments in COMMANDS:
            yield SystemCommand(title, help_text, partial(getattr(self, f"action_{action}"), *arguments))

    # The tabs' views, found by their ids (app/panes.py): their modules load with their tabs.
    @property
    def settings_view(self) -> SettingsView:
        return cast("SettingsView", self.query_one("#settings"))

    @property
    def train_view(self) -> TrainView:
        return cast("TrainView", self.query_one("#train"))

    @property
    def results_view(self) -> ResultsView:
        return cast("ResultsView", self.query_one("#results"))

    @property
    def history_view(self) -> HistoryView:
        return cast("HistoryView", self.query_one("#history"))

    @property
    def sweep_view(self) -> SweepView:
        return cast("SweepView", self.query_one("#sweep"))

    @property
    def form(self) -> SettingsForm:
        return self.query_one(SettingsForm)

    @property
    def log_panel(self) -> LogPanel:
        return self.train_view.log_panel

    def _session_changed(self, state: AppState, detail: str) -> None:
        """The session's state or its words changed: the status line says so, and the footer shows what the
        keys can do now (check_action)."""
        for line in self.query(StatusLine):  # none before the first compose
            line.set_state(state, detail)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides a key from the footer: it shows only what the keys can do in this state
        if action in ("start", "start_background", "try_model", "save", "save_settings", "open") and self.trying():
            return False  # runs and settings files are the main screen's business; one model is tried at a time
        if action in ("save", "save_as", "save_settings", "open") and isinstance(self.screen, ModalScreen):
            return False  # a dialog's own ctrl+s (the notes'), or none: never the settings file behind it
        if action in ("start", "start_background") and self._on_tab("sweep"):
            return False  # F5 there is the sweep's (SweepView shows it while the sweep can start), never a run's
        if action == "start":
            return self.session.state not in ACTIVE
        if action == "pause":
            return self.session.state in PAUSABLE
        if action == "unpause":
            return self.session.state == AppState.PAUSED
        if action == "stop":
            return self.session.state in CONTROLLABLE
        if action == "hide_help_panel":  # escape passes on to the widgets unless the key panel is open
            return bool(self.screen.query("HelpPanel"))
        if action == "try_model":
            return self.trained_run() is not None  # shown when there is a model to try
        if action == "resume_run":
            return bool(self.session.resumable and self.session.state not in ACTIVE)  # hidden unless there is one
        return True

    # ---- tabs -----------------------------------------------------------------------------------
    def action_show_tab(self, name: str) -> None:
        # No focus first: a focused field in the pane being hidden would pass the focus to a sibling of its own,
        # and a focused widget switches the tabs back to its pane (F10, then F9, stayed on the Sweep tab).
        self.screen.set_focus(None)
        self.query_one("#main-tabs", TabbedContent).active = TABS[name]
        self._focus_target = TABS[name]
        self.call_after_refresh(self._focus_latest_tab)

    def action_in_history(self, action: str) -> None:
        """A History key from the palette: History shown first, its table focused, then the key's action (later
        again: the table's focus is itself set later, and would take the focus back from the filter box)."""
        self.action_show_tab("history")
        self.call_after_refresh(self.call_later, lambda: getattr(self.history_view, f"action_{action}")())

    def _focus_latest_tab(self) -> None:
        """Put the focus where the keys of the last tab asked for act, so no tab needs the mouse. It runs
        after a refresh, by when another tab may have been asked for (F9 typed before the first refresh):
        a late call must not focus the earlier tab, since focusing a widget also switches to its tab."""
        pane_id = self._focus_target
        if pane_id == TABS["settings"]:
            self.form.focus_first()
        elif pane_id == TABS["train"]:
            self.log_panel.focus()
        elif pane_id == TABS["results"]:
            self.results_view.focus()
        elif pane_id == TABS["history"]:
            self.history_view.focus_table()
        elif pane_id == TABS["sweep"] and not self.started:
            self.sweep_view.focus_default()  # activated once the form is there (on_keys_footer_keys_shown)
        elif pane_id == TABS["sweep"]:
            self.sweep_view.activate()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "main-tabs" and event.pane.id == TABS["history"]:
            self.refresh_history()

    def on_tab_wanted(self, message: TabWanted) -> None:
        self.action_show_tab(message.tab)

    def on_log_line(self, message: LogLine) -> None:
        self.train_view.say(message.text, message.kind)

    def on_settings_view_file_shown(self, message: SettingsView.FileShown) -> None:
        self.query_one(StatusLine).set_settings_name(message.text)

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    # ---- the settings file (ctrl+s, ctrl+o: on every tab) -------------------------------------------
    def action_save(self) -> None:
        # on the Sweep tab the file shown there is the sweep's: ctrl+s wrote the form into settings.toml (issue 33.4)
        (self.sweep_view if self._on_tab("sweep") else self.settings_view).save()

    def action_save_as(self) -> None:
        (self.sweep_view if self._on_tab("sweep") else self.settings_view).save_as()

    def action_save_settings(self) -> None:  # the palette's: the settings file on any tab
        self.settings_view.save()

    def action_save_settings_as(self) -> None:
        self.settings_view.save_as()

    def _on_tab(self, name: str) -> bool:
        return self.query_one("#main-tabs", TabbedContent).active == TABS[name]

    def action_open(self) -> None:
        self.settings_view.open()

    def action_preset(self) -> None:
        self.settings_view.preset()

    # ---- runs: F5, shift+F5, F6, F7, F8 ----------------------------------------------------------------
    def refuse_while_busy(self) -> bool:
        """True, saying why, while a run is going: no second run starts, nor a resume or an attach."""
        if self.session.state not in ACTIVE:
            return False
        self.stale_notes.about(BUSY_NOTE, f"A run is {self.session.state}; stop it first (F8).", severity="warning")
        return True

    def action_start(self) -> None:
        if self.is_web:  # served (--serve): the browser tab is this process; a run in it would die with the tab
            self.action_start_background()
            return
        self._start(resume=None)

    def action_resume_run(self) -> None:
        if self.session.resumable and (
            self.session.resumable_elsewhere or self.is_web
        ):  # not this app's run: it stays out of this process
            self.train_view.resume_in_background(Path(self.session.resumable))
        elif self.session.resumable and self.session.resumes_own_settings:
            if not self.refuse_while_busy():
                self._resume_as_it_was(Path(self.session.resumable))
        elif self.session.resumable:
            self._start(resume=self.session.resumable)  # the app's own run: with the form, edits since F8 too
        else:
            self.notify("No stopped run to resume; pick one in History (F9) and press r.", severity="warning")

    def _start(self, resume: str | None) -> None:
        if self.refuse_while_busy():
            return
        settings = self.settings_view.collect_or_warn("start")
        if settings is None:
            self.action_show_tab("settings")
            if errors := self.form.errors():  # none when it is the settings file that is not valid
                self.form.focus_field(errors[0][0])
            return
        self._launch(settings, resume)

    def _launch(self, settings: Settings, resume: str | None) -> None:
        self.stale_notes.forget(SETTINGS_NOTE)  # they start: whatever was wrong with them is not
        self.stale_notes.forget(RUN_NOTE)  # another run's failure or warnings
        self.results_view.clear()
        self.query_one(StatusLine).set_started(None)
        self.train_view.launch(settings, resume)
        self.action_show_tab("train")

    def action_start_background(self) -> None:
        if self.refuse_while_busy():
            return
        settings = self.settings_view.collect_or_warn("start")
        if settings is not None and (folder := self.train_view.start_in_background(settings)) is not None:
            self.attach(folder)

    def _resume_served(self, run_dir: Path) -> None:
        """--serve --resume RUN: every browser tab runs this command line, so only the first resumes the run; the
        tabs after it find the run training and attach to it."""
        if run_state(run_dir).live:
            self.attach(run_dir)
        else:
            self.train_view.resume_in_background(run_dir)

    def action_pause(self) -> None:
        self.session.toggle_pause()  # the run's own RunPaused / RunResumed events write the log lines, once

    def action_unpause(self) -> None:
        self.action_pause()  # F6 toggles; a second binding only so that the footer says "Resume"

    def action_stop(self) -> None:
        if self.session.stop():
            self.train_view.say("Stopping: finishing the batch, saving last.pt.")

    def attach(self, run_dir: Path, show: bool = True) -> None:
        """Show a run that another process trains (or trained): its history so far, then live; a sweep's folder
        on the Sweep tab. ``show``: switch to the Train screen (--attach opens on it, and a key typed since then
        has the last word)."""
        if self.refuse_while_busy():
            return
        run_dir = Path(run_dir)
        if is_sweep_dir(run_dir):  # --attach SWEEP_DIR: its trials, each of which can be attached to
            self.open_sweep(run_dir)
            return
        self.stale_notes.forget(RUN_NOTE)  # what was said of the last run
        self._replay_pending = True
        self.results_view.clear()
        self.query_one(StatusLine).set_started(None)
        self.train_view.watch(run_dir)
        if show:
            self.action_show_tab("train")
        self._attach_tab = self.query_one("#main-tabs", TabbedContent).active

    def on_train_view_attach_requested(self, message: TrainView.AttachRequested) -> None:
        self.attach(message.run_dir)

    def on_train_view_run_ended(self, message: TrainView.RunEnded) -> None:
        self.stale_notes.forget(BUSY_NOTE)
        self.refresh_history()
        if self.session.quitting:
            self._quit_with(self.session.exit_code)

    # ---- the run's events -------------------------------------------------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        self.route(message.event)

    def on_engine_events(self, message: EngineEvents) -> None:
        """A batch read from an attached run's journal: every event routed, the charts drawn once. The first
        is the run's past: its log lines say so instead of showing the time of attaching."""
        past, self._replay_pending = self._replay_pending, False
        tabs = self.query_one("#main-tabs", TabbedContent)
        chosen = tabs.active if past and tabs.active != self._attach_tab else None  # a key moved on while it was read
        self.log_panel.replaying = past
        last_step = max((i for i, e in enumerate(message.events) if isinstance(e, StepLogged)), default=-1)
        try:
            for index, event in enumerate(message.events):
                self.log_panel.clock = event.wall_time  # a line it logs shows when it happened
                if past and index < last_step and isinstance(event, StepLogged):
                    self.session.record.apply(event)  # a point of the curves; the progress bar shows the last one only
                else:
                    self.route(event, redraw=False)
        finally:
            self.log_panel.replaying, self.log_panel.clock = False, None
        self.train_view.charts.show_record(self.session.record)
        if chosen is not None:  # the keys typed during the replay win over the tab the run's end would show
            self.action_show_tab(next(name for name, pane in TABS.items() if pane == chosen))
        if past:
            self.call_after_refresh(self._start_warm_up)

    def route(self, ev: Event, redraw: bool = True) -> None:
        """An event to the session first (the run's state and record), then to every tab that shows it.
        ``redraw``: draw the charts now, and warn live; False while a journal is replayed in a batch."""
        self.session.saw(ev)
        if isinstance(ev, RunStarted):
            self.query_one(StatusLine).set_started(ev)
        self.train_view.show(ev, redraw)
        self.results_view.show(ev, self.session.record)
        if isinstance(ev, RunFinished):
            self.action_show_tab("results")

    # ---- quitting ---------------------------------------------------------------------------------
    def _quit_with(self, code: int) -> None:
        # asked now: once the app has exited its widgets are gone (none before the first screen was up)
        self.session.left_sweep = self.sweep_view.left_running() if self.query("#sweep") else None
        self.exit(code, return_code=code)

    async def action_quit(self) -> None:
        plan = self.session.quit_plan()
        if plan in ("leave", "now"):  # an attached run goes on; asked twice: do not wait for the checkpoint
            self._quit_with(self.session.exit_code)
            return
        if plan == "idle":  # first asking what to do with edits the settings file lacks
            code = self.session.exit_code
            self.settings_view.unless_unsaved("quitting", lambda: self._quit_with(code))
            return

        def answered(yes: bool | None) -> None:
            if yes and self.session.busy:
                self.session.quit_after_stop()
                self.action_stop()
                self.notify("Stopping the run, then quitting (ctrl+q again quits without waiting).")
            elif yes:
                self._quit_with(self.session.exit_code)

        question = "A run is going. Stop it (saving last.pt, resumable) and quit?"
        self.push_screen(ConfirmScreen(question, yes="Stop and quit", no="Keep training"), answered)

    # ---- History's keys ---------------------------------------------------------------------------
    def refresh_history(self) -> None:
        if self.query("#history") and self.query("#settings"):  # both there once the first screen is up
            self.history_view.load(self.settings_view.output_dir())

    def on_history_view_run_opened(self, message: HistoryView.RunOpened) -> None:
        self._open_run(message.run_dir, message.record)

    def _open_run(self, run_dir: Path, record: RunRecord) -> None:
        self._opened_run = run_dir
        self.results_view.open_run(run_dir, record)
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
        run_dir = message.run_dir
        if self.refuse_while_busy():
            return
        state = run_state(run_dir)
        if state.live:
            self.notify(f"{run_dir.name} is {state.status} in process {state.pid}; press a to attach to it.", severity="warning")
            return
        if read_summary(run_dir).get("status") == AppState.COMPLETED:
            self.notify(f"{run_dir.name} completed; nothing to resume.", severity="warning")
            return
        if started_in_background(run_dir) or self.is_web:  # in a process of its own again, as it began (or: served)
            self.train_view.resume_in_background(run_dir)
            return

        self._resume_as_it_was(run_dir)

    def _resume_as_it_was(self, run_dir: Path) -> None:
        """History's r, and F7 after it: the run goes on with its own settings (as --resume does); the form
        stays as the user left it (only l loads a run's settings into it)."""
        settings = self.settings_view.read_run_settings(run_dir)
        if settings is not None:
            self._launch(settings, self.session.choose_to_resume(run_dir, own_settings=True))

    def on_history_view_load_settings_requested(self, message: HistoryView.LoadSettingsRequested) -> None:
        def load() -> None:  # as the run started: l repeats that run (a resume's changes are in its journal)
            if self.settings_view.load_run_settings(message.run_dir):
                self.action_show_tab("settings")

        self.settings_view.unless_unsaved(f"loading the settings of {message.run_dir.name}", load)

    def on_history_view_try_requested(self, message: HistoryView.TryRequested) -> None:
        self.open_try(message.run_dir)

    def on_history_view_sweep_opened(self, message: HistoryView.SweepOpened) -> None:
        self.open_sweep(message.sweep_dir)

    # ---- sweeps -------------------------------------------------------------------------------------
    def open_sweep(self, sweep_dir: Path) -> None:
        """The Sweep tab, watching ``sweep_dir`` (--attach of a sweep folder, History's sweep row)."""
        self.action_show_tab("sweep")
        self.sweep_view.watch_folder(Path(sweep_dir))

    def action_new_sweep(self) -> None:
        self.action_show_tab("sweep")
        self.sweep_view.action_new()

    def action_open_sweep(self) -> None:
        self.action_show_tab("sweep")
        self.sweep_view.action_open()

    def on_sweep_view_trial_chosen(self, message: SweepView.TrialChosen) -> None:
        run_dir = message.run_dir
        if run_state(run_dir).live:
            self.attach(run_dir)
        elif not (run_dir / METRICS_FILE).is_file():
            self.notify(f"{run_dir.name} has not started yet.", severity="warning")
        else:  # as History's enter: its results under F4
            self._open_run(run_dir, RunRecord.from_jsonl(run_dir / METRICS_FILE, name=run_dir.name))

    # ---- pictures (p) ------------------------------------------------------------------------------
    def pictures_folder(self) -> Path | None:
        """Whose pictures p shows: the sweep on the Sweep tab, the row selected in History, else the run shown
        (the one History opened last on the Results tab, else the one trained or watched here)."""
        if self._on_tab("sweep"):
            return self.sweep_view.watcher.sweep_dir
        if self._on_tab("history"):
            info = self.history_view.selected()
            return info.path if info is not None else None
        started = self.session.record.started
        if self._opened_run is not None and (self._on_tab("results") or started is None):
            return self._opened_run
        return Path(started.run_dir) if started is not None else self._opened_run

    def action_pictures(self) -> None:
        folder = self.pictures_folder()
        if folder is None:
            self.notify(
                "No run to show the pictures of: start or attach to one, or pick one in History (F9).", severity="warning"
            )
            return
        from app.screens.pictures import PicturesScreen

        self.push_screen(PicturesScreen(folder))

    # ---- trying a trained model -------------------------------------------------------------------
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
        if self.query("#history"):  # none before the app's first screen is up (mount_other_tabs)
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

        start = self.trained_run() or Path(self.settings_view.output_dir())
        self.push_screen(
            PathScreen(
                "Try a run folder or checkpoint (.pt)", str(start), must_exist=True, folders=True, example="runs/RUN or best.pt"
            ),
            chosen,
        )

    def _start_warm_up(self) -> None:
        """After the first paint (and an attached run's past): torch, the engine and the data load on a thread,
        so that F5 and t find them loaded. Importing torch holds the GIL for stretches of a second: done
        before the first paint it would delay it by seconds; done on F5, it would freeze the screen of the run."""
        if self.warm_up:
            self.warm_up = False
            args = (self.initial_settings, not self.is_web)
            threading.Thread(target=warm_up, args=args, name="lstm-vision-warm-up", daemon=True).start()
