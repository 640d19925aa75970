"""The Sweep tab's insight into a sweep folder (issue 31): the trials' numbers as the headless lines write them,
the importance of each setting as bars, the parallel coordinates of the complete trials, and trials picked with
space to compare their curves. Sweep folders in the engine's format (tests/apps.py write_sweep)."""

from __future__ import annotations

from lstm_vision.sweep.folder import read_trials, write_importance, write_trials
from app.screens.sweep import WATCH, SweepView
from app.widgets.sweep_insight import ImportanceBars, ParallelPlot
from app.widgets.trials import PICK_MARK
from apps import make_app, wait_for, write_sweep

LONG_RATE = 0.014956347886667344  # as Optuna samples a log range: trials.csv keeps every digit
TRIALS = [("complete", 0.001, 8, 0.91), ("complete", LONG_RATE, 16, 0.97), ("pruned", 0.01, 8, 0.5), ("complete", 0.01, 16, 0.93)]


def attached(tmp_path, sweep_dir):
    app = make_app(tmp_path)
    app.initial_attach = sweep_dir  # lstm-vision-tui --attach SWEEP_DIR
    return app


async def shown(pilot, app) -> SweepView:
    view = app.query_one(SweepView)
    await wait_for(pilot, lambda: view.showing == WATCH and view.watcher.table.row_count == len(TRIALS))
    return view


async def test_sampled_values_read_as_in_the_headless_lines(tmp_path):
    sweep_dir = write_sweep(tmp_path / "runs", "s", TRIALS)
    async with attached(tmp_path, sweep_dir).run_test(size=(80, 24)) as pilot:
        view = await shown(pilot, pilot.app)
        assert [str(c) for c in view.watcher.table.get_row_at(1)][2:4] == ["0.01496", "16"]  # not 0.014956347886667344


async def test_v_shows_the_importance_of_each_setting_and_follows_importance_csv(tmp_path):
    sweep_dir = write_sweep(tmp_path / "runs", "s", TRIALS)
    async with attached(tmp_path, sweep_dir).run_test(size=(80, 24)) as pilot:
        view = await shown(pilot, pilot.app)
        bars = view.query_one(ImportanceBars)
        await pilot.press("v")
        await wait_for(pilot, lambda: view.watcher.panel == "sweep-importance" and bars.region.area)
        assert "No importance yet" in str(bars.render())  # none written: too few trials so far
        assert "importance of each setting below" in str(view.query_one("#sweep-path").render())

        write_importance(sweep_dir, [("optim.learning_rate", 0.8), ("model.hidden_size", 0.2)])
        write_trials(sweep_dir, "val_accuracy", ["optim.learning_rate", "model.hidden_size"], read_trials(sweep_dir))
        await wait_for(pilot, lambda: "80%" in str(bars.render()), "the bars after trials.csv changed")
        first, second = str(bars.render()).splitlines()
        assert first.split()[0] == "learning_rate" and first.endswith(" 80%")
        assert second.split()[0] == "hidden_size" and second.endswith(" 20%")
        assert second.count("█") > 0 and abs(first.count("█") / 4 - second.count("█")) <= 1  # lengths as the shares


async def test_v_again_shows_the_parallel_coordinates_of_the_complete_trials(tmp_path):
    sweep_dir = write_sweep(tmp_path / "runs", "s", TRIALS)
    async with attached(tmp_path, sweep_dir).run_test(size=(80, 24)) as pilot:
        view = await shown(pilot, pilot.app)
        plot = view.query_one(ParallelPlot)
        await pilot.press("v", "v")
        await wait_for(pilot, lambda: view.watcher.panel == "sweep-parallel" and plot.view is not None)
        assert [line.number for line in plot.view.lines] == [1, 4, 2]  # the complete ones, the best drawn last
        assert plot.labels == ["learning_rate", "hidden_size", "val_accuracy"]
        await pilot.pause()
        drawn = plot.plt.build()
        assert "best: #2, val_accuracy 97.00%" in drawn and "learning_rate" in drawn
        await pilot.press("v")  # round again to the curves
        await wait_for(pilot, lambda: view.watcher.panel == "sweep-charts")


async def test_space_picks_trials_whose_curves_are_compared(tmp_path):
    sweep_dir = write_sweep(tmp_path / "runs", "s", TRIALS)
    async with attached(tmp_path, sweep_dir).run_test(size=(80, 24)) as pilot:
        view = await shown(pilot, pilot.app)
        table = view.watcher.table
        charts = view.watcher.query_one("#sweep-charts")
        await wait_for(pilot, lambda: [s.short for s in charts.loss.series] == ["#2", "#4", "#1"])  # the best few
        await wait_for(pilot, lambda: pilot.app.focused is table)
        await pilot.press("down", "down", "space", "down", "space")  # #3 (pruned) and #4
        await wait_for(pilot, lambda: [s.short for s in charts.loss.series] == ["#3", "#4"])
        assert str(table.get_row_at(2)[0]) == f"{PICK_MARK}3"
        assert "comparing #3, #4" in str(view.query_one("#sweep-path").render())
        await pilot.press("space")  # #4 out again
        await wait_for(pilot, lambda: [s.short for s in charts.loss.series] == ["#3"])
