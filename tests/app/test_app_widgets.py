"""Widgets fed directly: memory panel with and without a GPU, image grid, chart thinning, names."""

from __future__ import annotations

import math

from textual.app import App, ComposeResult

from lstm_vision.events import ResourcesSampled
from lstm_vision.system.resources import GPU_FIELDS
from app.widgets.charts import ChartPair, nice_axis, thin
from app.widgets.panels import LogPanel, MemoryPanel
from app.screens.results import ImageGrid, render_image
from lstm_vision.metrics import short_name
from apps import FakeEngine, predictions, resources, wait_for, type_path


GIB = 1 << 30


class Harness(App):
    def compose(self) -> ComposeResult:
        yield MemoryPanel()
        yield ImageGrid()


async def test_memory_panel_shows_the_gpu_when_there_is_one_and_says_so_when_not():
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(MemoryPanel)
        gpu = {
            "name": "NVIDIA H200",
            "allocated_bytes": 3 * GIB,
            "reserved_bytes": 4 * GIB,
            "peak_allocated_bytes": 5 * GIB,
            "total_bytes": 140 * GIB,
            "used_bytes": 6 * GIB,
            "utilization_percent": 97,
            "temperature_c": 61,
            "rank_peak_allocated_bytes": [5 * GIB, 4 * GIB],
        }
        assert set(gpu) - {"rank_peak_allocated_bytes"} == set(GPU_FIELDS)  # the keys the engine writes
        panel.show(
            ResourcesSampled(
                host_rss_bytes=GIB, host_peak_rss_bytes=2 * GIB, host_total_bytes=64 * GIB, host_available_bytes=32 * GIB, gpu=gpu
            )
        )
        await pilot.pause()
        text = str(panel.render())
        for part in (
            "NVIDIA H200",
            "alloc 3.0 GiB",
            "reserved 4.0 GiB",
            "peak 5.0 GiB",
            "total 140.0 GiB",
            "util 97%",
            "61°C",
            "RSS  1.0 GiB",
            "peak per rank 5.0 GiB / 4.0 GiB",
            "used 6.0 GiB",
        ):
            assert part in text
        assert "No GPU" not in text

        panel.show(resources())
        await pilot.pause()
        text = str(panel.render())
        assert "No GPU" in text and "RSS  500.0 MiB (peak 600.0 MiB)" in text

        # a GPU without NVML: torch's numbers only, nothing missing is invented
        panel.show(
            ResourcesSampled(
                1,
                1,
                1,
                1,
                gpu={
                    "name": "cuda:0",
                    "allocated_bytes": GIB,
                    "reserved_bytes": GIB,
                    "peak_allocated_bytes": GIB,
                    "total_bytes": 8 * GIB,
                    "used_bytes": None,
                    "utilization_percent": None,
                    "temperature_c": None,
                },
            )
        )
        await pilot.pause()
        assert "util" not in str(panel.render())


async def test_image_grid_draws_half_blocks_with_labels_and_marks_mistakes():
    app = Harness()
    async with app.run_test(size=(80, 40)) as pilot:
        grid = app.query_one(ImageGrid)
        sample = predictions(8)
        grid.show(sample)
        await pilot.pause()
        text = grid.render().plain
        assert "▀" in text
        mistakes = sum(1 for t, p in zip(sample.labels, sample.predictions) if t != p)
        assert text.count("✗") == mistakes and text.count("✓") == len(sample.labels) - mistakes
        assert "0→1 ✗" in text  # true 0, predicted 1


def test_render_image_is_half_as_tall_as_the_image():
    lines = render_image(list(range(28 * 28)), 28, 28, 1, 1)
    assert len(lines) == 14 and all(line.cell_len == 28 for line in lines)
    assert len(render_image([0] * (28 * 28 * 3), 28, 28, 3, 2)) == 7


def test_thin_keeps_the_ends_and_bounds_the_points():
    xs = list(range(10_000))
    tx, ty = thin(xs, xs, limit=400)
    assert len(tx) <= 401 and tx[0] == 0 and tx[-1] == 9_999 and tx == ty
    assert thin([1, 2], [3, 4]) == ([1, 2], [3, 4])


def test_short_class_names():
    assert short_name("7 - seven") == "7"
    assert short_name("automobile", 5) == "autom" and short_name("automobile") == "automobile"
    assert short_name("cat") == "cat"


class LogHarness(App):
    def compose(self) -> ComposeResult:
        yield LogPanel()


async def test_log_lines_wrap_again_when_the_terminal_grows():
    app = LogHarness()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(LogPanel)
        await wait_for(pilot, lambda: panel.scrollable_content_region.width > 0)  # laid out
        message = " ".join(["word"] * 28)  # 139 characters: two or more rows at 80 columns
        panel.add(message)
        await wait_for(pilot, lambda: len(panel.lines) >= 2)
        narrow_rows = len(panel.lines)
        await pilot.resize_terminal(200, 24)
        # the re-wrap waits for the terminal to stop resizing (a timer): wait for it, bounded
        await wait_for(pilot, lambda: len(panel.lines) < narrow_rows, "the log to wrap again at 200 columns")
        assert len(panel.lines) == 1  # one row at 200 columns
        assert panel.messages[-1] == message


