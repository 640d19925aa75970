"""The training screen's small panels: status line, progress, memory, log."""

from __future__ import annotations

import dataclasses
import time
from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import RichLog

from lstm_vision.events import EpochFinished, ResourcesSampled, RunStarted, StepLogged, StepProgressed
from app.record import fmt_count, short_paths
from lstm_vision.text import format_bytes as fmt_bytes, format_duration as fmt_duration, plural
from app.state import AppState

STATE_STYLES = {
    AppState.IDLE: "dim",
    AppState.STARTING: "bold yellow",
    AppState.RUNNING: "bold green",
    AppState.PAUSED: "bold yellow",
    AppState.STOPPING: "bold yellow",
    AppState.COMPLETED: "bold green",
    AppState.STOPPED: "bold yellow",
    AppState.PRUNED: "bold yellow",
    AppState.FAILED: "bold red",
    AppState.LOST: "bold red",
}


class TextWidget(Widget):
    """Shows a Text that changes often: refresh() repaints it without a layout pass of the screen
    (Static.update would reflow the whole screen each time, several times a second while training)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._text = Text()

    def set_text(self, text: Text) -> None:
        if text != self._text:
            self._text = text
            self.refresh()

    def render(self) -> Text:
        return self._text


def tail_of(text: str, width: int) -> str:
    """A path that is too long, as "…/" and its last folders that fit (at least the last): the run's name
    says more than where its output folder is."""
    if len(text) <= width or "/" not in text:
        return text
    names = text.split("/")
    tail = names.pop()
    while names and len(names[-1]) + len(tail) + 3 <= width:
        tail = names.pop() + "/" + tail
    return "…/" + tail


class StatusLine(TextWidget):
    """One line: run state on the left, what the run runs on to the right."""

    DEFAULT_CSS = "StatusLine { height: 1; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = AppState.IDLE
        self.detail = ""
        self.started: RunStarted | None = None
        self.settings_name = ""

    def on_mount(self) -> None:
        self._redraw()

    def set_state(self, state: AppState, detail: str = "") -> None:
        self.state, self.detail = state, detail
        self._redraw()

    def set_started(self, ev: RunStarted | None) -> None:
        self.started = ev
        self._redraw()

    def set_settings_name(self, name: str) -> None:
        self.settings_name = name
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        badge = f" {self.state.upper()} "
        text.append(badge, style=f"reverse {STATE_STYLES[self.state]}")
        # (rank, text): what a narrow terminal leaves out first has the highest rank; the rest stays whole
        room = (self.size.width or 80) - len(badge) - 1
        parts = [(0, tail_of(short_paths(self.detail), room // 2))] if self.detail else []
        ev = self.started
        if ev is not None:
            compiled = (
                ev.compile_mode if ev.compiled in ("", ev.compile_mode, "nothing") else f"{ev.compile_mode} ({ev.compiled})"
            )
            parts += [
                (1, f"{ev.device_name or ev.device} {ev.precision}"),
                (5, f"compile {compiled}"),
                (4, plural(ev.world_size, "proc")),
                (3, f"{fmt_count(ev.parameters)} params"),
                (2, f"{ev.dataset} {fmt_count(ev.train_size)}/{fmt_count(ev.val_size)}/{fmt_count(ev.test_size)}"),
            ]
        elif self.settings_name:
            parts.append((0, f"settings: {short_paths(self.settings_name)}"))
        while len(parts) > 1 and len(" · ".join(t for _, t in parts)) > room:
            parts.remove(max(parts, key=lambda part: part[0]))
        text.append(" " + " · ".join(t for _, t in parts))
        self.set_text(text)


class ProgressLine(Widget):
    """'Epoch 3/15  ━━━━━━╸━━━━  45% step 90/196 · …' drawn in one line, repainted without a layout pass."""

    DEFAULT_CSS = "ProgressLine { height: 1; }"

    def __init__(self, label: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.label, self.fraction, self.info = label, 0.0, ""

    def set(self, label: str | None = None, fraction: float | None = None, info: str | None = None) -> None:
        new = (
            self.label if label is None else label,
            self.fraction if fraction is None else fraction,
            self.info if info is None else info,
        )
        if new != (self.label, self.fraction, self.info):
            self.label, self.fraction, self.info = new
            self.refresh()

    def render(self) -> Text:
        width = self.size.width or 80
        bar_w = max(10, min(30, width // 5))
        frac = max(0.0, min(1.0, self.fraction))
        filled = frac * bar_w
        full = int(filled)
        accent = self.app.current_theme.primary if self.is_mounted else "green"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{self.label:<10} ")  # a space before the bar also after "Epoch 10/15"
        text.append("━" * full, style=accent)
        if full < bar_w:
            text.append("╸" if filled - full >= 0.5 else "╺", style=accent if filled - full >= 0.5 else "dim")
            text.append("━" * (bar_w - full - 1), style="dim")
        text.append(f" {100 * frac:3.0f}% ")
        text.append(self.info)
        return text


class RunProgress(Vertical):
    """Epoch and run progress, throughput, elapsed and the engine's ETA."""

    DEFAULT_CSS = "RunProgress { height: auto; }"

    epochs = 0
    steps_per_epoch = 0
    last_rate = 0.0
    last_metrics = ""

    def compose(self) -> ComposeResult:
        yield ProgressLine("Epoch -", id="epoch-line")
        yield ProgressLine("Run", id="run-line")

    @property
    def epoch_line(self) -> ProgressLine:
        return self.query_one("#epoch-line", ProgressLine)

    @property
    def run_line(self) -> ProgressLine:
        return self.query_one("#run-line", ProgressLine)

    def reset(self) -> None:
        self.epoch_line.set("Epoch -", 0.0, "")
        self.run_line.set("Run", 0.0, "")
        self.epochs = 0
        self.last_rate = 0.0
        self.last_metrics = ""

    def show_started(self, ev: RunStarted) -> None:
        self.epochs, self.steps_per_epoch = ev.epochs, ev.steps_per_epoch
        self.epoch_line.set(f"Epoch {ev.start_epoch + 1}/{ev.epochs}", 0.0)
        self.run_line.set(
            fraction=ev.start_epoch / max(ev.epochs, 1),
            info=f"{plural(ev.epochs, 'epoch')} × {plural(ev.steps_per_epoch, 'step')}, batch {ev.batch_size}",
        )

    def _label(self, epoch: int) -> str:
        return f"Epoch {epoch}/{self.epochs or '?'}"

    def _step_info(self, step: int, steps: int) -> str:
        return f"step {step}/{steps}" + (f" · {self.last_metrics}" if self.last_metrics else "")

    def show_step(self, ev: StepLogged) -> None:
        self.last_rate = ev.samples_per_s
        self.last_metrics = f"loss {ev.loss:.4f} · acc {100 * ev.accuracy:.1f}%"
        self.show_at(ev.epoch, ev.step, ev.steps_per_epoch)
        self.run_line.set(
            fraction=ev.global_step / max(ev.total_steps, 1),
            info=f"{ev.samples_per_s:,.0f} samples/s · {fmt_duration(ev.elapsed_s)} elapsed · ETA {fmt_duration(ev.eta_s)}",
        )

    def show_progress(self, ev: StepProgressed) -> None:
        """Between logged steps: move the bars and the clock, keep the last loss and throughput."""
        self.show_at(ev.epoch, ev.step, ev.steps_per_epoch)  # the loss is that of the last logged step
        speed = f"{self.last_rate:,.0f} samples/s · " if self.last_rate else ""
        self.run_line.set(
            fraction=ev.global_step / max(ev.total_steps, 1),
            info=f"{speed}{fmt_duration(ev.elapsed_s)} elapsed · ETA {fmt_duration(ev.eta_s)}",
        )

    def show_epoch(self, ev: EpochFinished) -> None:
        val = "" if ev.val_accuracy is None else f" · val {100 * ev.val_accuracy:.2f}%"
        self.epoch_line.set(
            f"Epoch {ev.epoch}/{ev.epochs}",
            1.0,
            f"done in {fmt_duration(ev.epoch_time_s)} · train {100 * ev.train_accuracy:.2f}%{val}",
        )
        self.run_line.set(
            fraction=ev.epoch / max(ev.epochs, 1),
            info=f"{ev.samples_per_s:,.0f} samples/s · {fmt_duration(ev.elapsed_s)} elapsed · ETA {fmt_duration(ev.eta_s)}",
        )

    def show_at(self, epoch: int, step: int, steps: int = 0) -> None:
        """The epoch bar at ``step`` of ``steps`` (0: the run's own); also where a pause or a stop holds the
        run (the last progress tick may be a second old)."""
        steps = steps or self.steps_per_epoch or max(step, 1)
        self.epoch_line.set(self._label(epoch), step / steps, self._step_info(step, steps))

    def finish(self) -> None:
        self.run_line.set(fraction=1.0)


