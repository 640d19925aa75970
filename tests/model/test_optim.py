"""The learning-rate schedules: lr_at is a pure function of the step, so its shape and its end values are exact."""

import math

import pytest

from lstm_vision.settings import OptimSettings
from lstm_vision.model.optim import lr_at

PEAK, TOTAL = 2e-3, 100  # warmup_fraction 0.1: 10 warm-up steps, then 90 of decay


def schedule(name: str, **kwargs) -> list[float]:
    settings = OptimSettings(learning_rate=PEAK, schedule=name, **kwargs)
    return [lr_at(step, TOTAL, settings) for step in range(TOTAL)]


def rising(values: list[float]) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


def falling(values: list[float]) -> bool:
    return all(a > b for a, b in zip(values, values[1:]))


def test_onecycle_is_the_default_and_warms_up_from_peak_over_25_to_the_peak_then_anneals_to_peak_over_25e4():
    assert OptimSettings().schedule == "onecycle" and OptimSettings().warmup_fraction == 0.1
    lrs = schedule("onecycle")
    assert lrs[0] == pytest.approx(PEAK / 25, rel=1e-12)
    assert rising(lrs[:11]) and lrs[10] == pytest.approx(PEAK, rel=1e-12)  # the peak right after the warm-up
    assert falling(lrs[10:]) and lrs[-1] == pytest.approx(PEAK / 25 / 1e4, rel=1e-9)  # the last step: the floor
    assert max(lrs) == lrs[10]
    # both phases are half cosines, so symmetric about their middles (a line or an exponential would not be)
    start, end = PEAK / 25, PEAK / 25 / 1e4
    for k in range(11):
        assert (lrs[k] - start) + (lrs[10 - k] - start) == pytest.approx(PEAK - start, rel=1e-9), k
    for k in range(90):
        assert (lrs[10 + k] - end) + (lrs[99 - k] - end) == pytest.approx(PEAK - end, rel=1e-9), k
    # and curved: slow at both ends of each phase, below the straight warm-up line, above the straight decay line
    assert all(lrs[k] < start + (PEAK - start) * k / 10 for k in range(1, 5))
    assert all(lrs[10 + k] > PEAK - (PEAK - end) * k / 89 for k in range(1, 44))


def test_cosine_warms_up_linearly_to_the_peak_then_decays_towards_zero():
    lrs = schedule("cosine")
    assert lrs[:10] == pytest.approx([PEAK * (step + 1) / 10 for step in range(10)], rel=1e-12)  # a line up to it
    assert lrs[9] == lrs[10] == pytest.approx(PEAK, rel=1e-12)
    assert falling(lrs[10:])
    assert lrs[55] == pytest.approx(PEAK / 2, rel=1e-12)  # half-way through the 90 decay steps
    assert lrs[40] == pytest.approx(PEAK * 0.75, rel=1e-12)  # a third of the way: cos(pi/3) = 1/2 (a line: 2/3)
    for k in range(1, 90):  # a half cosine from the peak at step 10 to zero at step 100: symmetric about step 55
        assert lrs[10 + k] + lrs[100 - k] == pytest.approx(PEAK, rel=1e-9), k
    # the last step still learns a little; one step past the end is zero
    assert lrs[-1] == pytest.approx(PEAK * (1 + math.cos(math.pi * 89 / 90)) / 2, rel=1e-12) and 0 < lrs[-1] < PEAK / 1000
    assert lr_at(TOTAL, TOTAL, OptimSettings(learning_rate=PEAK, schedule="cosine")) == pytest.approx(0.0, abs=1e-18)


@pytest.mark.parametrize("name", ["onecycle", "cosine"])
def test_no_warm_up_starts_at_the_peak(name):
    lrs = schedule(name, warmup_fraction=0.0)
    assert lrs[0] == pytest.approx(PEAK, rel=1e-12) and falling(lrs)


@pytest.mark.parametrize("name", ["constant", "onecycle", "cosine"])
def test_a_one_step_run_and_the_constant_schedule_use_the_peak(name):
    settings = OptimSettings(learning_rate=PEAK, schedule=name)
    assert lr_at(0, 1, settings) == PEAK
    if name == "constant":
        assert set(schedule(name)) == {PEAK}