class ChartHarness(App):
    def compose(self) -> ComposeResult:
        yield ChartPair()


def axis_labels(plot: str) -> tuple[list[str], list[str]]:
    """The y labels (left of ┤) and the x labels (the line under the frame) of a plotext drawing."""
    import re

    lines = plot.splitlines()
    ys = [m.group(1) for line in lines if (m := re.match(r"^\s*(-?[\d.]+)┤", line))]
    bottom = next(i for i, line in enumerate(lines) if line.lstrip().startswith("└"))
    return ys, lines[bottom + 1].split()


async def test_charts_keep_the_legend_off_the_data_and_tick_at_round_values(tmp_path):
    """Issue 16.15: at 80x24 plotext's legend covered the top rows (the 95-100 % band), y labels were
    uneven (1.33 / 1.20 / 0.94) and x ticks fell between epochs (0.0 1.2 2.5 3.8 5.0)."""
    from rich.text import Text
    from lstm_vision.control import RunControl
    from app.record import RunRecord

    record = RunRecord()
    FakeEngine(tmp_path, epochs=5, steps=20)(None, record.apply, RunControl())
    app = ChartHarness()
    async with app.run_test(size=(80, 12)) as pilot:
        pair = app.query_one(ChartPair)
        await wait_for(pilot, lambda: pair.loss.size.height > 0)
        pair.show_record(record)
        for chart in (pair.loss, pair.accuracy):
            chart.flush()
            plot = Text.from_ansi(chart.plt.build()).plain
            assert "train" not in plot and "val" not in plot  # no legend box over the curves
            assert all((s.short or s.label) in str(chart.border_title) for s in chart.series)  # names above it

            ys, xs = axis_labels(plot)
            values = [float(y) for y in ys]
            steps = {round(a - b, 9) for a, b in zip(values, values[1:])}
            assert len(values) >= 3 and len(steps) == 1  # evenly spaced
            step = steps.pop()
            mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
            assert round(mantissa, 6) in (1, 2, 2.5, 5) and all(round(v / step, 6).is_integer() for v in values)
            assert len({len(y.partition(".")[2]) for y in ys}) == 1  # the same decimals on every label
            assert xs == [str(e) for e in range(6)]  # whole epochs
        acc_values = [float(y) for y in axis_labels(Text.from_ansi(pair.accuracy.plt.build()).plain)[0]]
        assert max(acc_values) == 100


def test_nice_axis_picks_round_evenly_spaced_ticks():
    assert nice_axis(0.54, 1.33, 5) == (0.5, 1.5, [0.5, 0.75, 1.0, 1.25, 1.5])
    assert nice_axis(95.2, 100.0, 4) == (95.0, 100.0, [95.0, 97.5, 100.0])
    assert nice_axis(0.58, 1.0, 5) == (0.5, 1.0, [0.5, 0.75, 1.0])  # not 0.4-1.0 by 0.2: a quarter left empty
    low, high, ticks = nice_axis(0.2, 0.2, 4)  # one value: a band around it, not below zero
    assert 0 < low < 0.2 < high and len(ticks) <= 4


async def test_counts_of_one_are_singular():
    """Issue 16: "1 epochs", "1 CPU threads"."""
    from app.widgets.panels import RunProgress
    from app.screens.results import summary_text
    from lstm_vision.text import plural
    from apps import run_started, summary

    assert plural(1, "CPU thread") == "1 CPU thread" and plural(2, "CPU thread") == "2 CPU threads"
    assert "· 1 epoch ·" in summary_text(summary("completed", 1)).plain

    class ProgressHarness(App):
        def compose(self) -> ComposeResult:
            yield RunProgress()

    app = ProgressHarness()
    async with app.run_test(size=(80, 24)) as pilot:
        progress = app.query_one(RunProgress)
        progress.show_started(run_started("run", epochs=1, steps=1))
        await pilot.pause()
        assert "1 epoch × 1 step," in str(progress.run_line.render())


def test_results_summary_names_macro_f1_and_the_weakest_classes():
    from app.screens.results import summary_text

    rows = [{"class": str(k), "precision": 0.99, "recall": 0.99, "f1": 0.99 - k / 100, "support": 100} for k in range(10)]
    text = summary_text(
        {"test_correct": 990, "test_total": 1000, "test_accuracy": 0.99, "per_class": rows, "macro_f1": 0.945}
    ).plain
    assert "macro F1 94.50%" in text and "weakest: 9 90.00%, 8 91.00%, 7 92.00%" in text


