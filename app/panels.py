"""The training screen's small panels: status line, progress, memory, log."""

from __future__ import annotations

import dataclasses
import time
from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar, RichLog, Static

from lstm_vision.events import EpochFinished, ResourcesSampled, RunStarted, StepLogged, StepProgressed
from app.record import fmt_bytes, fmt_count, fmt_duration

STATE_STYLES = {
    "idle": "dim", "starting": "bold yellow", "running": "bold green", "paused": "bold yellow",
    "stopping": "bold yellow", "completed": "bold green", "stopped": "bold yellow", "failed": "bold red",
}


class StatusLine(Static):
    """One line: run state on the left, what the run runs on to the right."""

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.state = "idle"
        self.detail = ""
        self.started: RunStarted | None = None
        self.settings_name = ""

    def on_mount(self) -> None:
        self._redraw()

    def set_state(self, state: str, detail: str = "") -> None:
        self.state, self.detail = state, detail
        self._redraw()

    def set_started(self, ev: RunStarted | None) -> None:
        self.started = ev
        self._redraw()

    def set_settings_name(self, name: str) -> None:
        self.settings_name = name
        self._redraw()

    def _redraw(self) -> None:
        text = Text()
        text.append(f" {self.state.upper()} ", style=f"reverse {STATE_STYLES.get(self.state, 'bold')}")
        parts = [self.detail] if self.detail else []
        ev = self.started
        if ev is not None:
            compiled = ev.compile_mode if ev.compiled in ("", ev.compile_mode, "nothing") else f"{ev.compile_mode} ({ev.compiled})"
            parts += [f"{ev.device_name or ev.device} {ev.precision}",
                      f"compile {compiled}",
                      f"{ev.world_size} proc" + ("s" if ev.world_size != 1 else ""),
                      f"{fmt_count(ev.parameters)} params",
                      f"{ev.dataset} {fmt_count(ev.train_size)}/{fmt_count(ev.val_size)}/{fmt_count(ev.test_size)}"]
        elif self.settings_name:
            parts.append(f"settings: {self.settings_name}")
        text.append(" " + " · ".join(parts))
        self.update(text)


