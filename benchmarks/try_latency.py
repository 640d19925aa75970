#!/usr/bin/env python
"""How long the Try screen takes from a stroke to the bars that show its answer.

    .venv/bin/python benchmarks/try_latency.py                         # trains the cpu preset for 1 epoch first
    .venv/bin/python benchmarks/try_latency.py --checkpoint runs/x --strokes 60

Runs the real app headless (Textual's Pilot) at 80 x 24, opens the Try screen on the model, and draws
strokes with real mouse events. Each change of the canvas (a mouse move that paints) is timed from the
change to the moment the bars show that canvas (the prediction ran in a thread worker and its message
reached the screen); changes made while a prediction runs are answered together by the next one, which
counts for each of them from its own change.
Also times model.probabilities on one image alone, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, data_root, header, load  # noqa: E402

sys.path.insert(0, str(ROOT))
from predict_speed import train_model  # noqa: E402


async def measure(source: Path, strokes: int) -> list[float]:
    from app.widgets.canvas import Canvas
    from app.screens.try_model import TryScreen
    from app.tui import LstmVisionApp
    from lstm_vision.settings import Settings

    changed: dict[int, float] = {}  # canvas version -> when it was made
    shown: dict[int, float] = {}  # canvas version -> when the bars showed it
    made, answered = Canvas._changed, TryScreen.on_try_screen_predicted

    def timed_change(canvas, how, layout=False):
        made(canvas, how, layout)
        changed[canvas.version] = time.perf_counter()

    def timed_answer(screen, message):
        answered(screen, message)
        shown[message.version] = time.perf_counter()

    Canvas._changed, TryScreen.on_try_screen_predicted = timed_change, timed_answer
    app = LstmVisionApp(Settings(), Path(tempfile.gettempdir()) / "try-latency-settings.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(TryScreen(source))

        async def until(condition, timeout: float = 60.0) -> None:
            deadline = time.monotonic() + timeout
            while not condition():
                if time.monotonic() > deadline:
                    raise SystemExit("the Try screen did not answer in 60 s")
                await asyncio.sleep(0.0005)

        def up_to_date() -> bool:
            screen = app.screen
            return isinstance(screen, TryScreen) and screen.model is not None and screen.shown_version == screen.canvas.version

        await until(up_to_date)
        canvas = app.screen.query_one(Canvas)
        for k in range(strokes):
            column = 6 + k % 16
            await pilot.mouse_down(canvas, offset=(column, 2))
            for row in range(3, 12):
                await pilot.hover(canvas, offset=(column, row))
            await pilot.mouse_up(canvas, offset=(column, 12))
            await until(up_to_date)
            if k % 8 == 7:
                await pilot.press("c")
                await until(up_to_date)
        await app.run_action("quit")
    Canvas._changed, TryScreen.on_try_screen_predicted = made, answered
    # each change waits for the first answer made for it or a later version
    answers = sorted(shown.items())
    return [
        next(at for version, at in answers if version >= v) - t
        for v, t in changed.items()
        if any(version >= v for version, _ in answers)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a run folder or checkpoint (default: train the cpu preset for 1 epoch)")
    parser.add_argument("--strokes", type=int, default=40)
    parser.add_argument("--data-root")
    args = parser.parse_args()
    header("try_latency: from a stroke to the bars that show its answer, the app at 80 x 24")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(args.checkpoint) if args.checkpoint else train_model(data_root(args.data_root), Path(tmp))
        import torch

        from lstm_vision.use.loaded_model import load_trained

        model = load_trained(source, device="cpu")
        one = torch.zeros(1, *model.image_shape, dtype=torch.uint8)
        model.probabilities(one)
        alone = []
        for _ in range(200):
            start = time.perf_counter()
            model.probabilities(one)
            alone.append(time.perf_counter() - start)
        times = asyncio.run(measure(source, args.strokes))
    ms = sorted(1000 * t for t in times)
    print(f"   model {model.path} ({model.precision.name}); load average now {load()}")
    print(f"   model.probabilities on one image: median {1000 * statistics.median(alone):.2f} ms")
    print(
        f"   change -> bars, {len(ms)} canvas changes: median {statistics.median(ms):.1f} ms, "
        f"90th percentile {ms[int(0.9 * (len(ms) - 1))]:.1f} ms, worst {ms[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
