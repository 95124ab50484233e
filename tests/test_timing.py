import numpy as np
import pytest

from emodub.errors import InputError
from emodub.timing import TOKEN_RATE_HZ, DurationPlan, Span, find_pauses, land_exactly, plan_time_map


@pytest.mark.parametrize("kwargs,match", [
    ({"mode": "controlled", "ratio": 1.3}, "ratio 1.3 is outside the allowed range 0.75–1.25"),
    ({"mode": "controlled", "ratio": 0.7}, "ratio 0.7"),
    ({"mode": "controlled", "ratio": float("nan")}, "ratio nan"),
    ({"mode": "controlled"}, "exactly one of"),
    ({"mode": "controlled", "ratio": 1.0, "target_duration_s": 2.0}, "exactly one of"),
    ({"mode": "free", "ratio": 1.1}, "needs mode 'controlled'"),
    ({"mode": "fast"}, "'fast'"),
    ({"mode": "controlled", "target_duration_s": 0.0}, "target_duration_s 0.0"),
    ({"mode": "controlled", "target_token_count": -3}, "target_token_count -3"),
    ({"mode": "controlled", "target_token_count": 2.5}, "target_token_count 2.5"),
    ({"smoothness": 1.5}, "smoothness 1.5"),
])
def test_bad_plans_are_refused_naming_the_value(kwargs, match):
    with pytest.raises(InputError, match=match):
        DurationPlan(**kwargs)


@pytest.mark.parametrize("ratio", [0.75, 0.8, 0.9, 1.0, 1.1, 1.2, 1.25])
def test_ratio_targets(ratio):
    assert DurationPlan("controlled", ratio=ratio).target_length_s(2.0) == pytest.approx(2.0 * ratio)


def test_token_count_uses_documented_rate():
    plan = DurationPlan("controlled", target_token_count=100)
    assert plan.target_length_s(2.0) == pytest.approx(100 / TOKEN_RATE_HZ)
    assert pytest.approx(50.08, abs=0.01) == TOKEN_RATE_HZ


@pytest.mark.parametrize("target", [0.5, 9.0])
def test_implied_ratio_out_of_hard_range_is_refused(target):
    with pytest.raises(InputError, match=f"target_duration_s {target}"):
        DurationPlan("controlled", target_duration_s=target).target_length_s(2.0)


def test_find_pauses_marks_long_quiet_runs():
    energy = np.array([0.0] * 50 + [-60.0] * 30 + [0.0] * 40 + [-60.0] * 5 + [0.0] * 20)
    spans = find_pauses(energy, min_pause_frames=12)
    assert [(s.start, s.end, s.is_pause) for s in spans] == [(0, 50, False), (50, 80, True), (80, 145, False)]


SPANS = [Span(0, 100, False), Span(100, 140, True), Span(140, 260, False)]


@pytest.mark.parametrize("target", [150.0, 200.0, 260.0, 300.0, 420.0])
@pytest.mark.parametrize("smoothness", [0.0, 0.5, 1.0])
def test_time_map_is_monotone_with_exact_frame_count(target, smoothness):
    positions = plan_time_map(SPANS, target, smoothness=smoothness)
    assert len(positions) == round(target)
    assert np.all(np.diff(positions) >= 0)
    assert positions[0] >= 0 and positions[-1] <= 259


def test_smoothness_puts_change_into_pauses_first():
    def pause_share(smoothness):
        positions = plan_time_map(SPANS, 300.0, smoothness=smoothness)
        return np.mean((positions >= 100) & (positions < 140))

    uniform, smooth = pause_share(0.0), pause_share(1.0)
    assert uniform == pytest.approx(40 / 260, abs=0.01)
    assert smooth > uniform + 0.1


@pytest.mark.parametrize("n", [900, 1000, 1003, 1100])
@pytest.mark.parametrize("quiet_tail", [True, False])
def test_land_exactly(n, quiet_tail):
    samples = np.sin(np.arange(1000) * 0.1).astype(np.float32)
    if quiet_tail:
        samples[-300:] = 0
    out = land_exactly(samples, n)
    assert len(out) == n


@pytest.mark.parametrize("phones, n_frames, expected", [
    ([("pau", 0.1), ("hh", 0.2), ("ow", 0.3), ("pau", 0.5), ("n", 0.6)], 140,
     [(0, 20, True), (20, 60, False), (60, 100, True), (100, 120, False), (120, 140, True)]),
    ([("pau", 0.01), ("a", 0.2)], 40, [(0, 40, False)]),  # a 2-frame pause is too short to count as one
    ([("a", 0.1)], 30, [(0, 20, False), (20, 30, True)]),  # audio after the last phone is a pause
])
def test_spans_from_phone_timings(phones, n_frames, expected):
    from emodub.timing import spans_from_phones

    spans = spans_from_phones(phones, n_frames, 0.005)
    assert spans[0].start == 0 and spans[-1].end == n_frames
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))
    assert [(s.start, s.end, s.is_pause) for s in spans] == expected
