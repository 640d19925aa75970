"""Command line: settings from files, presets and --set; the headless runner; the app otherwise."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning. Spinning is up to 1.3x faster on an idle machine, but
# next to one other busy process it made training up to 8x slower (benchmarks/RESULTS.md §3 and §6).
# libgomp reads this when torch loads, so it must be set before the first torch import. A user's own
# choice wins: OMP_WAIT_POLICY, or GOMP_SPINCOUNT (spin that long, then sleep) on a dedicated machine.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from lstm_vision.settings.schema import (
    Settings,
    SettingsError,
    apply_overrides,
    help_lines,
    load_settings,
    preset_names,  # noqa: E402
    preset_path,
    render_toml,
)
from lstm_vision.runs.folder import run_dir_of  # noqa: E402

from lstm_vision.events import EVENTS_ENV  # noqa: E402

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
        + "\n\nexit codes: 0 completed, 1 failed, 2 bad settings or arguments, 130 stopped (resumable).",
    )
    parser.add_argument("--no-ui", action="store_true", help="Run headless: plain lines, no terminal app.")
    parser.add_argument(
        "--config",
        metavar="PATH",
        action=_Source,
        help=f"Settings file to read (default: ./{DEFAULT_SETTINGS_FILE} if it exists).",
    )
    parser.add_argument(
        "--preset",
        metavar="NAME",
        action=_Source,
        help=f"Load a settings file shipped with lstm-vision: {', '.join(preset_names())}.",
    )
    parser.add_argument(
        "--set", metavar="SECTION.KEY=VALUE", action=_Source, help="Override one setting, e.g. --set train.epochs=5 (repeatable)."
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR_OR_CHECKPOINT",
        help="Continue a stopped run where it stopped (its settings, then any overrides).",
    )
    parser.add_argument(
        "--attach",
        metavar="RUN_DIR",
        help="Open the app on a run another process is training (or has trained): watch it, "
        "pause / stop it; quitting the app leaves it training.",
    )
    parser.add_argument(
        "--background",
        action="store_true",
        help="With --no-ui: start the run in a process of its own session (it outlives this "
        "terminal and SSH), print its folder and return; attach later with --attach.",
    )
    parser.add_argument(
        "--run-dir", metavar="PATH", help="Write the new run into PATH (a new or empty folder) instead of output.dir/run_name."
    )
    parser.add_argument("--print-settings", action="store_true", help="Print the resulting settings.toml and exit.")
    parser.add_argument(
        "--predict",
        nargs="+",
        metavar=("RUN_OR_CHECKPOINT", "PATH"),
        help="Classify image files (or every image in folders) with a trained model (a run folder "
        "means its last.pt): one line per image, a summary, and the accuracy where an image's "
        "folder is named after a class. --set train.amp / system.device apply.",
    )
    parser.add_argument(
        "--export",
        nargs=2,
        metavar=("onnx|torchscript", "RUN_OR_CHECKPOINT"),
        help="Write the model as ONNX or TorchScript (input: uint8 images N x H x W x C, output: "
        "logits, normalization inside) to --output, with a .json file beside it.",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="With --predict: write the answers to this CSV instead of the terminal. With --export: the file to write.",
    )
    parser.set_defaults(sources=[])
    return parser


def resolve_settings(args: argparse.Namespace) -> tuple[Settings, Path]:
    """Settings from (the resumed run's file | ./settings.toml) and then every source in order."""
    settings, settings_path = Settings(), DEFAULT_SETTINGS_FILE
    if args.resume or args.attach:
        option, value = ("--resume", args.resume) if args.resume else ("--attach", args.attach)
        if not Path(value).expanduser().exists():
            raise SettingsError(f"{option} {value}: no such run folder or checkpoint.")
        run_dir = run_dir_of(value)
        if not (run_dir / "settings.toml").is_file():
            raise SettingsError(
                f"{option} {value}: no settings.toml beside it in {run_dir}; give a run folder or a checkpoint inside one."
            )
        settings = load_settings(run_dir / "settings.toml")
    elif not any(kind in ("config", "preset") for kind, _ in args.sources) and DEFAULT_SETTINGS_FILE.is_file():
        settings = load_settings(DEFAULT_SETTINGS_FILE)
    for kind, value in args.sources:
        if kind == "config":
            settings, settings_path = load_settings(value, settings), Path(value)
        elif kind == "preset":
            settings = load_settings(preset_path(value), settings)
        else:
            settings = apply_overrides(settings, [value])
    return settings, settings_path


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse ends --predict's list at the next option: images after --output still count
        if not args.predict or any(item.startswith("-") for item in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.predict += extra
    if args.predict or args.export:
        return _use_trained_model(parser, args)
    conflict = _conflicting_options(args)
    if conflict:
        parser.print_usage(sys.stderr)
        print(f"error: {conflict}", file=sys.stderr)
        return 2
    try:
        settings, settings_path = resolve_settings(args)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.print_settings:
        print(render_toml(settings), end="")
        return 0
    if not args.no_ui:
        return _run_app(settings, settings_path, args.resume, args.attach, _sources_note(args, settings_path))
    if args.background:
        sources = [item for kind, value in args.sources for item in (f"--{kind}", value)]
        return _start_background(settings, args.run_dir, args.resume, sources)
    return run_headless(settings, args.resume, args.run_dir)


def _use_trained_model(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """--predict and --export: a trained model's own settings, with only --set applied to them."""
    problem = _model_command_problem(args)
    if problem:
        parser.print_usage(sys.stderr)
        print(f"error: {problem}", file=sys.stderr)
        return 2
    overrides = [value for kind, value in args.sources if kind == "set"]
    try:
        if args.predict:
            from lstm_vision.use.predict import run_predict

            return run_predict(args.predict[0], args.predict[1:], args.output, overrides)
        from lstm_vision.use.export import run_export

        return run_export(args.export[0], args.export[1], args.output, overrides)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): nobody wants the rest
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error as Python exits
        return 0


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


def _run_app(settings: Settings, settings_path: Path, resume: str | None, attach: str | None, note: str = "") -> int:
    try:
        from app.tui import run_app  # the only place the core reaches for the UI, and only when asked to
    except ImportError as err:
        print(f"error: the terminal app cannot start ({err}); use --no-ui to train headless.", file=sys.stderr)
        return 1
    return run_app(settings, settings_path, resume, attach=attach, note=note)


def _start_background(
    settings: Settings, run_dir: str | None, resume: str | None = None, sources: list[str] | None = None
) -> int:
    from lstm_vision.detached import OUTPUT_LOG, start_background

    try:
        folder, pid = start_background(settings, run_dir, resume, sources)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Run directory: {folder}")
    print(f"Training in the background (process {pid}); its output goes to {folder / OUTPUT_LOG}.")
    print(f"Watch and steer it with: lstm-vision-tui --attach {folder}")
    return 0


def run_headless(settings: Settings, resume: str | None, run_dir: str | None = None) -> int:
    from lstm_vision.control import RunControl
    from lstm_vision.report.console import Printer, jsonl_emitter
    from lstm_vision.dispatch import runner_for

    try:
        runner = runner_for(settings)  # imports torch: a second or more in which Ctrl-C has nothing to save yet
    except KeyboardInterrupt:
        print("Interrupted while starting: no run was started.", file=sys.stderr)
        return 130
    control = RunControl()
    _install_signal_handlers(control)
    emit = jsonl_emitter(sys.stdout) if os.environ.get(EVENTS_ENV) == "jsonl" else Printer(sys.stdout)
    run_dirs: list[str] = [str(run_dir_of(resume))] if resume else []
    try:
        result = runner(settings, _noting_run_dir(emit, run_dirs), control, resume, run_dir)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        _record_rank_failure(str(err), 2)
        _exited_before_start(run_dir, 2)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C: say what a resume would find, and exit 130 only if it would
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a third one must not cut this short with a traceback
        message, code = _kept_after_quit(run_dirs[-1] if run_dirs else None)
        print(f"Interrupted: quit at once; {message}", file=sys.stderr)
        return code
    except Exception as err:  # a bug, not a user mistake: say so, keep the traceback in a file
        log = Path(tempfile.gettempdir()) / f"lstm-vision-error-{os.getpid()}.log"
        log.write_text(traceback.format_exc(), encoding="utf-8")
        print(f"error: {err.__class__.__name__}: {err} (traceback in {log})", file=sys.stderr)
        _record_rank_failure(f"{err.__class__.__name__}: {err}", 1)
        _exited_before_start(run_dir, 1)
        return 1
    # The outcome is saved and said. A Ctrl-C now has nothing left to cut short, and raised while the interpreter
    # exits it would print "Exception ignored ... KeyboardInterrupt".
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return result.exit_code


def _exited_before_start(run_dir: str | None, exit_code: int) -> None:
    """A background run that ends before training: its folder says so at once (not after a time-out)."""
    if run_dir:
        from lstm_vision.runs.liveness import exited_before_start

        exited_before_start(run_dir, exit_code)


def _noting_run_dir(emit, run_dirs: list[str]):
    """``emit``, noting the run directory that run_started names (where a quit at once looks for last.pt)."""
    from lstm_vision.events import RunStarted

    def noting(event) -> None:
        if isinstance(event, RunStarted):
            run_dirs.append(event.run_dir)
        emit(event)

    return noting


def _kept_after_quit(run_dir: str | None) -> tuple[str, int]:
    """What a run that quit at once leaves to resume, in words, and the exit code: 130 only if resumable."""
    from lstm_vision.model.checkpoint import load_checkpoint
    from lstm_vision.runs.folder import read_summary

    if run_dir is None or not (Path(run_dir) / "last.pt").is_file():
        return "nothing to resume.", 1
    if (read_summary(run_dir) or {}).get("status") == "completed":  # the second Ctrl-C came as it ended
        return f"the run had completed; its results are in {run_dir}.", 0
    try:
        state = load_checkpoint(Path(run_dir) / "last.pt")
    except SettingsError as err:
        return f"nothing to resume ({err}).", 1
    epoch, step = int(state.get("epoch", 0)), int(state.get("step", 0))
    where = f"epoch {epoch + 1}, step {step}" if step else f"epoch {epoch}"
    return f"last.pt from {where} is kept, --resume {run_dir} continues from there.", 130


def _record_rank_failure(message: str, exit_code: int) -> None:
    """Under torchrun: leave the error where torchrun and lstm-vision's launcher look for it."""
    if "RANK" in os.environ:
        from lstm_vision.distributed.collectives import record_failure

        record_failure(message, exit_code)


def _install_signal_handlers(control) -> None:
    """First Ctrl-C / SIGTERM / SIGHUP: finish the batch, save last.pt, exit 130. Second Ctrl-C: end at once.
    A repeated SIGTERM (torchrun's shutdown, a scheduler) does not cut the save short: they follow with SIGKILL.
    SIGHUP is the terminal going away (a dropped SSH connection): the run stops as on Ctrl-C, resumable,
    unless it was started under nohup, which asks for the run to outlive the terminal."""

    def handle(signum, frame):
        if control.stop_requested:
            # A rank of a hand-started torchrun gets the terminal's Ctrl-C and then torchrun's forwarded copy
            # of it: the same request twice, which must not cut last.pt's save short (torchrun itself ends
            # ranks that outstay its shutdown timeout).
            if signum != signal.SIGINT or "RANK" in os.environ:
                return
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        control.stop()
        # one line per run: not from a rank under lstm-vision's launcher (it speaks for them), nor from ranks
        # other than 0 under a hand-started torchrun (they share its terminal)
        if os.environ.get(EVENTS_ENV) != "jsonl" and os.environ.get("RANK", "0") == "0":
            try:
                print(
                    f"\n{signal.Signals(signum).name}: stopping after this batch and saving last.pt "
                    f"(Ctrl-C again to quit at once).",
                    file=sys.stderr,
                    flush=True,
                )
            except OSError:
                pass  # the terminal is gone (SIGHUP): the run's folder keeps the record

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # nohup sets it to ignored
        signal.signal(signal.SIGHUP, handle)
    if os.environ.get(EVENTS_ENV) == "jsonl":  # a rank launched by lstm-vision: its parent pauses and resumes it
        signal.signal(signal.SIGUSR1, lambda signum, frame: control.pause())
        signal.signal(signal.SIGUSR2, lambda signum, frame: control.resume())


if __name__ == "__main__":
    sys.exit(main())
