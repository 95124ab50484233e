"""The independent judge and the regenerate loop."""

import json

import pytest

from emodub.emotion.space import EmotionVector
from emodub.engines.base import SynthesisRequest, get_engine
from emodub.errors import InputError
from emodub.timing import DurationPlan
from emodub.verify import Thresholds, synthesize_verified, verify, word_error_rate
from test_cli import SEED, emodub

TEXT = "Please open the door and let the dog out."


def request(reference, **kwargs):
    kwargs.setdefault("base_voice", "flite-slt")
    return SynthesisRequest(text=TEXT, speaker_reference=reference, **kwargs)


@pytest.mark.parametrize("truth, heard, wer", [
    ("a b c", "a b c", 0.0), ("a b c", "a c", 1 / 3), ("a b", "a x b y", 1.0), ("a b c d", "", 1.0),
])
def test_word_error_rate(truth, heard, wer):
    assert word_error_rate(truth.split(), heard.split()) == pytest.approx(wer)


def test_a_good_output_passes_every_check(reference):
    req = request(reference, emotion=EmotionVector.preset("angry", 0.8), duration=DurationPlan("controlled", target_duration_s=2.5))
    result = verify(get_engine("builtin").synthesize(req), req)
    names = {c.name: c for c in result.checks}
    assert result.passed, result.to_dict()
    assert names["length_error_ms"].value <= 1.0
    assert names["word_error_rate"].value <= 0.35
    assert names["emotion_arousal"].value > 0  # angry is heard as aroused


def test_chinese_intelligibility_is_not_measured(reference):
    req = SynthesisRequest(text="你怎么敢这样对我", speaker_reference=reference)
    checks = {c.name: c for c in verify(get_engine("builtin").synthesize(req), req).checks}
    assert checks["word_error_rate"].passed is None and "not measured" in checks["word_error_rate"].detail


def test_a_missed_check_is_retried_and_the_best_round_kept(reference):
    req = request(reference, emotion=EmotionVector.preset("angry", 0.6), seed=5)
    _, verification, rounds = synthesize_verified(get_engine("builtin"), req, thresholds=Thresholds(min_speaker_similarity=0.999),
                                                  max_rounds=3)
    assert len(rounds) == 3 and not verification.passed and verification.failed == ["speaker_similarity"]
    assert [r["seed"] for r in rounds] == [5, 6, 7]
    assert rounds[1]["emotion"] != rounds[0]["emotion"] and "intensity" in rounds[1]["change"]
    assert sum(r["kept"] for r in rounds) == 1
    kept = next(r for r in rounds if r["kept"])
    best = max(next(c["value"] for c in r["checks"] if c["name"] == "speaker_similarity") for r in rounds)
    assert next(c["value"] for c in kept["checks"] if c["name"] == "speaker_similarity") == best


@pytest.mark.parametrize("kwargs, match", [
    ({"min_speaker_similarity": 1.5}, "must be ≤ 1"),
    ({"max_word_error_rate": -0.1}, "must be a number ≥ 0"),
])
def test_bad_thresholds(kwargs, match):
    with pytest.raises(InputError, match=match):
        Thresholds(**kwargs)


def test_report_records_the_rounds(tmp_path):
    out, report = tmp_path / "seed.wav", tmp_path / "seed.json"
    assert emodub("run", SEED, "-o", out, "--report", report).returncode == 0
    data = json.loads(report.read_text())
    assert data["verification"]["rounds"] and {"passed", "checks"} <= set(data["verification"])


def test_job_verify_keys_are_checked(tmp_path, reference_path):
    job = tmp_path / "job.yaml"
    job.write_text(f"text: Hello there.\nspeaker_reference: {reference_path}\nverify:\n  max_rounds: 0\n")
    proc = emodub("run", job, "-o", tmp_path / "o.wav")
    assert proc.returncode == 2 and "verify.max_rounds" in proc.stderr
