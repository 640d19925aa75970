"""What watching a run in the app costs: the same settings headless and in the Textual app, alternated.

Each round trains once headless (engine.run with the headless printer writing to /dev/null) and once
in the app (a real LstmVisionApp in a headless Textual driver, F5 pressed, the Train screen showing
live charts), and compares the training throughput that each run's summary.json reports.

    .venv/bin/python benchmarks/app_overhead.py [--rounds 2] [--epochs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lstm_vision.settings import Settings, apply_overrides, load_settings, preset_path  # noqa: E402
from lstm_vision.control import RunControl  # noqa: E402
from lstm_vision.training.engine import run  # noqa: E402
from lstm_vision.report.console import Printer  # noqa: E402


def settings_for(out: Path, name: str, epochs: int, data_root: str) -> Settings:
    s = load_settings(preset_path("cpu"))
    return apply_overrides(
        s,
        [
            f"data.root={data_root}",
            "data.download=false",
            f"train.epochs={epochs}",
            f"output.dir={out}",
            f"output.run_name={name}",
        ],
    )


def headless(settings: Settings) -> float:
    with open(os.devnull, "w") as sink:
        result = run(settings, Printer(sink), RunControl())
    return result.summary["train_samples_per_s"]


async def in_app(settings: Settings, out: Path) -> float:
    from app.tui import LstmVisionApp

    app = LstmVisionApp(settings, out / "settings.toml")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        while app.session.state not in ("completed", "failed", "stopped"):
            await asyncio.sleep(0.2)  # a benchmark waits on the clock; the app keeps drawing meanwhile
        if app.session.state != "completed":
            raise SystemExit(f"the run in the app ended as {app.session.state}")
    return json.loads((out / settings.output.run_name / "summary.json").read_text())["train_samples_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-root", default=os.environ.get("LSTM_VISION_TEST_DATA", str(ROOT.parent / "shared" / "data")))
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="lstm-vision-app-overhead-"))
    print(f"cpu preset, {args.epochs} epoch(s), real MNIST from {args.data_root}; load {os.getloadavg()[0]:.1f}")
    ratios = []
    for r in range(args.rounds):
        plain = headless(settings_for(out, f"headless-{r}", args.epochs, args.data_root))
        shown = asyncio.run(in_app(settings_for(out, f"app-{r}", args.epochs, args.data_root), out))
        ratios.append(shown / plain)
        print(
            f"round {r + 1}: headless {plain:,.0f} samples/s, app {shown:,.0f} samples/s, "
            f"app/headless {shown / plain:.3f}; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    print(
        f"median app/headless throughput: {statistics.median(ratios):.3f} "
        f"(cost of the app: {100 * (1 - statistics.median(ratios)):.1f}%)"
    )


if __name__ == "__main__":
    main()
