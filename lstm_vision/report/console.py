"""Headless output: one plain line per logged step and per epoch; a live line on a terminal."""

from __future__ import annotations

import os
import shutil
from typing import IO, Callable

from lstm_vision import events as ev
from lstm_vision.metrics import per_class_text, short_name
from lstm_vision.text import format_bytes, format_duration, format_percent, plural


def memory_text(event: ev.ResourcesSampled | None) -> str:
    if event is None:
        return ""
    text = f"RSS {format_bytes(event.host_rss_bytes)}"
    if event.gpu:
        text += f", GPU {format_bytes(event.gpu['allocated_bytes'])} (peak {format_bytes(event.gpu['peak_allocated_bytes'])})"
        ranks = event.gpu.get("rank_peak_allocated_bytes")
        if ranks and len(ranks) > 1:
            text += ", peak per rank " + " / ".join(format_bytes(b) for b in ranks)
    return text


def stop_place(e: ev.RunStopped) -> str:
    """Where a stopped run's last.pt stands, in words: "at epoch 2, step 40 of 131", "after epoch 13 of 15"."""
    done, epochs = int(e.summary.get("epochs_completed") or 0), e.summary.get("epochs")
    if e.step:
        return f"at epoch {done + 1}, step {e.step}" + (f" of {e.steps_per_epoch}" if e.steps_per_epoch else "")
    if done == 0:
        return "before the first step"
    return f"after epoch {done}" + (f" of {epochs}" if epochs else "")


def stopped_sentence(e: ev.RunStopped, then: str) -> str:
    """A stopped run in one sentence: where its checkpoint stands, then ``then`` (how to go on: a command, a key)."""
    return f"Stopped {stop_place(e)} ({os.path.basename(e.checkpoint)} keeps it): {then}"


def settings_change_text(e: ev.SettingsChanged) -> str:
    """What a resume changed of the settings, in one sentence (the printer's line, the app's log)."""

    def value(v) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    where = f"epoch {e.epoch + 1}" + (f", step {e.step}" if e.step else "")
    changed = ", ".join(f"{name} {value(before)} -> {value(after)}" for name, (before, after) in e.changes.items())
    return f"From {where} on, this resume changes {changed} (the run's settings.toml keeps how it started)."


def confusion_text(matrix: list[list[int]], class_names: list[str]) -> str:
    """Rows named in full, columns by short names ('7', not '7 - seven'), so that MNIST's matrix fits 80
    columns; long names are cut to 12 characters."""
    heads = [short_name(n, 12) for n in class_names]
    width = max(5, *(len(str(v)) for row in matrix for v in row), *(len(h) for h in heads)) + 1
    names = [n[:20] for n in class_names]
    corner = "true \\ predicted"
    first = max(len(corner), *(len(n) for n in names)) + 1  # the row names' column fits its header too
    lines = [corner.ljust(first) + "".join(h.rjust(width) for h in heads)]
    lines += [name.ljust(first) + "".join(str(v).rjust(width) for v in row) for name, row in zip(names, matrix)]
    return "\n".join(lines)


def fit_parts(parts: list[tuple[int, str]], width: int) -> str:
    """Join (rank, text) parts with two spaces in their order, leaving out the highest ranks (the least
    important) until the line is at most ``width`` characters; then cut it to the width."""
    kept = [(rank, text) for rank, text in parts if text]
    while len(kept) > 1 and len("  ".join(text for _, text in kept)) > width:
        kept.remove(max(kept, key=lambda part: part[0]))
    return "  ".join(text for _, text in kept)[: max(width, 0)]


