"""The Optuna side of a sweep: where the study lives, its sampler and pruner, and the lock under which trials
are handed out.

Storage: without ``--storage``, Optuna's journal file storage in the sweep folder (several processes on one box
share it through its file lock). With ``--storage postgresql://...``, Optuna's RDB storage with heartbeats:
a trial whose worker stops beating for the grace period is failed and queued again by whichever worker asks
next (RetryHeartbeatStaleTrialCallback). A plain ``postgresql://`` URL is given the psycopg (3) driver that
the ``postgres`` extra installs; SQLAlchemy alone would look for psycopg2 behind that scheme.
"""

from __future__ import annotations

import fcntl
import os
import warnings
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import optuna

from lstm_vision.errors import SettingsError
from lstm_vision.settings import Settings
from lstm_vision.sweep.folder import JOURNAL_FILE
from lstm_vision.sweep.spec import SweepSpec

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
IDENTITY_ATTR = "lstm_vision.sweep"  # the study's user attribute: which sweep file made it (SweepSpec.identity)
GRID_ATTR = "lstm_vision.grid_enqueued"
# Heartbeats on the database storage: seconds between beats, and the silence after which a trial counts as dead.
HEARTBEAT_ENV, GRACE_ENV = "LSTM_VISION_SWEEP_HEARTBEAT_S", "LSTM_VISION_SWEEP_GRACE_S"
HEARTBEAT_S, GRACE_S = 10, 60
RETRIES_OF_A_DEAD_TRIAL = 3  # a trial that kills its worker every time (the OOM killer) is not retried for ever
CONNECT_TIMEOUT_S = 10


def redact(url: str) -> str:
    """The URL without its password, for messages and files."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("@")[-1]
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def database_url(url: str) -> str:
    """A --storage URL checked and given its driver: one sentence (SettingsError) for what cannot work."""
    scheme, sep, rest = url.partition("://")
    base, _, driver = scheme.lower().partition("+")
    if sep and driver and base in POSTGRES_SCHEMES and scheme.lower() not in POSTGRES_SCHEMES:
        # SQLAlchemy's name of another driver (psycopg2, asyncpg, pg8000): PostgreSQL, but not through psycopg 3
        raise SettingsError(
            f"--storage {redact(url)}: the sweep talks to PostgreSQL through psycopg 3, not {driver}; "
            f"write {redact('postgresql://' + rest)}."
        )
    if not sep or scheme.lower() not in POSTGRES_SCHEMES:
        raise SettingsError(
            f"--storage {redact(url)}: a shared study lives in PostgreSQL (postgresql://user@host:port/database); "
            f"without --storage it lives in the sweep folder."
        )
    try:
        import psycopg  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError:
        raise SettingsError(
            f"--storage {redact(url)} needs the PostgreSQL driver: pip install 'lstm-vision[postgres]' (psycopg and SQLAlchemy)."
        ) from None
    return f"postgresql+psycopg://{rest}"


def _seconds(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise SettingsError(f"{name}={text!r} must be a whole number of seconds >= 1.")
    return int(text)


def open_storage(storage_url: str | None, sweep_dir: Path) -> optuna.storages.BaseStorage:
    """The study's storage; a database that cannot be reached is one sentence naming it without its password."""
    # Heartbeats and the retry callback are marked experimental; the sweep relies on them knowingly.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if storage_url is None:
        backend = optuna.storages.journal.JournalFileBackend(str(sweep_dir / JOURNAL_FILE))
        return optuna.storages.JournalStorage(backend)
    url = database_url(storage_url)
    heartbeat = _seconds(HEARTBEAT_ENV, HEARTBEAT_S)
    grace = max(_seconds(GRACE_ENV, GRACE_S), heartbeat + 1)
    import sqlalchemy.exc

    try:
        # Two workers creating Optuna's tables at the same moment collide in PostgreSQL's catalog: one at a time.
        with DatabaseLock(storage_url, "the tables"):
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs={"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}, "pool_pre_ping": True},
                heartbeat_interval=heartbeat,
                grace_period=grace,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=RETRIES_OF_A_DEAD_TRIAL
                ),
            )
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise SettingsError(f"--storage {redact(storage_url)} cannot be used: {reason}.") from None