class MemoryPanel(TextWidget):
    """GPU memory through torch/NVML when there is a GPU, host memory always."""

    def on_mount(self) -> None:
        self.border_title = "memory"
        self.set_text(Text("no samples yet", style="dim"))

    def show(self, ev: ResourcesSampled) -> None:
        text = Text()
        gpu = ev.gpu
        if isinstance(gpu, dict):
            name = gpu.get("name") or "GPU"
            text.append(f"{name}\n", style="bold")
            text.append(f"alloc {fmt_bytes(gpu.get('allocated_bytes'))} · reserved {fmt_bytes(gpu.get('reserved_bytes'))}\n")
            text.append(f"peak {fmt_bytes(gpu.get('peak_allocated_bytes'))} · total {fmt_bytes(gpu.get('total_bytes'))}\n")
            ranks = gpu.get("rank_peak_allocated_bytes") or []
            if len(ranks) > 1:
                text.append("peak per rank " + " / ".join(fmt_bytes(r) for r in ranks) + "\n")
            extra = []
            if gpu.get("used_bytes") is not None:
                extra.append(f"used {fmt_bytes(gpu['used_bytes'])}")
            if gpu.get("utilization_percent") is not None:
                extra.append(f"util {gpu['utilization_percent']:.0f}%")
            if gpu.get("temperature_c") is not None:
                extra.append(f"{gpu['temperature_c']:.0f}°C")
            if extra:
                text.append(" · ".join(extra) + "\n")
        else:
            text.append("No GPU", style="bold yellow")
            text.append(": training on the CPU\n")
            if ev.note.lower().startswith("no gpu"):
                ev = dataclasses.replace(ev, note="")  # the engine said what the header says
        text.append(f"RSS  {fmt_bytes(ev.host_rss_bytes)} (peak {fmt_bytes(ev.host_peak_rss_bytes)})\n")
        text.append(f"host {fmt_bytes(ev.host_available_bytes)} free of {fmt_bytes(ev.host_total_bytes)}")
        if ev.note:
            text.append(f"\n{ev.note}", style="dim")
        self.set_text(text)


LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "bold red", "app": "cyan"}


class LogPanel(RichLog):
    """The engine's messages and the app's own notes, newest last."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=2000, wrap=True, markup=False, highlight=False, min_width=20, **kwargs)
        self.messages: deque[str] = deque(maxlen=2000)  # the unwrapped text, for copying and for tests
        self._lines: deque[Text] = deque(maxlen=2000)  # the styled lines, to wrap again on a resize
        self._wrapped_at = 0
        self._rewrap_timer = None
        self._follow = True  # new lines scroll the view down: not while the user has scrolled up to read

    def on_mount(self) -> None:
        self.border_title = "log"

    replaying = False  # True while a journal's past is shown: its lines are as old as their events
    clock: float | None = None  # the wall_time of the event whose lines are being added (a journal's)

    def add(self, text: str, level: str = "info") -> None:
        if self.clock is not None:  # the event's own time, as the process that made it saw its clock
            stamp = time.strftime("%H:%M:%S ", time.localtime(self.clock))
        else:  # now; a replayed event of a journal written before events carried wall_time has no time
            stamp = "--:--:-- " if self.replaying else time.strftime("%H:%M:%S ")
        line = Text(stamp, style="dim")
        line.append(short_paths(text), style=LEVEL_STYLES.get(level, ""))
        self.messages.append(text)
        self._lines.append(line)
        # hidden (another tab shows), the log has no width: wrap at the one it had (RichLog would use min_width)
        self.write(line, width=self._wrap_width() or self._wrapped_at or None, scroll_end=self._follow)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.size.height:  # hidden, there is no view to follow or leave
            self._follow = new_value >= self.max_scroll_y

    def on_resize(self, event) -> None:
        # RichLog wraps a line once, when written: after a resize, wrap them all again at the new width
        # (once the terminal has stopped changing size, so a drag does not redo it at every step).
        super().on_resize(event)
        if self._rewrap_timer is not None:
            self._rewrap_timer.stop()
        self._rewrap_timer = self.set_timer(0.15, self._rewrap)

    def _wrap_width(self) -> int | None:
        # Explicit: RichLog measures lines against the app console, whose width can lag the terminal's.
        width = self.scrollable_content_region.width
        return max(width, self.min_width) if width > 0 else None

    def _rewrap(self) -> None:
        width = self._wrap_width()
        if width is None or width == self._wrapped_at:
            return
        self._wrapped_at = width
        follow, top = self._follow, self.scroll_y
        self.clear()
        for line in self._lines:
            self.write(line, width=width, scroll_end=follow)
        self._follow = follow
        if not follow:  # about where the reader was (lines above may now take more or fewer rows)
            self.scroll_to(y=top, animate=False)
