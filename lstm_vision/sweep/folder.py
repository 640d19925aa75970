"""The sweep folder contract: what a sweep leaves in ``<output.dir>/<name>/`` and how any viewer reads it.

No torch and no Optuna here: the app reads sweep folders before torch loads, and a viewer needs neither.

- ``sweep.toml``: the sweep file the sweep was started from (``base`` made absolute, so the copy reads alone).
- ``trials.csv``: one row per trial, rewritten atomically when a trial starts and when it ends. Columns:
  ``number,state,<each parameter by dotted name>,<metric name>,metric_std,repeats,duration_s,run_dir``. ``state`` is Optuna's
  trial state in lower case (running, complete, pruned, fail, waiting). The metric cell holds a complete
  trial's value; for a running or pruned trial, the last value it reported (its last validated epoch); empty
  when there is none. With ``repeats = K`` in [sweep] each point runs K times (seeds train.seed + 0..K-1): the
  metric is the mean of its runs, ``metric_std`` their standard deviation (sample, empty for one run) and
  ``repeats`` how many ran. ``run_dir`` is written relative to the sweep folder (``trial-0007``), so a sweep folder
  can be moved or shared; ``read_trials`` gives it back as a path joined to the sweep folder.
- ``best.toml``: the best complete trial's full settings (``lstm-vision-tui --no-ui --config best.toml``).
- ``sweep.png``: the metric per trial with the best so far, each parameter against the metric, and the
  settings' importances.
- ``importance.csv``: ``setting,importance``, most important first, the importances summing to 1: how much each
  setting decided the metric (Optuna's PED-ANOVA over the complete and pruned trials), rewritten after each trial once
  enough are complete (sweep/importance.py).
- ``parallel.png``: parallel coordinates, one line per complete trial across an axis per setting, coloured by
  the metric, the best drawn last (sweep/parallel.py, whose ``parallel_view`` gives any viewer the same axes).
- ``trial-NNNN/``: one ordinary run folder per trial (its first repeat; repeat k of K in ``trial-NNNN-rk/``). Trials count from 1 in every file and line of a sweep
  (trial-0001 is the first; Optuna's own trial numbers, in its storage, count from 0).
- ``workers/<host>-<pid>/process.json``: one per worker process, written by runs/liveness.py's Beacon: pid,
  host, start time, state ("starting", "running", "paused", "exited" with its exit code) and a heartbeat (its
  modification time, every 2 s). A worker's exit code says how it ended: 0 the study was done, 130 stopped
  (Ctrl-C, SIGTERM, SIGHUP, a stop request), anything else failed. ``control.json`` beside it steers that
  worker as it steers a run (runs/liveness.request: stop ends its trial resumably, pause holds its trial);
  ``request_workers`` asks every live worker at once.
- ``study.journal``: the study itself when no ``--storage`` is given (Optuna's journal file storage);
  ``study.json`` names where the study lives (this folder's journal, or a database URL without its password).
- ``output.log``: the sweep's own lines when it was started with ``--background``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from lstm_vision.atomic import atomic_write_text
from lstm_vision.runs.folder import PROCESS_FILE
from lstm_vision.runs.liveness import process_alive
from lstm_vision.sweep.spec import SweepSpec, read_sweep
from lstm_vision.runs.result import EXIT_STOPPED

SWEEP_TOML = "sweep.toml"
TRIALS_CSV = "trials.csv"
BEST_TOML = "best.toml"
SWEEP_PNG = "sweep.png"
PARALLEL_PNG = "parallel.png"
IMPORTANCE_CSV = "importance.csv"
WORKERS_DIR = "workers"
JOURNAL_FILE = "study.journal"
STUDY_FILE = "study.json"
LOCK_FILE = ".sweep.lock"  # workers on this box take turns at handing out trials and writing the reports

STATES = ("running", "complete", "pruned", "fail", "stopped", "waiting")
FIXED_COLUMNS = ("number", "state")
TAIL_COLUMNS = ("metric_std", "repeats", "duration_s", "run_dir")  # after the metric's column
OLD_TAIL_COLUMNS = ("duration_s", "run_dir")  # a trials.csv written before repeats (read as one run per point)


def trial_dir_name(number: int) -> str:
    """``trial-0007``: the run folder of trial 7 (the seventh; Optuna's trial number 6)."""
    return f"trial-{number:04d}"


def repeat_dir_name(number: int, repeat: int) -> str:
    """The run folder of a trial's repeat (from 1): the first is the trial's own folder, trial-0007; repeat 2
    of trial 7 is trial-0007-r2."""
    return trial_dir_name(number) if repeat <= 1 else f"{trial_dir_name(number)}-r{repeat}"


def is_sweep_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / SWEEP_TOML).is_file()