def terminal_columns(stream: IO[str]) -> int:
    """The width of the terminal ``stream`` writes to (asked anew each time: terminals are resized)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return shutil.get_terminal_size().columns


class Terminal:
    """Where the lines go. Plain lines when ``stream`` is not a terminal (logs, nohup, schedulers); on a terminal
    the last line can be redrawn in place. When the stream fails (a closed pipe, `| head`; EIO from a terminal that
    is gone), writing stops and the run goes on: its run directory still records everything."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.gone = False
        self._live_line = False

    def line(self, text: str) -> None:
        self._write(("\n" if self._live_line else "") + text + "\n")
        self._live_line = False

    def live_line(self, parts: list[tuple[int, str]], done_steps: int, total_steps: int) -> None:
        """Redraw the terminal's last line: a progress bar and ``parts``, fitted to the terminal's width (a line
        that wrapped would leave its first half behind at every redraw)."""
        done = int(20 * done_steps / max(total_steps, 1))
        bar = (6, "[" + "#" * done + "." * (20 - done) + "]")
        # one column spare: a line that fills the last column wraps on some terminals
        self._write("\r\x1b[2K" + fit_parts([bar, *parts], terminal_columns(self.stream) - 1))
        self._live_line = True

    def _write(self, text: str) -> None:
        if self.gone:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:  # BrokenPipeError, EIO: nobody reads any more
            self.gone = True
            self._silence()

    def _silence(self) -> None:
        """Point the stream's file descriptor at /dev/null: what is still buffered, and the interpreter's last
        flush at exit, then go nowhere instead of raising ("Exception ignored ... BrokenPipeError")."""
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.stream.fileno())
            finally:
                os.close(devnull)
        except (AttributeError, OSError, ValueError):
            pass


