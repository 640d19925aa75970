"""Command line: settings from files, presets and --set; then the app, the headless runner (headless.py), a
background run (detached.py), or a trained model at work (use/)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning. Spinning is up to 1.3x faster on an idle machine, but
# next to one other busy process it made training up to 8x slower (benchmarks/RESULTS.md §3 and §6).
# libgomp reads this when torch loads, so it must be set before the first torch import. A user's own
# choice wins: OMP_WAIT_POLICY, or GOMP_SPINCOUNT (spin that long, then sleep) on a dedicated machine.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from lstm_vision.settings import Settings, apply_overrides, help_lines, load_settings, preset_names, preset_path, render_toml  # noqa: E402
from lstm_vision.settings import is_reference_yaml, load_reference_yaml  # noqa: E402
from lstm_vision.errors import SettingsError  # noqa: E402
from lstm_vision.runs.folder import SETTINGS_FILE, run_dir_of  # noqa: E402
from lstm_vision.runs.result import EXIT_BAD_INPUT, EXIT_STOPPED

DEFAULT_SETTINGS_FILE = Path("settings.toml")


class _Source(argparse.Action):
    """Keeps --config, --preset and --set in command-line order: later sources win."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.sources = [*getattr(namespace, "sources", []), (self.dest, values)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-vision-tui",
        description="Train LSTM image classifiers (each image read as a sequence of rows). Without --no-ui "
        "a terminal app opens; with it the run is headless (batch jobs, clusters, torchrun).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="settings (section.key = default), each settable in settings.toml or with --set:\n"
        + "\n".join(help_lines())
        + "\n\nexit codes: 0 completed (also a sweep's trial that its pruner cut short; for --sweep: the study is "
        "done), 1 failed, 2 bad settings or arguments, 130 stopped (resumable).",
    )
    _settings_options(parser.add_argument_group("settings (later sources win)"))
    _run_options(parser.add_argument_group("runs"))
    _model_options(parser.add_argument_group("a trained model"))
    _sweep_options(parser.add_argument_group("sweeps (many runs toward the best settings, with Optuna)"))
    _serve_options(parser.add_argument_group("in a browser (the optional extra 'serve')"))
    parser.set_defaults(sources=[])
    return parser


def _settings_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--config",
        metavar="PATH",
        action=_Source,
        help=f"Settings file to read (default: ./{DEFAULT_SETTINGS_FILE} if it exists); a .yaml or .yml file is the "
        "reference project's conf.yaml, converted (--print-settings shows the result as TOML).",
    )
    group.add_argument(
        "--preset",
        metavar="NAME",
        action=_Source,
        help=f"Load a settings file shipped with lstm-vision: {', '.join(preset_names())}.",
    )
    group.add_argument(
        "--set",
        metavar="SECTION.KEY=VALUE",
        action=_Source,
        help="Override one setting, e.g. --set train.epochs=5 (repeatable); the reference's conf.yaml names work too "
        "(--set training.num_epochs=5).",
    )
    group.add_argument("--print-settings", action="store_true", help="Print the resulting settings.toml and exit.")


def _run_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--no-ui", action="store_true", help="Run headless: plain lines, no terminal app.")
    group.add_argument(
        "--resume",
        metavar="RUN_DIR_OR_CHECKPOINT",
        help="Continue a stopped run where it stopped (its settings, then any overrides).",
    )
    group.add_argument(
        "--attach",
        metavar="RUN_DIR",
        help="Open the app on a run another process is training (or has trained): watch it, "
        "pause / stop it; quitting the app leaves it training. A sweep's folder opens the app on its trials.",
    )
    group.add_argument(
        "--background",
        action="store_true",
        help="With --no-ui: start the run in a process of its own session (it outlives this "
        "terminal and SSH), print its folder and return; attach later with --attach.",
    )
    group.add_argument(
        "--run-dir", metavar="PATH", help="Write the new run into PATH (a new or empty folder) instead of output.dir/run_name."
    )