@dataclass(frozen=True)
class TrialRow:
    number: int  # from 1: the row of trial-0001 is number 1
    state: str  # "running" | "complete" | "pruned" | "fail" | "waiting" (Optuna's states, lower case), or
    # "stopped": failed by its worker's stop (Ctrl-C, SIGTERM, SIGHUP) and queued again
    params: dict[str, str]  # dotted setting name -> value as written in trials.csv
    metric: float | None  # complete: the trial's value; running or pruned: the last value it reported
    duration_s: float | None
    run_dir: str  # the trial's run folder: read_trials joins trials.csv's relative name to the sweep folder
    metric_std: float | None = None  # the standard deviation of its repeats' metrics; None for one run
    repeats: int = 1  # how many runs (seeds) the metric is the mean of


def _number(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return None


def _tail(header: list[str]) -> int:
    """How many columns follow the metric's: a trials.csv from before repeats has only duration_s and run_dir."""
    return len(TAIL_COLUMNS) if header[-len(TAIL_COLUMNS) :] == list(TAIL_COLUMNS) else len(OLD_TAIL_COLUMNS)


def read_trials(sweep_dir: str | os.PathLike) -> list[TrialRow]:
    """trials.csv as rows, in trial order; [] when there is none yet. Rows that cannot be read are left out."""
    try:
        text = (Path(sweep_dir) / TRIALS_CSV).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    records = list(csv.reader(io.StringIO(text)))
    if not records or len(records[0]) < len(FIXED_COLUMNS) + 1 + len(OLD_TAIL_COLUMNS):
        return []
    header = records[0]
    tail = _tail(header)
    params = header[len(FIXED_COLUMNS) : -1 - tail]
    rows = []
    for cells in records[1:]:
        if len(cells) != len(header):
            continue  # a line cut short (a file written by other means than ours, or copied mid-write)
        try:
            number = int(cells[0])
        except ValueError:
            continue
        run_dir = cells[-1]
        repeats = _number(cells[-3]) if tail == len(TAIL_COLUMNS) else None
        rows.append(
            TrialRow(
                number=number,
                state=cells[1].strip().lower(),
                params=dict(zip(params, cells[len(FIXED_COLUMNS) : -1 - tail])),
                metric=_number(cells[-1 - tail]),
                duration_s=_number(cells[-2]),
                run_dir=str(Path(sweep_dir) / run_dir) if run_dir else "",
                metric_std=_number(cells[-4]) if tail == len(TAIL_COLUMNS) else None,
                repeats=int(repeats) if repeats else 1,
            )
        )
    return sorted(rows, key=lambda row: row.number)


def metric_column(sweep_dir: str | os.PathLike) -> str | None:
    """The metric's column name in trials.csv (val_accuracy, val_loss); None when there is no file yet."""
    try:
        with open(Path(sweep_dir) / TRIALS_CSV, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
    except OSError:
        return None
    tail = _tail(header)
    return header[-1 - tail] if len(header) > len(FIXED_COLUMNS) + tail else None


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def write_trials(sweep_dir: str | os.PathLike, metric: str, param_names: list[str], rows: list[TrialRow]) -> None:
    """Rewrite trials.csv atomically (a reader never sees half of it); run folders inside the sweep folder
    are written by their name."""
    sweep_dir = Path(sweep_dir)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*FIXED_COLUMNS, *param_names, metric, *TAIL_COLUMNS])
    for row in sorted(rows, key=lambda r: r.number):
        run_dir = Path(row.run_dir)
        relative = run_dir.name if run_dir.parent in (sweep_dir, Path(".")) else str(run_dir)
        params = [row.params.get(name, "") for name in param_names]
        cells = [_cell(row.metric), _cell(row.metric_std), row.repeats, _cell(row.duration_s), relative]
        writer.writerow([row.number, row.state, *params, *cells])
    atomic_write_text(sweep_dir / TRIALS_CSV, out.getvalue(), durable=False)