class Printer:
    """Turns events into lines on a Terminal: one per logged step and per epoch (a live line on a terminal)."""

    def __init__(self, stream: IO[str]) -> None:
        self.terminal = Terminal(stream)
        self.line, self.live_line = self.terminal.line, self.terminal.live_line
        self.resources: ev.ResourcesSampled | None = None
        self.class_names: list[str] = []
        self.evaluations: dict[str, ev.EvaluationFinished] = {}

    @property
    def live(self) -> bool:
        return self.terminal.live

    @property
    def gone(self) -> bool:
        return self.terminal.gone

    def __call__(self, event: ev.Event) -> None:
        handler = getattr(self, f"on_{ev.EVENT_NAMES[type(event)]}", None)
        if handler is not None:
            handler(event)

    def on_run_started(self, e: ev.RunStarted) -> None:
        self.line(f"Run directory: {e.run_dir}")
        self.line(
            f"{e.dataset}: {e.train_size} train / {e.val_size} val / {e.test_size} test, sequence {e.sequence_length} x {e.input_size}, "
            f"{e.parameters:,} parameters, device {e.device} ({e.device_name}), precision {e.precision}, "
            f"compiled: {e.compiled}, world size {e.world_size}, batch {e.batch_size}, {e.steps_per_epoch} steps/epoch"
        )

    def on_log(self, e: ev.LogMessage) -> None:
        self.line(e.text if e.level == "info" else f"{e.level}: {e.text}")

    def on_resources_sampled(self, e: ev.ResourcesSampled) -> None:
        first = self.resources is None
        self.resources = e
        if first and e.note:
            self.line(
                f"Memory: {e.note}; host {format_bytes(e.host_total_bytes)} total, process RSS {format_bytes(e.host_rss_bytes)}"
            )

    def on_step_logged(self, e: ev.StepLogged) -> None:
        # ranks: what a narrow terminal leaves out first has the highest (memory, elapsed, the bar, lr, ...)
        parts = [
            (0, f"epoch {e.epoch} step {e.step}/{e.steps_per_epoch}"),
            (1, f"loss {e.loss:.4f}"),
            (3, f"acc {format_percent(e.accuracy)}"),
            (5, f"lr {e.lr:.2e}"),
            (4, f"{e.samples_per_s:,.0f} samples/s"),
            (7, f"elapsed {format_duration(e.elapsed_s)}"),
            (2, f"ETA {format_duration(e.eta_s)}"),
            (8, memory_text(self.resources)),
        ]
        if self.live:
            self.live_line(parts, e.global_step, e.total_steps)
        else:  # a log file keeps every figure, however wide
            self.line("  ".join(text for _, text in parts))

    def on_step_progressed(self, e: ev.StepProgressed) -> None:
        if self.live:  # plain output stays one line per logged step
            self.live_line(
                [
                    (0, f"epoch {e.epoch} step {e.step}/{e.steps_per_epoch}"),
                    (7, f"elapsed {format_duration(e.elapsed_s)}"),
                    (2, f"ETA {format_duration(e.eta_s)}"),
                ],
                e.global_step,
                e.total_steps,
            )

    def on_epoch_finished(self, e: ev.EpochFinished) -> None:
        val = f"  val loss {e.val_loss:.4f}  val acc {format_percent(e.val_accuracy)}" if e.val_loss is not None else ""
        self.line(
            f"epoch {e.epoch}/{e.epochs} done in {e.epoch_time_s:.1f} s ({e.samples_per_s:,.0f} samples/s): "
            f"train loss {e.train_loss:.4f}  train acc {format_percent(e.train_accuracy)}{val}  "
            f"ETA {format_duration(e.eta_s)}  {memory_text(self.resources)}"
        )

    def on_run_paused(self, e: ev.RunPaused) -> None:
        self.line(f"Paused at epoch {e.epoch}, step {e.step}.")

    def on_run_resumed(self, e: ev.RunResumed) -> None:
        self.line(f"Resumed at epoch {e.epoch}, step {e.step}.")

    def on_checkpoint_saved(self, e: ev.CheckpointSaved) -> None:
        if e.kind != "last":
            self.line(f"saved {e.path}")

    def on_evaluation_finished(self, e: ev.EvaluationFinished) -> None:
        self.evaluations[e.split] = e

    def on_predictions_sampled(self, e: ev.PredictionsSampled) -> None:
        self.class_names = list(e.class_names)

    def on_run_finished(self, e: ev.RunFinished) -> None:
        for split, label in (("train", "Train"), ("test", "Test")):
            if split in self.evaluations:
                r = self.evaluations[split]
                self.line(f"{label} data: Got {r.correct}/{r.total} with accuracy {100 * r.accuracy:.2f} %")
        names = self.class_names or [str(i) for i in range(len(e.confusion_matrix))]
        self.line("Confusion matrix (rows: true class, columns: predicted):\n" + confusion_text(e.confusion_matrix, names))
        if e.summary.get("per_class"):
            self.line("Per class (test set):\n" + per_class_text(e.summary["per_class"]))
        s = e.summary
        rate = s.get("train_samples_per_s")
        self.line(
            f"Completed: {plural(s['epochs_completed'], 'epoch')}"
            + (f" of {s['epochs']} (early stop)" if s.get("early_stopped_epoch") is not None else "")
            + f", training time {s['train_time_s']:.1f} s"
            + (f" ({rate:,.0f} samples/s)" if rate else "")
            + f"; results in {s['run_dir']}"
        )

    def on_settings_changed(self, e: ev.SettingsChanged) -> None:
        self.line(settings_change_text(e))

    def on_run_stopped(self, e: ev.RunStopped) -> None:
        if e.summary.get("status") == "pruned":  # the reason came just before, as a log line
            self.line(f"Pruned {stop_place(e)} ({os.path.basename(e.checkpoint)} keeps it); results in {e.summary['run_dir']}")
            return
        self.line(stopped_sentence(e, f"resume with lstm-vision-tui --no-ui --resume {e.summary['run_dir']}"))

    def on_run_failed(self, e: ev.RunFailed) -> None:
        self.line(f"error: {e.message}\n(traceback in {e.log_path})")


def jsonl_emitter(stream: IO[str]) -> Callable[[ev.Event], None]:
    """A torchrun child's events as JSON lines for the supervising parent (the same schema as metrics.jsonl)."""

    def emit(event: ev.Event) -> None:
        stream.write(event.to_json() + "\n")
        stream.flush()

    return emit
