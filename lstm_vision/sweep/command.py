"""The command line of a sweep (``--sweep``, ``--storage``, ``--workers``; cli.py parses them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from lstm_vision.errors import SettingsError
from lstm_vision.settings import Settings
from lstm_vision.runs.result import EXIT_BAD_INPUT, EXIT_STOPPED


def sweep_problem(args: argparse.Namespace) -> str | None:
    if not args.sweep:
        return "--storage and --workers go with --sweep SWEEP.toml."
    if not args.no_ui:
        return "--sweep runs headless: add --no-ui (--background as well to have it outlive this terminal)."
    others = [
        name
        for name, given in (
            ("--attach", args.attach),
            ("--resume", args.resume),
            ("--run-dir", args.run_dir),
            ("--output", args.output),
            ("--print-settings", args.print_settings),
        )
        if given
    ]
    if others:
        return (
            f"--sweep puts its trials in its own folder (output.dir/<sweep name>) and continues where it stopped "
            f"when started again; it does not combine with {', '.join(others)}."
        )
    return None


def run_sweep_command(
    parser: argparse.ArgumentParser, args: argparse.Namespace, base_settings: Callable[[Path | None], Settings]
) -> int:
    """--sweep: checked in full before anything is written, then one worker here, N workers, or in the background.
    ``base_settings(the sweep file's base)`` resolves the command line's settings sources as for a run."""
    problem = sweep_problem(args)
    if problem:
        parser.print_usage(sys.stderr)
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        from lstm_vision.sweep import launch
        from lstm_vision.sweep.spec import read_sweep
        from lstm_vision.sweep.processes import resolve_workers, run_workers, start_background

        spec = read_sweep(args.sweep)
        settings = base_settings(spec.base)
        count = resolve_workers(args.workers)
        plan = launch.plan_sweep(spec, settings, args.storage)
        launch.make_folder(plan)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("Interrupted while starting: no trial was started.", file=sys.stderr)
        return EXIT_STOPPED
    sources = [item for kind, value in args.sources for item in (f"--{kind}", value)]
    if args.background:
        folder, pid = start_background(plan, launch.sweep_command(spec.path, args.storage, args.workers, sources))
        print(f"Sweep folder: {folder}")
        print(f"Sweeping in the background (process {pid}); its output goes to {folder / 'output.log'}.")
        print(f"Its trials: {folder / 'trials.csv'}; stop it (each trial resumably) with: kill -TERM {pid}")
        print(f"Watch and steer it in the app with: lstm-vision-tui --attach {folder}")  # as a background run says
        return 0
    if count > 1:
        return run_workers(plan, count, launch.sweep_command(spec.path, args.storage, None, sources))
    return launch.run_worker(plan)