class RunProgress(Vertical):
    """Epoch and run progress, throughput, elapsed and the engine's ETA."""

    DEFAULT_CSS = """
    RunProgress { height: auto; }
    RunProgress Horizontal { height: 1; }
    RunProgress .progress-label { width: 11; }
    RunProgress ProgressBar { width: auto; }
    RunProgress .progress-info { width: 1fr; padding-left: 1; }
    """

    epochs = 0
    last_rate = 0.0

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("Epoch -", id="epoch-label", classes="progress-label")
            yield ProgressBar(total=1, show_eta=False, id="epoch-bar")
            yield Label("", id="epoch-info", classes="progress-info")
        with Horizontal():
            yield Label("Run", classes="progress-label")
            yield ProgressBar(total=1, show_eta=False, id="run-bar")
            yield Label("", id="run-info", classes="progress-info")

    def reset(self) -> None:
        self.query_one("#epoch-bar", ProgressBar).update(total=1, progress=0)
        self.query_one("#run-bar", ProgressBar).update(total=1, progress=0)
        self.query_one("#epoch-label", Label).update("Epoch -")
        self.query_one("#epoch-info", Label).update("")
        self.query_one("#run-info", Label).update("")
        self.epochs = 0
        self.last_rate = 0.0

    def show_started(self, ev: RunStarted) -> None:
        self.epochs = ev.epochs
        total = max(ev.steps_per_epoch * max(ev.epochs - ev.start_epoch, 0), 1)
        self.query_one("#run-bar", ProgressBar).update(total=total, progress=0)
        self.query_one("#epoch-bar", ProgressBar).update(total=max(ev.steps_per_epoch, 1), progress=0)
        self.query_one("#run-info", Label).update(f"{ev.epochs} epochs × {ev.steps_per_epoch} steps, batch {ev.batch_size}")

    def show_step(self, ev: StepLogged) -> None:
        self.query_one("#epoch-label", Label).update(f"Epoch {ev.epoch}/{getattr(self, 'epochs', 0) or '?'}")
        self.query_one("#epoch-bar", ProgressBar).update(total=max(ev.steps_per_epoch, 1), progress=ev.step)
        self.query_one("#epoch-info", Label).update(
            f"step {ev.step}/{ev.steps_per_epoch} · loss {ev.loss:.4f} · acc {100 * ev.accuracy:.1f}%")
        self.query_one("#run-bar", ProgressBar).update(total=max(ev.total_steps, 1), progress=ev.global_step)
        self.last_rate = ev.samples_per_s
        self.query_one("#run-info", Label).update(
            f"{ev.samples_per_s:,.0f} samples/s · {fmt_duration(ev.elapsed_s)} elapsed · ETA {fmt_duration(ev.eta_s)}")

    def show_progress(self, ev: StepProgressed) -> None:
        """Between logged steps: move the bars and the clock, keep the last loss and throughput."""
        self.query_one("#epoch-label", Label).update(f"Epoch {ev.epoch}/{getattr(self, 'epochs', 0) or '?'}")
        self.query_one("#epoch-bar", ProgressBar).update(total=max(ev.steps_per_epoch, 1), progress=ev.step)
        self.query_one("#run-bar", ProgressBar).update(total=max(ev.total_steps, 1), progress=ev.global_step)
        info = self.query_one("#run-info", Label)
        rate = self.last_rate
        speed = f"{rate:,.0f} samples/s · " if rate else ""
        info.update(f"{speed}{fmt_duration(ev.elapsed_s)} elapsed · ETA {fmt_duration(ev.eta_s)}")

    def show_epoch(self, ev: EpochFinished) -> None:
        self.query_one("#epoch-label", Label).update(f"Epoch {ev.epoch}/{ev.epochs}")
        bar = self.query_one("#epoch-bar", ProgressBar)
        bar.update(progress=bar.total or 1)
        val = "" if ev.val_accuracy is None else f" · val {100 * ev.val_accuracy:.2f}%"
        self.query_one("#epoch-info", Label).update(
            f"done in {fmt_duration(ev.epoch_time_s)} · train {100 * ev.train_accuracy:.2f}%{val}")
        self.query_one("#run-info", Label).update(
            f"{ev.samples_per_s:,.0f} samples/s · {fmt_duration(ev.elapsed_s)} elapsed · ETA {fmt_duration(ev.eta_s)}")

    def finish(self) -> None:
        bar = self.query_one("#run-bar", ProgressBar)
        bar.update(progress=bar.total or 1)


class MemoryPanel(Static):
    """GPU memory through torch/NVML when there is a GPU, host memory always."""

    def on_mount(self) -> None:
        self.border_title = "memory"
        self.update(Text("no samples yet", style="dim"))

    def show(self, ev: ResourcesSampled) -> None:
        text = Text()
        gpu = ev.gpu
        if isinstance(gpu, dict):
            name = gpu.get("name") or "GPU"
            text.append(f"{name}\n", style="bold")
            text.append(f"alloc {fmt_bytes(gpu.get('allocated'))} · reserved {fmt_bytes(gpu.get('reserved'))}\n")
            text.append(f"peak {fmt_bytes(gpu.get('peak'))} · total {fmt_bytes(gpu.get('total'))}\n")
            extra = []
            if gpu.get("used") is not None:
                extra.append(f"used {fmt_bytes(gpu.get('used'))}")
            if gpu.get("utilization") is not None:
                extra.append(f"util {gpu['utilization']:.0f}%")
            if gpu.get("temperature") is not None:
                extra.append(f"{gpu['temperature']:.0f}°C")
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
        self.update(text)


LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "bold red", "app": "cyan"}


class LogPanel(RichLog):
    """The engine's messages and the app's own notes, newest last."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=2000, wrap=True, markup=False, highlight=False, min_width=20, **kwargs)
        self.messages: deque[str] = deque(maxlen=2000)  # the unwrapped text, for copying and for tests

    def on_mount(self) -> None:
        self.border_title = "log"

    def add(self, text: str, level: str = "info") -> None:
        line = Text(time.strftime("%H:%M:%S "), style="dim")
        line.append(text, style=LEVEL_STYLES.get(level, ""))
        self.messages.append(text)
        self.write(line)
