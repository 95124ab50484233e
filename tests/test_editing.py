"""The editor's rules without a model: retiming a cue (frames, video, neighbours), the status in words and its one-click
fixes, the progress vocabulary, the one consent rule, the plot's bar heights.  All inputs are made here."""

from __future__ import annotations

import math

import pytest

from emodub.consent import CONSENT_EXAMPLE, require_consent
from emodub.errors import InputError
from emodub.progress import STEP_WORDS, STEP_WORDS_ZH, step_words
from emodub.service.advice import HUMAN_LIKE_MOS, advise
from emodub.service.plot import bar_heights
from emodub.subtitles.retime import MIN_CUE_S, retimed, snap_to_frame
from emodub.timing import RATIO_MIN

SPANS = [(1.0, 3.0), (4.0, 6.0), (7.0, 9.0)]


# -- retiming ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fps", [23.976, 24.0, 25.0, 29.97, 30.0, 60.0, None])
@pytest.mark.parametrize("time_s", [0.0, 0.013, 1.2345, 4.99, 59.99])
def test_snapped_times_lie_on_a_frame_and_within_half_a_frame(fps, time_s):
    rate = fps or 25.0
    snapped = snap_to_frame(time_s, fps)
    assert abs(snapped - time_s) <= 0.5 / rate + 1e-9
    assert math.isclose(snapped * rate, round(snapped * rate), abs_tol=1e-4)


@pytest.mark.parametrize(("position", "start", "end"), [(1, 3.5, 6.5), (1, 3.0, None), (1, None, 7.0), (0, 0.0, 3.9), (2, 6.0, 10.0)])
def test_a_move_inside_the_gaps_is_kept_and_snapped(position, start, end):
    new_start, new_end = retimed(SPANS, position, start, end, duration_s=10.0, fps=25.0)
    assert new_start == snap_to_frame(SPANS[position][0] if start is None else start, 25.0)
    assert new_end == snap_to_frame(SPANS[position][1] if end is None else end, 25.0)


@pytest.mark.parametrize(("position", "start", "end", "match"), [
    (1, 2.5, None, "start_s 2.50 s is inside the previous cue, which ends at 3.00 s"),
    (1, None, 7.5, "end_s 7.50 s is inside the next cue, which starts at 7.00 s"),
    (0, -0.5, None, "start_s -0.5 is before the video starts"),
    (2, None, 10.5, "end_s 10.5 is after the video ends (10.00 s)"),
    (1, 5.0, 5.1, f"a cue lasts at least {MIN_CUE_S} s"),
    (1, 5.0, 4.5, f"a cue lasts at least {MIN_CUE_S} s"),
    (1, float("nan"), None, "start_s nan is not a time"),
    (1, None, float("inf"), "end_s inf is not a time"),
])
def test_a_bad_move_is_refused_with_the_value_and_what_is_allowed(position, start, end, match):
    with pytest.raises(InputError, match=match.replace("(", r"\(").replace(")", r"\)")):
        retimed(SPANS, position, start, end, duration_s=10.0, fps=25.0)


# -- the status in words and its fixes ----------------------------------------------------------------------
def _cue(free_s: float, span_s: float = 2.0, status: str = "dubbed", **extra) -> dict:
    return {"index": 2, "text": "one two three four five six seven eight", "start_s": 4.0, "end_s": 4.0 + span_s, "status": status,
            "free_duration_s": free_s, "ratio_needed": span_s / free_s, "warnings": [], **extra}


def _advice(cue: dict) -> dict:
    return advise(cue, previous_end_s=3.0, next_start_s=9.0, fps=25.0)


@pytest.mark.parametrize("free_s", [1.85, 2.0, 2.2])
def test_a_line_that_fits_needs_nothing(free_s):
    advice = _advice(_cue(free_s))
    assert advice["level"] == "ok" and advice["actions"] == [] and advice["summary"]["en"].startswith("Fits the shot")


@pytest.mark.parametrize(("free_s", "status"), [(1.2, "short-of-shot"), (1.0, "not-dubbed")])
def test_a_line_short_of_its_shot_offers_more_words_or_a_shorter_shot(free_s, status):
    advice = _advice(_cue(free_s, status=status))
    assert advice["level"] == "warn" and f"{round((1 - free_s / 2.0) * 100)} % shorter than the shot" in advice["summary"]["en"]
    kinds = [action["kind"] for action in advice["actions"]]
    assert kinds == ["edit-text", "retime"]
    end = advice["actions"][1]["edit"]["end_s"]
    assert end == snap_to_frame(4.0 + free_s, 25.0) and end - 4.0 >= MIN_CUE_S  # the shot its line fills at its own pace
    assert retimed([(1.0, 3.0), (4.0, 6.0), (9.0, 10.0)], 1, None, end, duration_s=10.0, fps=25.0) == (4.0, end)  # the API takes it