def make_sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    """Unseeded: workers seeded alike would propose the same points. A grid's points are all enqueued
    (Worker._next), so its sampler never chooses; random and tpe over lists propose only new points."""
    if spec.method == "tpe":
        startup = max(2, min(10, spec.total // 3))
        sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(n_startup_trials=startup, constant_liar=True)
    else:
        sampler = optuna.samplers.RandomSampler()
    if spec.method != "grid" and spec.points is not None:  # lists only: every trial a new point
        from lstm_vision.sweep.distinct import DistinctSampler

        return DistinctSampler(sampler, spec)
    return sampler


def max_epochs(spec: SweepSpec, settings: Settings) -> int:
    for dim in spec.space:
        if dim.name == "train.epochs":
            return int(max(dim.values) if dim.values is not None else dim.high)
    return settings.train.epochs


# Pruning judges a trial from its second epoch on: the first is warm-up for the schedules (onecycle, cosine).
PRUNE_FROM_EPOCH = 2


def make_pruner(spec: SweepSpec, settings: Settings) -> optuna.pruners.BasePruner:
    if spec.prune == "median":
        # Optuna's default waits for 5 finished trials: a quarter of the study's, 1 to 5, suits short sweeps.
        return optuna.pruners.MedianPruner(n_startup_trials=max(1, min(5, spec.total // 4)), n_warmup_steps=PRUNE_FROM_EPOCH)
    if spec.prune == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs(spec, settings), 1))
    return optuna.pruners.NopPruner()


def open_study(spec: SweepSpec, storage: optuna.storages.BaseStorage, settings: Settings, where: str) -> optuna.Study:
    """The study named after the sweep: loaded when it exists (and made by the same sweep file), else created."""
    sampler, pruner = make_sampler(spec), make_pruner(spec, settings)
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        study = optuna.create_study(
            study_name=spec.name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            direction=spec.direction,
            load_if_exists=True,  # another worker may create it at the same moment
        )
    check_identity(spec, study, where)
    if IDENTITY_ATTR not in study.user_attrs:
        study.set_user_attr(IDENTITY_ATTR, spec.identity())
    return study


def check_identity(spec: SweepSpec, study: optuna.Study, where: str) -> None:
    made_by = study.user_attrs.get(IDENTITY_ATTR)
    other = made_by is not None and made_by != spec.identity()
    if other or study.direction.name.lower() != spec.direction:
        raise SettingsError(
            f"The study {spec.name!r} in {where} was made by another sweep file (another method, metric, prune, repeats or "
            f"[space]); give this sweep another sweep.name, or run the sweep file that made it."
        )


def study_exists(spec: SweepSpec, storage: optuna.storages.BaseStorage) -> bool:
    return spec.name in {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}


class FileLock:
    """An exclusive lock between the processes of one box (flock on a file in the sweep folder)."""

    def __init__(self, path: Path) -> None:
        self.path, self._fd = path, None

    def acquire(self) -> None:
        if self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class DatabaseLock:
    """An exclusive lock between workers on any box: a PostgreSQL advisory lock, held by a connection of its
    own (a worker killed while it holds it loses the connection, and the server lets the lock go)."""

    def __init__(self, url: str, study_name: str) -> None:
        import sqlalchemy

        self._engine = sqlalchemy.create_engine(
            database_url(url), poolclass=sqlalchemy.pool.NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
        )
        self._key = zlib.crc32(f"lstm-vision sweep {study_name}".encode())
        self._connection = None

    def acquire(self) -> None:
        import sqlalchemy

        if self._connection is None:
            self._connection = self._engine.connect()
            self._connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": self._key})

    def release(self) -> None:
        import sqlalchemy

        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            finally:
                connection.close()

    def __enter__(self) -> "DatabaseLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