def read_folder_sweep(sweep_dir: str | os.PathLike) -> SweepSpec:
    """The sweep as its folder's sweep.toml (the copy made when it started) describes it, read by the one reader
    of sweep files; SettingsError (a ValueError) when it is gone or broken."""
    return read_sweep(Path(sweep_dir) / SWEEP_TOML, check_base=False)


def read_importance(sweep_dir: str | os.PathLike) -> list[tuple[str, float]]:
    """importance.csv as (setting, share) pairs, most important first; [] before enough trials are complete."""
    try:
        text = (Path(sweep_dir) / IMPORTANCE_CSV).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    pairs = []
    for cells in list(csv.reader(io.StringIO(text)))[1:]:
        share = _number(cells[1]) if len(cells) == 2 else None
        if share is not None:
            pairs.append((cells[0], share))
    return pairs


def write_importance(sweep_dir: str | os.PathLike, importances: list[tuple[str, float]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["setting", "importance"])
    writer.writerows((name, repr(float(share))) for name, share in importances)
    atomic_write_text(Path(sweep_dir) / IMPORTANCE_CSV, out.getvalue(), durable=False)


def worker_dir(sweep_dir: str | os.PathLike, host: str, pid: int) -> Path:
    return Path(sweep_dir) / WORKERS_DIR / f"{host}-{pid}"


def _verdict(folder: Path) -> tuple[str, float] | None:
    """One worker's part in the sweep's state, and when it last said anything; None for an unreadable file."""
    path = folder / PROCESS_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        heartbeat = path.stat().st_mtime
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    if info.get("state") == "exited":
        code = info.get("exit_code")
        verdict = "finished" if code == 0 else "stopped" if code == EXIT_STOPPED else "lost"
        return verdict, float(info.get("ended") or heartbeat)
    if process_alive(info, heartbeat):
        return "running", heartbeat
    return "lost", heartbeat


def worker_alive(folder: str | os.PathLike) -> bool:
    """Whether the worker whose liveness folder this is (workers/<host>-<pid>) still lives."""
    verdict = _verdict(Path(folder))
    return verdict is not None and verdict[0] == "running"


def sweep_state(sweep_dir: str | os.PathLike) -> str:
    """ "running" while any worker lives; otherwise what the worker that ended last says: "finished" (it found
    the study done), "stopped" (a stop: running the same command again continues), "lost" (killed, crashed or
    failed without finishing the study: running the same command again continues it)."""
    verdicts = [v for folder in sorted((Path(sweep_dir) / WORKERS_DIR).glob("*")) if (v := _verdict(folder))]
    if any(state == "running" for state, _ in verdicts):
        return "running"
    if not verdicts:
        return "lost"
    return max(verdicts, key=lambda item: item[1])[0]


def request_workers(sweep_dir: str | os.PathLike, action: str) -> int:
    """Ask every live worker of the sweep to "stop" (its trial stops resumably, and it takes no other), "pause"
    or "resume" its trial, as runs/liveness.request asks a run; returns how many were asked. A worker on another
    box reads its request where the sweep folder is shared."""
    from lstm_vision.runs.liveness import request

    asked = 0
    for folder in sorted((Path(sweep_dir) / WORKERS_DIR).glob("*")):
        if worker_alive(folder):
            request(folder, action)
            asked += 1
    return asked


LAUNCH_WINDOW_S = 60.0  # the processes of one launch (a --workers N parent and its workers) start within this


def last_launch(sweep_dir: Path) -> list[str]:
    """The arguments the sweep was last started with, from its workers' process.json (each keeps its command
    line): the same command continues a sweep, with its --set, --storage and --workers. Of the last launch's
    processes the first, which is the parent of --workers N; the sweep folder's copy of the sweep file when the
    original is gone."""
    launches = []
    for path in (sweep_dir / WORKERS_DIR).glob(f"*/{PROCESS_FILE}"):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        argv, started = info.get("argv"), info.get("started")
        if isinstance(argv, list) and "--sweep" in argv[:-1] and isinstance(started, (int, float)):
            launches.append((float(started), [str(a) for a in argv[1:] if a != "--background"]))
    if not launches:
        return ["--no-ui", "--sweep", str(sweep_dir / SWEEP_TOML)]
    latest = max(started for started, _ in launches)
    _, args = min((launch for launch in launches if launch[0] >= latest - LAUNCH_WINDOW_S), key=lambda launch: launch[0])
    where = args.index("--sweep") + 1
    if not Path(args[where]).is_file():
        args[where] = str(sweep_dir / SWEEP_TOML)
    return args