def _model_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--predict",
        nargs="+",
        metavar=("RUN_OR_CHECKPOINT", "PATH"),
        help="Classify image files (or every image in folders) with a trained model (a run folder "
        "means its last.pt): one line per image, a summary, and the accuracy where an image's "
        "folder is named after a class. --set train.amp / system.device apply.",
    )
    group.add_argument(
        "--export",
        nargs=2,
        metavar=("onnx|torchscript", "RUN_OR_CHECKPOINT"),
        help="Write the model as ONNX or TorchScript (input: uint8 images N x H x W x C, output: "
        "logits, normalization inside) to --output, with a .json file beside it.",
    )
    group.add_argument(
        "--output",
        metavar="PATH",
        help="With --predict: write the answers to this CSV instead of the terminal. With --export: the file to write.",
    )


def _sweep_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--sweep",
        metavar="SWEEP.toml",
        help="With --no-ui: run the trials of a sweep file (README 'Sweeps') in its folder output.dir/<name>, each an "
        "ordinary run; --config, --preset and --set change the base settings of every trial. The same command "
        "again continues the sweep.",
    )
    group.add_argument(
        "--storage",
        metavar="URL",
        help="With --sweep: keep the study in PostgreSQL (postgresql://user@host:port/database), shared by any "
        "number of workers on any number of boxes running the same command (default: a journal file in the sweep folder).",
    )
    group.add_argument(
        "--workers",
        metavar="N|auto",
        help="With --sweep: N workers on this box share the study (auto: one per visible GPU, each pinned to its "
        "own; on CPUs the cores are split between them). Default 1.",
    )


def _serve_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--serve",
        action="store_true",
        help="Serve the app to web browsers (textual-serve): each browser tab runs its own app with the other options "
        "given here, and starts its runs in the background, so closing a tab never stops one.",
    )
    group.add_argument(
        "--host",
        metavar="ADDRESS",
        help="With --serve: the address to listen on (default 127.0.0.1, this machine only: reach it through an SSH "
        "tunnel). Another address opens the app, unauthenticated, to whoever can reach it.",
    )
    group.add_argument("--port", metavar="N", type=int, help="With --serve: the port to listen on (default 8000).")