async def settle_wrap(pilot, panel) -> int:
    """The log's width once its first wrap-again (a timer after the first resize) is done, bounded."""
    await wait_for(pilot, lambda: panel.scrollable_content_region.width > 0)
    await wait_for(pilot, lambda: panel._wrapped_at == panel.scrollable_content_region.width, "the log's first wrap at its width")
    return panel.scrollable_content_region.width


async def test_log_lines_written_while_the_train_screen_is_hidden_wrap_at_the_logs_width(tmp_path):
    from apps import make_app

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        panel = app.query_one(LogPanel)
        width = await settle_wrap(pilot, panel)
        await pilot.press("f2")
        await wait_for(pilot, lambda: panel.scrollable_content_region.width == 0)  # hidden
        rows = len(panel.lines)
        panel.add("w" * (width - 12))  # with its time stamp, one row at the log's width
        await pilot.press("f3")
        await wait_for(pilot, lambda: panel.scrollable_content_region.width == width)
        assert len(panel.lines) == rows + 1 and panel.lines[-1].text.endswith(" " + "w" * (width - 12))  # one row


async def test_the_log_stays_where_the_user_scrolled_to_until_they_scroll_back_down():
    app = LogHarness()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(LogPanel)
        await settle_wrap(pilot, panel)
        for i in range(60):
            panel.add(f"line {i}")
        await wait_for(pilot, lambda: panel.max_scroll_y > 0 and panel.scroll_y == panel.max_scroll_y)
        panel.scroll_to(y=3, animate=False)  # the user scrolls up to read
        await wait_for(pilot, lambda: panel.scroll_y == 3)
        panel.add("one more")
        await wait_for(pilot, lambda: len(panel.lines) == 61)
        await pilot.pause()
        assert panel.scroll_y == 3
        panel.scroll_end(animate=False)  # back at the bottom: new lines are followed again
        await wait_for(pilot, lambda: panel.scroll_y == panel.max_scroll_y)
        panel.add("and another")
        await wait_for(pilot, lambda: len(panel.lines) == 62 and panel.scroll_y == panel.max_scroll_y)


class StatusHarness(App):
    def compose(self) -> ComposeResult:
        from app.widgets.panels import StatusLine

        yield StatusLine()


async def test_the_status_line_leaves_out_whole_parts_at_80_columns_and_shortens_paths(tmp_path, monkeypatch):
    import dataclasses
    from app.widgets.panels import StatusLine
    from apps import run_started

    monkeypatch.chdir(tmp_path)
    app = StatusHarness()
    async with app.run_test(size=(80, 24)) as pilot:
        status = app.query_one(StatusLine)
        started = dataclasses.replace(
            run_started(str(tmp_path / "runs" / "x")),
            device_name="AMD EPYC (2 cores)",
            compile_mode="default",
            compiled="model with mode=default",
        )
        status.set_started(started)
        status.set_state("completed", str(tmp_path / "runs" / "20261128-232920"))
        await pilot.pause()
        text = str(status.render())
        assert text == " COMPLETED  runs/20261128-232920 · AMD EPYC (2 cores) bf16 · mnist 50k/10k/10k"
        status.set_state("completed", "/scratch/a-long-project-folder/experiments-of-november/runs/20261128-232920")
        await pilot.pause()
        assert str(status.render()) == " COMPLETED  …/runs/20261128-232920 · AMD EPYC (2 cores) bf16 · mnist 50k/10k/10k"
        await pilot.resize_terminal(200, 24)
        await wait_for(pilot, lambda: "1 proc" in str(status.render()))  # room again: more parts, the whole path
        assert "/scratch/a-long-project-folder/" in str(status.render())


async def test_the_history_footer_fits_80_columns(tmp_path):
    from textual.widgets._footer import FooterKey
    from apps import make_app, write_run

    write_run(tmp_path / "runs", "first", "completed", 2)  # the keys that act on a run show once there is one
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        await wait_for(pilot, lambda: any(k.description == "Load settings" for k in app.query(FooterKey)))
        # g (refresh) is left out of the footer for t (try the run's model): F9 and live runs refresh anyway
        history_keys = [k for k in app.query(FooterKey) if k.key in ("space", "r", "a", "l", "t")]
        [palette] = [k for k in app.query(FooterKey) if k.key == "ctrl+p"]  # docked right, over what runs beyond it
        assert len(history_keys) == 5 and all(k.region.right <= palette.region.x for k in history_keys)


async def test_notifications_show_paths_relative_to_the_working_directory(tmp_path, monkeypatch):
    from textual.widgets._toast import Toast
    from apps import make_app

    monkeypatch.chdir(tmp_path)
    app = make_app(tmp_path, settings_path=tmp_path / "settings.toml")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await app.run_action("save_as")
        (tmp_path / "experiments").mkdir()
        await type_path(pilot, app, tmp_path / "experiments" / "wide.toml")
        await wait_for(pilot, lambda: app.screen.query(Toast))
        assert "Saved experiments/wide.toml" in str(app.screen.query(Toast).last().render())
