"""The lstm-vision Textual app: composes the screens and routes engine events to them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual.actions import parse as parse_action
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import TabbedContent, TabPane

from lstm_vision.settings import Settings
from app.actions.attach import AttachActions
from app.actions.history import HistoryActions
from app.actions.palette import PaletteCommands
from app.actions.trying import TryActions
from app.actions.notes import StaleNotes
from app.actions.settings_files import SettingsFileActions
from app.widgets.footer import KeysFooter
from app.widgets.form import SettingsForm
from app.panes import PANES
from app.widgets.panels import LogPanel, StatusLine
from app.record import short_paths
from app.actions.routes import EventRoutes
from app.actions.runs import RunActions
from app.actions.sweeps import SweepActions
from app.session import RunSession
from app.state import ACTIVE, CONTROLLABLE, PAUSABLE, TABS, AppState
from app.bridge import Engine
from lstm_vision.sweep.folder import is_sweep_dir

if TYPE_CHECKING:
    from app.widgets.charts import ChartPair
    from app.screens.history import HistoryView
    from app.screens.results import ResultsView
    from app.screens.sweep import SweepView


class LstmVisionApp(
    SweepActions,
    AttachActions,
    RunActions,
    HistoryActions,
    TryActions,
    SettingsFileActions,
    EventRoutes,
    PaletteCommands,
    StaleNotes,
    App[int],
):
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
        self._focus_target = "tab-settings"  # the tab whose keys get the focus after the next refresh (compose sets it)
        self.session = RunSession(on_change=self._session_changed)  # the run's lifecycle: app/session.py
        self._held_actions: list[tuple] = []  # actions asked for before the app started
        self.started = False  # every tab's widgets are there, every field of the form: the keys act at once
        self.warm_up = False  # run_app: load torch, the engine and the data on a thread once the first screen is up

    # ---- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        # --attach opens on the Train screen (a sweep's folder on the Sweep tab): its first paint is the viewer,
        # before the journal is read. The tab is chosen here, not later: TabbedContent's own start would undo it.
        if self.initial_attach:
            self._focus_target = "tab-sweep" if is_sweep_dir(self.initial_attach) else "tab-train"
        elif self.initial_resume:  # --resume RUN: the run trains at once, so its screen shows first
            self._focus_target = "tab-train"
        self._first_tab = self._focus_target
        with TabbedContent(id="main-tabs", initial=self._first_tab):
            for pane_id, (label, contents) in PANES.items():
                with TabPane(label, id=pane_id):
                    if pane_id == self._first_tab:  # the others: mount_other_tabs, once this one is painted
                        yield from contents(self.settings)
        yield KeysFooter()

    initial_note = ""  # run_app: "+ --preset cpu, --set ..." when the command line added to the file

    def on_mount(self) -> None:
        if self._first_tab == TABS["settings"]:
            self.show_settings_path(self.initial_note)  # in the first paint: the file the form holds
        self.call_after_refresh(self._focus_latest_tab)
        self.install_hangup_handlers()

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
        if self._first_tab != TABS["settings"]:
            self.show_settings_path(self.initial_note)
        self.log_panel.add("Ready. Edit settings (F2), start with F5; ctrl+p lists every command.", "app")
        self.live_charts.show_record(self.session.record)
        self.started = True
        for action in self._held_actions:
            await self.run_action(*action)
        self._held_actions.clear()
        if self._focus_target == TABS["sweep"]:
            self._focus_latest_tab()  # now with the form, whose values the sweep builder shows
        if not self.initial_attach:  # an attached run's past is shown first (on_engine_events)
            self.call_after_refresh(self._start_warm_up)
        if self.initial_resume:
            self.call_after_refresh(self._launch, self.settings, self.initial_resume)
        elif self.initial_attach:
            self.call_after_refresh(self.attach, self.initial_attach, False)

    async def mount_other_tabs(self) -> None:
        """The contents of the tabs the app did not open on (compose built the first one's)."""
        for pane_id, (_, contents) in PANES.items():
            if pane_id != self._first_tab:
                await self.query_one(f"#{pane_id}", TabPane).mount_all(contents(self.settings))

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

    @property
    def form(self) -> SettingsForm:
        return self.query_one(SettingsForm)

    @property
    def log_panel(self) -> LogPanel:
        return self.query_one(LogPanel)

    # The views of the tabs, found by their ids (app/panes.py): their modules load with their tabs, the tabs
    # the app does not open on after the first paint.
    @property
    def live_charts(self) -> ChartPair:
        return cast("ChartPair", self.query_one("#live-charts"))

    @property
    def results_view(self) -> ResultsView:
        return cast("ResultsView", self.query_one("#results"))

    @property
    def history_view(self) -> HistoryView:
        return cast("HistoryView", self.query_one("#history"))

    @property
    def sweep_view(self) -> SweepView:
        return cast("SweepView", self.query_one("#sweep"))

    def _session_changed(self, state: AppState, detail: str) -> None:
        """The session's state or its words changed: the status line says so, and the footer shows what the
        keys can do now (check_action)."""
        for line in self.query(StatusLine):  # none before the first compose
            line.set_state(state, detail)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides a key from the footer: it shows only what the keys can do in this state
        if action in ("start", "start_background", "try_model", "save", "open") and self.trying():
            return False  # runs and settings files are the main screen's business; one model is tried at a time
        if action in ("start", "start_background") and self.query_one("#main-tabs", TabbedContent).active == TABS["sweep"]:
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

    def action_show_tab(self, name: str) -> None:
        # No focus first: a focused field in the pane being hidden would pass the focus to a sibling of its own,
        # and a focused widget switches the tabs back to its pane (F10, then F9, stayed on the Sweep tab).
        self.screen.set_focus(None)
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
            self.results_view.focus()
        elif pane_id == "tab-history":
            self.history_view.focus_table()
        elif pane_id == "tab-sweep" and not self.started:
            self.sweep_view.focus_default()  # activated once the form is there (on_keys_footer_keys_shown)
        elif pane_id == "tab-sweep":
            self.sweep_view.activate()

    def action_unpause(self) -> None:
        self.action_pause()  # F6 toggles; a second binding only so that the footer says "Resume"

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def _start_warm_up(self) -> None:
        """After the first paint (and an attached run's past): torch, the engine and the data load on a thread,
        so that F5 and t find them loaded. Importing torch holds the GIL for stretches of a second: done
        before the first paint it would delay it by seconds; done on F5, it would freeze the screen of the run."""
        if self.warm_up:
            self.warm_up = False
            threading.Thread(target=_warm_up, args=(self.settings,), name="lstm-vision-warm-up", daemon=True).start()


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
        if app.session.own_run_going:
            app.session.control.stop()
    if app.session.left_running is not None:
        _say(
            f"{app.session.left_running} goes on training in the background; "
            f"watch it again with: lstm-vision-tui --attach {app.session.left_running}"
        )
    elif hint := app.session.resume_hint():
        _say(hint)
    if app.session.left_sweep is not None:
        _say(
            f"The sweep {app.session.left_sweep} goes on in the background; watch it again with: lstm-vision-tui --attach {app.session.left_sweep}"
        )
    return int(code) if code is not None else int(app.return_code or 0)


def _say(text: str) -> None:
    try:
        print(text, flush=True)
    except OSError:
        pass  # the terminal is gone
