"""Starting a sweep: every refusal before anything is written (the sweep file, its values against the base
settings, the sweep folder, the storage), then the folder, then one worker in this process."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from lstm_vision.atomic import atomic_write_text
from lstm_vision.errors import SettingsError
from lstm_vision.report.trackers import check_trackers, end_sweep_run
from lstm_vision.settings import Settings
from lstm_vision.sweep.folder import LOCK_FILE, STUDY_FILE, SWEEP_TOML, is_sweep_dir, sweep_state, worker_dir
from lstm_vision.sweep.spec import SweepSpec, trial_settings
from lstm_vision.runs.result import EXIT_STOPPED

EMBEDDED = "the sweep folder's journal"
WORKER_ENV = "LSTM_VISION_SWEEP_WORKER"  # "k": this process is worker k of a --workers N parent (its lines say so)
CPUS_ENV = "LSTM_VISION_SWEEP_CPUS"  # "0,1": the cores a --workers N parent gave this worker
PARENT_STATUS = {"finished": "FINISHED", "stopped": "KILLED", "lost": "FAILED"}  # sweep_state -> an MLflow run's


@dataclass(frozen=True)
class Plan:
    spec: SweepSpec
    settings: Settings  # the base of every trial
    sweep_dir: Path
    storage_url: str | None

    @property
    def where(self) -> str:
        from lstm_vision.sweep.study import redact

        return redact(self.storage_url) if self.storage_url else EMBEDDED


def plan_sweep(spec: SweepSpec, settings: Settings, storage_url: str | None) -> Plan:
    """Everything checked that can be refused, nothing written (a database's tables aside)."""
    if settings.system.nproc > 1 or settings.system.ddp:
        raise SettingsError(
            "A sweep runs each trial in one process: set system.nproc = 1 and system.ddp = false in its base settings "
            "(--workers N runs N trials side by side, one per GPU with auto)."
        )
    check_values(spec, settings)
    check_trackers(settings)  # once for the sweep, before its folder: its trials ask no server again
    plan = Plan(spec, settings, Path(settings.output.dir).expanduser().absolute() / spec.name, storage_url)
    check_folder(plan)
    if storage_url is not None:
        check_database(plan)
    return plan


def check_values(spec: SweepSpec, settings: Settings) -> None:
    """Each value against the base settings (a sequence length the images allow, a batch the accumulation
    splits): a grid's every point, a list's every value, a range's two ends."""
    if spec.method == "grid":
        points = spec.grid_points()
    else:
        points = [{d.name: v} for d in spec.space for v in (d.values if d.values is not None else (d.low, d.high))]
    for point in points:
        try:
            trial_settings(settings, point)
        except SettingsError as err:
            shown = ", ".join(f"{k} = {v!r}" for k, v in point.items())
            raise SettingsError(f"Sweep file {spec.path}: with {shown}: {err}") from None


def study_record(plan: Plan) -> dict:
    return {"study": plan.spec.name, "storage": plan.where, "identity": plan.spec.identity()}


def check_folder(plan: Plan) -> None:
    folder = plan.sweep_dir
    try:
        # hidden files aside: another worker of this sweep may be writing its sweep.toml this very moment
        taken = folder.is_dir() and any(not p.name.startswith(".") for p in folder.iterdir())
    except OSError as err:
        raise SettingsError(f"The sweep folder {folder} cannot be read ({err.strerror or err}).") from None
    if not taken:
        return
    if not is_sweep_dir(folder):
        raise SettingsError(
            f"{folder} already holds something other than a sweep; give the sweep another sweep.name or output.dir."
        )
    try:
        recorded = json.loads((folder / STUDY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = {}
    if recorded.get("identity") not in (None, plan.spec.identity()):
        raise SettingsError(
            f"The sweep folder {folder} belongs to another study (another method, metric, prune, repeats or [space]); "
            f"give this sweep another sweep.name, or run the sweep file that made it."
        )
    if recorded.get("storage") not in (None, plan.where):
        raise SettingsError(
            f"The sweep folder {folder} belongs to the study in {recorded['storage']}, not in {plan.where}; "
            f"run it with the same --storage (none for the folder's own journal)."
        )


def check_database(plan: Plan) -> None:
    """The database answers, and a study of this name there was made by this sweep file (read, not written)."""
    import optuna

    from lstm_vision.sweep.study import check_identity, open_storage

    storage = open_storage(plan.storage_url, plan.sweep_dir)
    try:
        study = optuna.load_study(study_name=plan.spec.name, storage=storage)
    except KeyError:
        return
    check_identity(plan.spec, study, plan.where)


def make_folder(plan: Plan) -> None:
    """The sweep folder, its copy of the sweep file (base made absolute, comments kept) and study.json."""
    folder = plan.sweep_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SettingsError(
            f"The sweep folder {folder} cannot be made ({err.strerror or err}); choose an output.dir you can write to."
        ) from None
    document = tomlkit.parse(plan.spec.path.read_text(encoding="utf-8"))
    if plan.spec.base is not None:
        document["sweep"]["base"] = str(plan.spec.base)
    atomic_write_text(folder / SWEEP_TOML, tomlkit.dumps(document))
    atomic_write_text(folder / STUDY_FILE, json.dumps(study_record(plan), indent=2) + "\n")


def say(text: str) -> None:
    """The sweep's own lines; a worker of a --workers N parent says which it is. A terminal that went away
    (SIGHUP) ends the printing, not the sweep: its folder keeps the record. Errors go to stderr."""
    prefix = f"[worker {os.environ[WORKER_ENV]}] " if os.environ.get(WORKER_ENV) else ""
    try:
        print(prefix + text, file=sys.stderr if text.startswith("error: ") else sys.stdout, flush=True)
    except OSError:
        pass


def run_worker(plan: Plan) -> int:
    """One worker in this process, until the study is done (0), stopped (130), or it fails (1; 2 for data that
    cannot be read). Ctrl-C, SIGTERM and SIGHUP stop its trial resumably; a second Ctrl-C quits at once."""
    import optuna

    from lstm_vision.headless import install_signal_handlers
    from lstm_vision.runs.liveness import Beacon
    from lstm_vision.sweep.study import DatabaseLock, FileLock, open_storage, open_study
    from lstm_vision.sweep.worker import Worker

    cpus = os.environ.get(CPUS_ENV)
    if cpus and hasattr(os, "sched_setaffinity"):  # before torch sizes its thread pool
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the sweep says what happens in its own lines
    storage = open_storage(plan.storage_url, plan.sweep_dir)
    study = open_study(plan.spec, storage, plan.settings, plan.where)
    database = plan.storage_url is not None
    lock = DatabaseLock(plan.storage_url, plan.spec.name) if database else FileLock(plan.sweep_dir / LOCK_FILE)
    report_lock = FileLock(plan.sweep_dir / f"{LOCK_FILE}.reports")
    worker = Worker(plan.spec, plan.settings, plan.sweep_dir, study, database, lock, report_lock, say)
    folder = worker_dir(plan.sweep_dir, *worker.id.rsplit("-", 1))
    folder.mkdir(parents=True, exist_ok=True)
    beacon = Beacon(folder, worker).start()  # control requests (stop, pause, resume) act on the worker
    install_signal_handlers(worker)
    say(intro(plan))
    code = 1
    try:
        code = worker.run()
    except KeyboardInterrupt:
        code = EXIT_STOPPED
    except Exception as err:  # a bug or a storage gone away: say so, keep the traceback in a file
        log = Path(tempfile.gettempdir()) / f"lstm-vision-sweep-error-{os.getpid()}.log"
        log.write_text(traceback.format_exc(), encoding="utf-8")
        say(f"error: {err.__class__.__name__}: {err} (traceback in {log})")
    finally:
        beacon.close(code)
        end_tracked_sweep(plan.settings, plan.sweep_dir, code)
    if code == EXIT_STOPPED:
        say(f"Stopped. The same command continues the sweep {plan.sweep_dir}.")
    return code


def end_tracked_sweep(settings: Settings, sweep_dir: Path, code: int) -> None:
    """Each worker (and a --workers parent) as it ends, its liveness file already saying how: the sweep's MLflow
    run ends FINISHED once the study is done, whoever sees it; otherwise as the sweep ended (stopped: KILLED,
    failed: FAILED), by the last of its processes to end on this box; while another lives, it is left running."""
    if not settings.output.mlflow:
        return
    state = "finished" if code == 0 else sweep_state(sweep_dir)
    if state == "running":
        return
    warning = end_sweep_run(settings, sweep_dir, PARENT_STATUS[state])
    if warning:
        say(f"warning: {warning}")


def intro(plan: Plan) -> str:
    spec = plan.spec
    what = f"grid of {spec.total} trials" if spec.method == "grid" else f"{spec.method}, {spec.total} trials"
    prune = "" if spec.prune == "none" else f", {spec.prune} pruning"
    seeds = (
        f", each point {spec.repeats} times (seeds train.seed + 0..{spec.repeats - 1}, their mean)" if spec.repeats > 1 else ""
    )
    goal = "maximizing" if spec.direction == "maximize" else "minimizing"
    line = f"Sweep {spec.name}: {what}{seeds}, {goal} {spec.metric}{prune}; folder {plan.sweep_dir}, study in {plan.where}."
    if spec.fewer_points:
        line += (
            f" Its lists hold only {spec.points} points, fewer than trials = {spec.trials}: each point runs once, "
            f"{spec.points} trials in all."
        )
    return line


def sweep_command(spec_path: Path, storage_url: str | None, workers: str | None, sources: list[str]) -> list[str]:
    """The command line that runs this sweep again (a background start, each worker of --workers N)."""
    command = [sys.executable, "-m", "lstm_vision", "--no-ui", "--sweep", str(spec_path.absolute())]
    if storage_url:
        command += ["--storage", storage_url]
    if workers:
        command += ["--workers", workers]
    return command + sources