@pytest.mark.parametrize(("free_s", "status"), [(3.0, "ran-into-silence"), (4.0, "not-dubbed")])
def test_a_line_longer_than_its_shot_offers_fewer_words_and_a_longer_shot_that_fits(free_s, status):
    advice = _advice(_cue(free_s, status=status))
    assert f"{round((free_s / 2.0 - 1) * 100)} % longer than the shot" in advice["summary"]["en"]
    assert advice["actions"][0]["kind"] == "edit-text" and "Shorten it by about" in advice["actions"][0]["en"]
    for action in advice["actions"][1:]:
        start, end = action["edit"].get("start_s", 4.0), action["edit"]["end_s"]
        assert start >= 3.0 and end <= 9.0 and end - start >= RATIO_MIN * free_s - 1e-6  # fits its neighbours, and the line fits it
    assert advice["level"] == ("warn" if status == "ran-into-silence" else "bad") and advice["needs_attention"]


def test_every_summary_and_action_is_in_english_and_chinese():
    for cue in (_cue(2.0), _cue(1.2, status="short-of-shot"), _cue(3.0, status="ran-into-silence"), _cue(2.0, status="kept-original"),
                {**_cue(2.0), "free_duration_s": None, "status": "not-dubbed", "warnings": ["not dubbed: the engine failed"]}):
        advice = _advice(cue)
        assert advice["summary"]["en"] and advice["summary"]["zh"]
        assert all(action["en"] and action["zh"] for action in advice["actions"])
    assert "the engine failed" in _advice({**_cue(2.0), "free_duration_s": None, "status": "not-dubbed",
                                           "warnings": ["not dubbed: the engine failed"]})["summary"]["en"]


@pytest.mark.parametrize(("extra", "missed"), [
    ({"naturalness": 4.1, "speaker_similarity": 0.9, "intelligibility": {"wer": 0.0, "passed": True, "heard": "x"}}, set()),
    ({"naturalness": HUMAN_LIKE_MOS - 0.5}, {"naturalness"}),
    ({"speaker_similarity": 0.1}, {"similarity"}),
    ({"intelligibility": {"wer": 0.6, "passed": False, "heard": "y"}}, {"words"}),
])
def test_a_line_that_misses_a_badge_is_flagged(extra, missed):
    advice = _advice(_cue(2.0, **extra))
    assert {badge["name"] for badge in advice["badges"]} == {"words", "naturalness", "similarity"}
    assert {badge["name"] for badge in advice["badges"] if badge["ok"] is False} == missed
    assert advice["needs_attention"] == bool(missed)


# -- progress in words, consent, the plot --------------------------------------------------------------------
@pytest.mark.parametrize("step", sorted(STEP_WORDS))
def test_every_step_has_words_in_both_languages(step):
    assert step in STEP_WORDS_ZH and step_words(step) != step and step_words(step, language="zh") != step


def test_counted_steps_say_how_far_they_are():
    assert step_words("read faces", 38, 60) == "Reading the faces (38 of 60)"
    assert step_words("voice profile", 3, 100) == "Matching the voice"  # a search step: its total counts no things


@pytest.mark.parametrize("consent", [None, "", "   ", "\n"])
def test_no_consent_is_refused_with_an_example(consent):
    with pytest.raises(InputError, match="consent is required") as refused:
        require_consent(consent)
    assert CONSENT_EXAMPLE in str(refused.value) and "\n" not in str(refused.value)


def test_consent_is_kept_as_stated():
    assert require_consent("  my own voice ") == "my own voice"


@pytest.mark.parametrize(("vector", "expected"), [({"sad": 0.6}, {"sad": 0.6}), ({"sad": 0.5, "calm": 0.25}, {"sad": 0.5, "calm": 0.25}),
                                                  ({"happy": 1.5, "calm": 0.5}, {"happy": 0.75, "calm": 0.25}), ({}, {})])
def test_bars_show_the_applied_intensity(vector, expected):
    heights = bar_heights(vector)
    assert {name: round(value, 6) for name, value in heights.items() if value} == expected and sum(heights.values()) <= 1 + 1e-9
