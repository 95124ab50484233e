"""The independent judge (the ear first) and the regenerate loop."""

import dataclasses
import json

import numpy as np
import pytest

from emodub.audio import Audio
from emodub.emotion.space import EmotionVector, VoiceQualities
from emodub.engines.base import Synthesis, SynthesisRequest, get_engine
from emodub.errors import InputError
from emodub.job import VerifyConfig
from emodub.timing import DurationPlan
from emodub.verify import Thresholds, synthesize_verified, verify
from test_cli import SEED, emodub

TEXT = "Please open the door and let the dog out."


def request(reference, **kwargs):
    kwargs.setdefault("base_voice", "flite-slt")
    return SynthesisRequest(text=TEXT, speaker_reference=reference, **kwargs)


def test_a_good_output_passes_every_check(reference):
    req = request(reference, emotion=EmotionVector.preset("angry", 0.8), duration=DurationPlan("controlled", target_duration_s=2.5))
    result = verify(get_engine("builtin").synthesize(req), req)
    names = {c.name: c for c in result.checks}
    assert result.passed, result.to_dict()
    assert names["length_error_ms"].value <= 1.0
    assert names["intelligibility"].value <= Thresholds().max_word_error_rate
    assert result.intelligibility["recogniser"].startswith("whisper") and "wer" in result.intelligibility
    assert names["emotion_arousal"].value > 0  # angry is heard as aroused


def test_mandarin_is_heard_and_scored_by_characters(reference):
    req = SynthesisRequest(text="你怎么敢这样对我", speaker_reference=reference)
    result = verify(get_engine("builtin").synthesize(req), req)
    heard = result.intelligibility
    assert heard is not None and "cer" in heard and heard["threshold"] == Thresholds().max_character_error_rate
    assert heard["passed"], heard


class _Garbling:
    """The real engine, whose first round's words are replaced by noise of the same length (a deliberately garbled output)."""

    name = "builtin"

    def __init__(self) -> None:
        self.engine, self.calls = get_engine("builtin"), 0

    def synthesize(self, req: SynthesisRequest) -> Synthesis:
        self.calls += 1
        result = self.engine.synthesize(req)
        if self.calls > 1:
            return result
        noise = np.random.default_rng(0).normal(0, 0.1, len(result.audio.samples)).astype(np.float32)
        return dataclasses.replace(result, audio=Audio(noise, result.audio.sample_rate_hz))


def test_a_garbled_output_fails_the_ear_and_is_retried_with_an_easier_delivery(reference):
    engine = _Garbling()
    req = request(reference, emotion=EmotionVector.preset("sad", 0.8), qualities=VoiceQualities(whisper=0.5))
    _, verification, rounds = synthesize_verified(engine, req, max_rounds=3)
    first = next(c for c in rounds[0]["checks"] if c["name"] == "intelligibility")
    assert first["passed"] is False and first["value"] > 0.5
    assert len(rounds) >= 2 and "words missed" in rounds[1]["change"]
    assert rounds[1]["emotion"]["sad"] == pytest.approx(0.64) and rounds[1]["qualities"]["whisper"] == pytest.approx(0.4)
    assert not rounds[0]["kept"] and verification.intelligibility["passed"]


def test_a_missed_check_is_retried_and_the_best_round_kept(reference):
    req = request(reference, emotion=EmotionVector.preset("angry", 0.6), seed=5)
    _, verification, rounds = synthesize_verified(get_engine("builtin"), req, thresholds=Thresholds(min_speaker_similarity=0.999),
                                                  max_rounds=3)
    assert len(rounds) == 3 and not verification.passed and verification.failed == ["speaker_similarity"]
    assert [r["seed"] for r in rounds] == [5, 6, 7]
    assert rounds[1]["emotion"] != rounds[0]["emotion"] and "intensity" in rounds[1]["change"]
    assert sum(r["kept"] for r in rounds) == 1

    def rank(row: dict) -> tuple:  # words first, then the fewest misses, the lowest error, the highest similarity
        checks = {c["name"]: c for c in row["checks"]}
        return (checks["intelligibility"]["passed"], -sum(c["passed"] is False for c in row["checks"]),
                -checks["intelligibility"]["value"], checks["speaker_similarity"]["value"])

    assert next(r for r in rounds if r["kept"]) is max(rounds, key=rank)


@pytest.mark.parametrize("kwargs, match", [
    ({"min_speaker_similarity": 1.5}, "must be ≤ 1"),
    ({"max_word_error_rate": -0.1}, "must be a number ≥ 0"),
    ({"max_character_error_rate": 1.2}, "max_character_error_rate 1.2 must be ≤ 1"),
])
def test_bad_thresholds(kwargs, match):
    with pytest.raises(InputError, match=match):
        Thresholds(**kwargs)


def test_job_defaults_are_the_judges_defaults():
    config = VerifyConfig().model_dump()
    for field in dataclasses.fields(Thresholds):
        assert config[field.name] == getattr(Thresholds(), field.name), field.name


def test_report_records_the_rounds_and_what_the_ear_heard(tmp_path):
    out, report = tmp_path / "seed.wav", tmp_path / "seed.json"
    proc = emodub("run", SEED, "-o", out, "--report", report)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert data["verification"]["rounds"] and {"passed", "checks"} <= set(data["verification"])
    heard = data["intelligibility"]
    assert {"recogniser", "heard", "cer", "threshold", "passed"} <= set(heard)
    assert heard["cer"] == 0.0, heard  # the seed's Mandarin line is transcribed exactly
    assert "Mandarin voice zh-baker" in " ".join(data["warnings"])


def test_job_verify_keys_are_checked(tmp_path, reference_path):
    job = tmp_path / "job.yaml"
    job.write_text(f"text: Hello there.\nspeaker_reference: {reference_path}\nverify:\n  max_rounds: 0\n")
    proc = emodub("run", job, "-o", tmp_path / "o.wav")
    assert proc.returncode == 2 and "verify.max_rounds" in proc.stderr