def resolve_settings(args: argparse.Namespace, base: Path | None = None, read_file: bool = True) -> tuple[Settings, Path]:
    """Settings from (the resumed run's file | a sweep's base file | ./settings.toml) and then every source in order.
    ``read_file=False``: the defaults in place of ./settings.toml (the app opens on that file when it is invalid)."""
    settings, settings_path = Settings(), DEFAULT_SETTINGS_FILE
    if base is not None:
        settings, settings_path = load_settings(base), base
    elif args.resume or (args.attach and not _is_sweep_dir(args.attach)):
        option, value = ("--resume", args.resume) if args.resume else ("--attach", args.attach)
        if not Path(value).expanduser().exists():
            what = "run folder or checkpoint" if args.resume else "run folder or sweep folder"  # what each takes
            raise SettingsError(f"{option} {value}: no such {what}.")
        run_dir = run_dir_of(value)
        if not (run_dir / SETTINGS_FILE).is_file():
            takes = "a run folder or a checkpoint inside one" if args.resume else "a run folder or a sweep folder"
            raise SettingsError(f"{option} {value}: no settings.toml beside it in {run_dir}; give {takes}.")
        from lstm_vision.runs.follow import run_settings

        settings = run_settings(run_dir)  # as it started, with what earlier resumes changed
    elif _reads_default_file(args) and read_file:
        settings = load_settings(DEFAULT_SETTINGS_FILE)
    notes: list[str] = []  # what a reference conf.yaml or name converts with another meaning
    for kind, value in args.sources:
        if kind == "config" and is_reference_yaml(value):  # the reference's conf.yaml: read, never written over
            settings, said = load_reference_yaml(value, settings)
            notes += said
        elif kind == "config":
            settings, settings_path = load_settings(value, settings), Path(value)
        elif kind == "preset":
            settings = load_settings(preset_path(value), settings)
        else:
            settings = apply_overrides(settings, [value], notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return settings, settings_path


def _reads_default_file(args: argparse.Namespace) -> bool:
    """./settings.toml is where the settings start from: no --config or --preset gives them."""
    return not any(kind in ("config", "preset") for kind, _ in args.sources) and DEFAULT_SETTINGS_FILE.is_file()


def _invalid_default_file(args: argparse.Namespace) -> str:
    """Why ./settings.toml, which the app would open, is not valid ("" when it is, or is not what the app opens)."""
    if args.no_ui or args.print_settings or args.resume or args.attach or not _reads_default_file(args):
        return ""
    try:
        load_settings(DEFAULT_SETTINGS_FILE)
    except SettingsError as err:
        return str(err)
    return ""


def _is_sweep_dir(path: str) -> bool:
    """--attach of a sweep's folder: the app opens on its trials, with the settings it would open anyway."""
    from lstm_vision.sweep.folder import is_sweep_dir

    return is_sweep_dir(Path(path).expanduser())


def main(argv: list[str] | None = None) -> int:
    try:
        code = _dispatch(argv)
        sys.stdout.flush()  # a reader that went away is found here, not in the interpreter's last flush
        return code
    except BrokenPipeError:  # the reader went away (| head): nobody wants the rest of what a command prints
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error as Python exits
        return 0


def _dispatch(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse ends --predict's list at the next option: images after --output still count
        if not args.predict or any(item.startswith("-") for item in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}{_set_hint(extra)}")
        args.predict += extra
    if problem := _serve_conflict(args):
        parser.print_usage(sys.stderr)
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.predict or args.export:
        return _use_trained_model(parser, args)
    if args.sweep or args.storage or args.workers:
        from lstm_vision.sweep.command import run_sweep_command

        return run_sweep_command(parser, args, lambda base: resolve_settings(args, base)[0])
    conflict = _conflicting_options(args)
    if conflict:
        parser.print_usage(sys.stderr)
        print(f"error: {conflict}", file=sys.stderr)
        return EXIT_BAD_INPUT
    invalid_file = ""
    try:
        settings, settings_path = resolve_settings(args)
    except SettingsError:
        # the app opens on an invalid ./settings.toml: its values in the form, the reason shown, F5 refused until
        # it is fixed (headless, or when something else is wrong, it is the one sentence)
        invalid_file = _invalid_default_file(args)
        try:
            if not invalid_file:
                raise
            settings, settings_path = resolve_settings(args, read_file=False)
        except SettingsError as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if args.print_settings:
        print(render_toml(settings), end="")
        return 0
    if args.serve:  # the settings were checked above: a bad --set is one sentence here, not in every browser tab
        from lstm_vision.serve import DEFAULT_HOST, DEFAULT_PORT, run_serve

        if args.resume and (problem := _served_resume_problem(args.resume)):
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT

        return run_serve(args.host or DEFAULT_HOST, DEFAULT_PORT if args.port is None else args.port, _served_app_args(args))
    if not args.no_ui:
        return _run_app(settings, settings_path, args.resume, args.attach, _sources_note(args, settings_path), invalid_file)
    if args.background:
        sources = [item for kind, value in args.sources for item in (f"--{kind}", value)]
        return _start_background(settings, args.run_dir, args.resume, sources)
    from lstm_vision.headless import run_headless

    return run_headless(settings, args.resume, args.run_dir)


def _serve_conflict(args: argparse.Namespace) -> str | None:
    if not args.serve:
        return "--host and --port are for --serve (the app in a browser)." if args.host or args.port is not None else None
    others = [
        name
        for name, given in (
            ("--no-ui", args.no_ui),
            ("--background", args.background),
            ("--predict", args.predict),
            ("--export", args.export),
            ("--sweep", args.sweep or args.storage or args.workers),
            ("--print-settings", args.print_settings),
            ("--run-dir", args.run_dir),
        )
        if given
    ]
    if others:
        return f"--serve serves the app, which takes --config, --preset, --set, --resume and --attach; not {', '.join(others)}."
    return None


def _served_resume_problem(resume: str) -> str | None:
    """--serve --resume RUN of a completed run, not training again: every tab would refuse it, in a notification gone
    in seconds, over an idle app; said once here, before serving, as --resume says it without --serve. (The checks
    that need the checkpoint, and torch, are the tab's, as they are the run's; an earlier checkpoint may resume.)"""
    from lstm_vision.runs.folder import LAST_CHECKPOINT, read_summary
    from lstm_vision.runs.liveness import run_state

    run_dir = run_dir_of(resume)
    if Path(resume).is_file() and Path(resume).name != LAST_CHECKPOINT:
        return None
    if (read_summary(run_dir) or {}).get("status") == "completed" and not run_state(run_dir).live:
        return f"{run_dir} completed; nothing to resume."
    return None


def _served_app_args(args: argparse.Namespace) -> list[str]:
    """The options each served app gets: the settings sources in their order, then --resume or --attach."""
    served = [item for kind, value in args.sources for item in (f"--{kind}", value)]
    for option, value in (("--resume", args.resume), ("--attach", args.attach)):
        if value:
            served += [option, value]
    return served


def _set_hint(extra: list[str]) -> str:
    """Hydra takes key=value as it is (training.num_epochs=1); here a setting follows --set."""
    given = [item for item in extra if re.fullmatch(r"\+*[A-Za-z_]\w*\.\w+=.*", item)]
    return f" (a setting goes after --set: --set {given[0]})" if given else ""


def _use_trained_model(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """--predict and --export: a trained model's own settings, with only --set applied to them."""
    problem = _model_command_problem(args)
    if problem:
        parser.print_usage(sys.stderr)
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    overrides = [value for kind, value in args.sources if kind == "set"]
    try:
        if args.predict:
            from lstm_vision.use.predict import run_predict

            return run_predict(args.predict[0], args.predict[1:], args.output, overrides)
        from lstm_vision.use.export import run_export

        return run_export(args.export[0], args.export[1], args.output, overrides)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_STOPPED


def _model_command_problem(args: argparse.Namespace) -> str | None:
    command = "--predict" if args.predict else "--export"
    others = [
        name
        for name, given in (
            ("--attach", args.attach),
            ("--resume", args.resume),
            ("--background", args.background),
            ("--run-dir", args.run_dir),
            ("--print-settings", args.print_settings),
        )
        if given
    ] + sorted({f"--{kind}" for kind, _ in args.sources if kind != "set"})
    if args.predict and args.export:
        return "--predict and --export are two commands; give one of them."
    if others:
        return (
            f"{command} uses the trained model's own settings; it combines with --output and --set only, not {', '.join(others)}."
        )
    if args.predict and len(args.predict) < 2:
        return "--predict needs a run folder or checkpoint, then at least one image file or folder of images."
    if args.export:
        args.export[0] = args.export[0].lower()  # ONNX, TorchScript as their makers write them
    if args.export and args.export[0] not in ("onnx", "torchscript"):
        return (
            f"--export {args.export[0]!r}: the format must be onnx or torchscript, e.g. --export onnx runs/x --output model.onnx."
        )
    if args.export and not args.output:
        return "--export needs --output PATH, the file to write (e.g. model.onnx)."
    return None


def _conflicting_options(args: argparse.Namespace) -> str | None:
    if args.output:
        return "--output is for --predict (a CSV of the answers) or --export (the exported model's file)."
    if args.attach and (args.no_ui or args.resume or args.background):
        return "--attach opens the app on an existing run; it does not combine with --no-ui, --resume or --background."
    if args.background and not args.no_ui:
        return "--background starts a headless run (a new one, or --resume of a stopped one): use it with --no-ui."
    if args.run_dir and args.resume:
        return "--run-dir names the folder of a new run; --resume continues an existing one in its own folder."
    return None


def _sources_note(args: argparse.Namespace, settings_path: Path) -> str:
    """What the form holds besides the settings file, for the app's settings bar ("+ --preset cpu, --set
    train.epochs=3"): ctrl+s would write it into that file."""
    given = [f"--{kind} {value}" for kind, value in args.sources if not (kind == "config" and Path(value) == settings_path)]
    return f"+ {', '.join(given)}" if given and not (args.resume or args.attach) else ""


def _run_app(
    settings: Settings, settings_path: Path, resume: str | None, attach: str | None, note: str = "", invalid_file: str = ""
) -> int:
    try:
        from app.main import run_app  # the only place the core reaches for the UI, and only when asked to
    except ImportError as err:
        print(f"error: the terminal app cannot start ({err}); use --no-ui to train headless.", file=sys.stderr)
        return 1
    return run_app(settings, settings_path, resume, attach=attach, note=note, invalid_file=invalid_file)


def _start_background(
    settings: Settings, run_dir: str | None, resume: str | None = None, sources: list[str] | None = None
) -> int:
    from lstm_vision.detached import start_background
    from lstm_vision.runs.folder import OUTPUT_LOG

    try:
        folder, pid = start_background(settings, run_dir, resume, sources)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"Run directory: {folder}")
    print(f"Training in the background (process {pid}); its output goes to {folder / OUTPUT_LOG}.")
    print(f"Watch and steer it with: lstm-vision-tui --attach {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
