"""Experiment trackers (output.mlflow, output.wandb): more consumers of the events, as TensorBoard is.

Rank 0 only, as every file of a run. Each is checked before the run's folder is made (``check_trackers``): the
package installed, the tracking server answering; either missing is one sentence naming it (exit 2). A tracker
that fails later is dropped with one warning line and the run goes on: metrics.jsonl keeps everything.
A sweep's trials are nested under one parent per sweep folder (``nested_under``, set by sweep/trial.py); the sweep
checks the trackers once, before its folder is made (sweep/launch.py), and ends its parent run (``end_sweep_run``).
"""

from __future__ import annotations

import importlib.util
import os
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from lstm_vision import events as ev
from lstm_vision.errors import SettingsError
from lstm_vision.settings import Settings

PARENT_ENV = "LSTM_VISION_TRACKER_PARENT"  # a sweep's folder: its trials' tracker runs are nested under its own
REACH_TIMEOUT_S = 5.0
OFF_MODES = ("offline", "disabled", "dryrun")  # WANDB_MODE values that reach no server


def _need(package: str, setting: str, extra: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise SettingsError(
            f"{setting} needs the {package} package: pip install 'lstm-vision[{extra}]' (or pip install {package}), "
            f'or set {setting} = "" to train without it.'
        )


def _reach(url: str, setting: str, shown: str) -> None:
    """Any HTTP answer at ``url`` will do (a server is there); no answer is the sentence."""
    try:
        with urllib.request.urlopen(url, timeout=REACH_TIMEOUT_S):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise SettingsError(
            f'{setting} = {shown} cannot be reached ({reason}); start that server, or set {setting} = "" to train without it.'
        ) from None


def check_trackers(settings: Settings) -> None:
    """Refuse, before anything is written, a tracker asked for that cannot work. A sweep's trial (nested_under)
    asks no server: its sweep did, once, before its folder was made; one gone since is a trial's warning line."""
    out = settings.output
    reach = not os.environ.get(PARENT_ENV)
    if out.mlflow:
        _need("mlflow", "output.mlflow", "mlflow")
        if reach and out.mlflow.startswith(("http://", "https://")):
            _reach(out.mlflow.rstrip("/") + "/health", "output.mlflow", out.mlflow)
    if out.wandb:
        _need("wandb", "output.wandb", "wandb")
        if reach and os.environ.get("WANDB_MODE", "online") not in OFF_MODES:
            base = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
            _reach(base, "output.wandb", f"{out.wandb} (W&B at {base}; WANDB_MODE=offline logs without it)")


@contextmanager
def nested_under(sweep_dir: Path) -> Iterator[None]:
    """The runs started within: trials of the sweep in ``sweep_dir`` (their torchrun children inherit it too)."""
    before = os.environ.get(PARENT_ENV)
    os.environ[PARENT_ENV] = str(Path(sweep_dir).resolve())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PARENT_ENV, None)
        else:
            os.environ[PARENT_ENV] = before


def end_sweep_run(settings: Settings, sweep_dir: Path, status: str) -> str | None:
    """The sweep's MLflow parent run ended as ``status`` (FINISHED, KILLED or FAILED; the sweep code says which
    and when); a warning line when the server cannot be told, else None. W&B's group of the trials has no state."""
    if not settings.output.mlflow:
        return None
    from lstm_vision.report.mlflow_log import end_parent_run

    try:
        end_parent_run(settings.output.mlflow, settings.output.mlflow_experiment, str(Path(sweep_dir).resolve()), status)
    except Exception as err:  # the trials' own runs are complete; only the parent's status is left behind
        return f"MLflow at {settings.output.mlflow} was not told the sweep's run ended {status} ({err.__class__.__name__}: {str(err)[:200]})."
    return None


class Trackers:
    """The trackers of one run, fed each event; a tracker that raises is dropped and said once: each call returns
    the (level, text) lines due (where a tracker's run is, and one that failed to start, with the first event),
    for the caller to emit after the event has reached every other consumer."""

    def __init__(self, run_dir: Path, settings: Settings) -> None:
        self.due: list[tuple[str, str]] = []
        self.active: list[Any] = []
        parent = os.environ.get(PARENT_ENV) or None
        if settings.output.mlflow:
            from lstm_vision.report.mlflow_log import MlflowLog

            self._open(lambda: MlflowLog(run_dir, settings, parent), f"MLflow at {settings.output.mlflow}")
        if settings.output.wandb:
            from lstm_vision.report.wandb_log import WandbLog

            self._open(lambda: WandbLog(run_dir, settings, parent), f"W&B project {settings.output.wandb}")

    def _open(self, make: Callable[[], Any], name: str) -> None:
        try:
            tracker = make()
        except Exception as err:  # it answered the check a moment ago: a drop, not a mistake of the settings
            text = f"{name} could not start a run ({err.__class__.__name__}: {err}); training goes on without it."
            self.due.append(("warning", text))
            return
        tracker.name = name
        self.active.append(tracker)
        if getattr(tracker, "notice", ""):
            self.due.append(("info", tracker.notice))

    def __call__(self, event: ev.Event) -> list[tuple[str, str]]:
        due, self.due = self.due, []
        for tracker in list(self.active):
            try:
                tracker(event)
            except Exception as err:  # a server gone mid-run must not cost the run
                self.active.remove(tracker)
                text = (
                    f"{tracker.name} stopped answering ({err.__class__.__name__}: {str(err)[:200]}); the run goes on "
                    f"without it, and metrics.jsonl keeps everything."
                )
                due.append(("warning", text))
        return due

    def close(self, exit_code: int) -> None:
        for tracker in self.active:
            try:
                tracker.close(exit_code)
            except Exception:
                pass  # the run has ended; its folder holds what the tracker missed
        self.active = []
