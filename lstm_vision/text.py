"""Numbers as people read them: durations, byte counts, percentages, plurals. One wording for the console,
the app and the pictures."""

from __future__ import annotations

import time


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf") or seconds < 0:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_clock(wall_time: float | None) -> str:
    """When an event happened (its wall_time), by this machine's clock: "13:05:09", for a live line and a replayed
    one alike; "--:--:--" for an event of a journal written before events carried their time."""
    if wall_time is None:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.localtime(wall_time))


def format_bytes(count: float | None) -> str:
    if count is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def plural(n: int, noun: str) -> str:
    """ "1 epoch", "2 epochs"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.2f}%"


def format_share(fraction: float) -> str:
    """A setting's share of a sweep's importance: "93%", and a small one still apart from nothing: "0.6%"."""
    return f"{100 * fraction:.1f}%" if fraction < 0.01 else f"{100 * fraction:.0f}%"


SIGNIFICANT_DIGITS = 4  # a sampled learning rate reads 0.01496, not 0.014956347886667344


def format_number(value: float | int | str | None) -> str:
    """A value as people read it, to 4 significant digits: a float, or the text of one (a trials.csv cell);
    whole numbers, words and lists are written as they are. The sweep's lines, its pictures and the app's tables
    all write sampled values with this."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if not any(c in text for c in ".eE") or text.lower() in ("inf", "-inf", "nan"):
            return text  # a whole number, a word, a list: as written
        try:
            value = float(text)
        except ValueError:
            return text
    return f"{value:.{SIGNIFICANT_DIGITS}g}"


def format_metric(metric: str, value: float | None, std: float | None = None) -> str:
    """``val_accuracy 97.31%`` or ``val_loss 0.0812``; with ``std`` (a point run over several seeds) the mean
    +- its standard deviation: ``val_accuracy 97.31% +- 0.12%``."""
    if value is None:
        return f"{metric} -"
    shown = format_percent(value) if metric == "val_accuracy" else f"{value:.4f}"
    if std is None:
        return f"{metric} {shown}"
    spread = format_percent(std) if metric == "val_accuracy" else f"{std:.4f}"
    return f"{metric} {shown} +- {spread}"
