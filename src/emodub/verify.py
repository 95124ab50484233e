"""Independent checks of a synthesis, and the regenerate loop that retries when one misses.

The judge does not read what the engine applied: it measures the output.

- length: |measured − target| in ms (controlled mode only);
- speaker similarity: GE2E cosine of output and reference (resemblyzer's shipped weights);
- emotion: the output's emotion as the acoustic SER hears it against the speaker's own
  reference as baseline — or, given ``judge``, as a trained emotion encoder hears it (its GRL
  keeps the voice out of the reading) — compared with the requested vector: arousal sign
  (pass/fail) and the dominant emotion (reported);
- intelligibility: what the ear (:mod:`emodub.ear`: Whisper base, English and Mandarin)
  hears, scored as WER (English) or CER (Mandarin) against the line;
- naturalness: how much the output sounds like a person, as the naturalness judge
  (:mod:`emodub.naturalness`: DistillMOS) scores it, 1–5; a pass mark only when ``min_naturalness`` is set.

Intelligibility comes first: a round whose words miss never beats one whose words pass,
whatever its similarity.  :func:`synthesize_verified` retries a missed check with an
adjustment — emotion missed: intensity × 1.25; words missed: emotion and voice qualities
× 0.8 (strong renderings cost words first); similarity missed: intensity × 0.8; a new seed
every round — up to ``max_rounds``, keeps the best round and records every round.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emodub.audio import Audio
from emodub.ear import Ear, judge_intelligibility
from emodub.emotion.speech import MIN_SPEECH_S, AcousticSER, Baseline, SpeechEmotionModel
from emodub.engines.base import Engine, Synthesis, SynthesisRequest
from emodub.errors import InputError
from emodub.naturalness import NaturalnessJudge, default_judge
from emodub.progress import Progress
from emodub.voice import speaker_similarity


@dataclass(frozen=True)
class Thresholds:
    """Pass marks of the checks (documented in docs/cli.md; set in the job's ``verify:``)."""

    max_duration_error_ms: float = 1.0
    min_speaker_similarity: float = 0.5  # GE2E; cloned lines from real references measure 0.65–0.82 (bench/intelligibility.py)
    max_word_error_rate: float = 0.25  # English, by the ear (bench/intelligibility.py)
    max_character_error_rate: float = 0.2  # Mandarin, by the ear
    require_arousal_match: bool = True
    min_naturalness: float | None = None  # MOS 1–5 by the naturalness judge; None: measured and reported, no pass mark

    def __post_init__(self) -> None:
        if self.min_naturalness is not None and not (isinstance(self.min_naturalness, (int, float)) and 1 <= self.min_naturalness <= 5):
            raise InputError(f"verify threshold min_naturalness {self.min_naturalness!r} must be a MOS between 1 and 5")
        for name in ("max_duration_error_ms", "min_speaker_similarity", "max_word_error_rate", "max_character_error_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or np.isnan(value) or value < 0:
                raise InputError(f"verify threshold {name} {value!r} must be a number ≥ 0")
        for name in ("min_speaker_similarity", "max_word_error_rate", "max_character_error_rate"):
            if getattr(self, name) > 1:
                raise InputError(f"verify threshold {name} {getattr(self, name)!r} must be ≤ 1")

    def max_error_rate(self, language: str) -> float:
        return self.max_character_error_rate if language == "zh" else self.max_word_error_rate


@dataclass
class Check:
    name: str
    value: float | str | None
    threshold: float | str | None
    passed: bool | None  # None: not measured
    detail: str = ""


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)
    intelligibility: dict | None = None  # the ear's full reading (the report's ``intelligibility``)

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.passed is False]

    def value(self, name: str) -> Any:
        return next((c.value for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "checks": [dataclasses.asdict(c) for c in self.checks], "intelligibility": self.intelligibility}


def verify(synthesis: Synthesis, request: SynthesisRequest, thresholds: Thresholds = Thresholds(),
           baseline: Baseline | None = None, judge: SpeechEmotionModel | None = None, ear: Ear | None = None,
           naturalness_judge: NaturalnessJudge | None = None) -> Verification:
    """Measure ``synthesis`` against ``request`` (see the module docstring).

    ``baseline``: the reference speaker's cues, when the caller already measured them.
    ``judge``: the emotion reader to use instead of the acoustic SER (e.g. ``train.EncoderSER``).
    ``ear``: the recogniser (default: :func:`emodub.ear.default_ear`).
    ``naturalness_judge``: the MOS predictor (default: :func:`emodub.naturalness.default_judge`).
    """
    audio, result = synthesis.audio, Verification()
    language = request.resolved_language
    hearing = judge_intelligibility(audio, request.text, language, threshold=thresholds.max_error_rate(language), ear=ear)
    if hearing is None:
        result.checks.append(Check("intelligibility", None, None, None, f"not measured: no installed recogniser hears {language!r}"))
    else:
        result.intelligibility = hearing.to_dict()
        result.checks.append(Check("intelligibility", hearing.error, hearing.threshold, hearing.passed,
                                   f"{hearing.metric} by {hearing.recogniser}; heard: {hearing.heard!r}"))
    if request.duration.mode == "controlled":
        error_ms = abs(audio.duration_s - synthesis.target_duration_s) * 1000
        result.checks.append(Check("length_error_ms", round(error_ms, 4), thresholds.max_duration_error_ms,
                                   error_ms <= thresholds.max_duration_error_ms))
    else:
        result.checks.append(Check("length_error_ms", None, None, None, "free mode: no target length"))

    result.checks.append(naturalness_check(audio, thresholds.min_naturalness, naturalness_judge or default_judge()))
    similarity = speaker_similarity(audio, request.speaker_reference)
    result.checks.append(Check("speaker_similarity", round(similarity, 4), thresholds.min_speaker_similarity,
                               similarity >= thresholds.min_speaker_similarity))

    target = request.emotion
    if target is None or target.is_zero or audio.duration_s < MIN_SPEECH_S:
        why = "no emotion vector was requested" if target is None or target.is_zero else "output too short to judge"
        result.checks.append(Check("emotion_arousal", None, None, None, why))
    else:
        judge = judge or AcousticSER(baseline or Baseline.from_speech(request.speaker_reference))
        heard = judge.predict(audio)
        wanted_arousal = target.arousal_valence()[0]
        heard_arousal = heard.vector.arousal_valence()[0]
        agree = np.sign(wanted_arousal) == np.sign(heard_arousal) or abs(wanted_arousal) < 0.1
        result.checks.append(Check(
            "emotion_arousal", round(heard_arousal, 3), f"same sign as {wanted_arousal:+.2f}",
            bool(agree) if thresholds.require_arousal_match else None,
            f"heard {heard.vector.dominant()} (asked {target.dominant()}); {'; '.join(heard.evidence)}"))
        result.checks.append(Check("emotion_dominant", heard.vector.dominant(), target.dominant(), None,
                                   f"reported only (judge: {heard.model}); the acoustic judge's top-1 accuracy is ~0.5 "
                                   "(bench/recognition.py)"))

    return result


def naturalness_check(audio: Audio, minimum: float | None, judge: NaturalnessJudge | None) -> Check:
    """The judge's MOS of ``audio`` as a check (passed None without a pass mark, value None without a judge)."""
    if judge is None:
        return Check("naturalness", None, minimum, None, "not measured: no naturalness judge is installed (distillmos)")
    score = judge.score_many([audio])[0]
    if not np.isfinite(score):
        return Check("naturalness", None, minimum, None, "not measured: the output is too short or silent")
    return Check("naturalness", round(score, 3), minimum, None if minimum is None else score >= minimum,
                 f"MOS 1–5 by {judge.name}; real people score 3.7–4.4, espeak-ng 1.9–2.5 (bench/naturalness.py)")


def _score(verification: Verification) -> tuple[bool, int, float, float]:
    """Rounds compare words first (a passing ear beats any similarity), then misses, then error, then similarity."""
    similarity = verification.value("speaker_similarity")
    error = verification.value("intelligibility")
    return ("intelligibility" not in verification.failed, -len(verification.failed),
            -error if isinstance(error, float) else 0.0, similarity if isinstance(similarity, float) else 0.0)


def _adjusted(request: SynthesisRequest, failed: list[str]) -> tuple[SynthesisRequest, str]:
    """The next round's request: a new seed, and the emotion strengthened or eased for what missed."""
    changes: dict[str, Any] = {"seed": request.seed + 1}
    notes = [f"seed {request.seed + 1}"]
    emotion = request.emotion
    if "intelligibility" in failed:  # words first: ease whatever strains them
        if emotion is not None and not emotion.is_zero:
            changes["emotion"], notes = emotion.scaled(0.8), [*notes, "emotion intensity × 0.80 (words missed)"]
        if request.qualities.any:
            changes["qualities"], notes = request.qualities.scaled(0.8), [*notes, "voice qualities × 0.80 (words missed)"]
    elif emotion is not None and "emotion_arousal" in failed and max(emotion.to_list()) < 0.99:
        factor = min(1.25, 1.0 / max(emotion.to_list()))  # stronger, every weight stays ≤ 1
        changes["emotion"], notes = emotion.scaled(factor), [*notes, f"emotion intensity × {factor:.2f}"]
    elif emotion is not None and "speaker_similarity" in failed:
        changes["emotion"], notes = emotion.scaled(0.8), [*notes, "emotion intensity × 0.80"]
    return dataclasses.replace(request, **changes), ", ".join(notes)


def synthesize_verified(engine: Engine, request: SynthesisRequest, *, thresholds: Thresholds = Thresholds(),
                        max_rounds: int = 3, hook: Progress | None = None, judge: SpeechEmotionModel | None = None,
                        ear: Ear | None = None) -> tuple[Synthesis, Verification, list[dict]]:
    """Synthesise, verify, and retry missed checks up to ``max_rounds``; the best round wins."""
    if not isinstance(max_rounds, int) or max_rounds < 1:
        raise InputError(f"max_rounds {max_rounds!r} is not allowed; it must be an integer ≥ 1")
    rounds: list[dict] = []
    best: tuple[Synthesis, Verification] | None = None
    current, note = request, "as requested"
    baseline = None
    for index in range(max_rounds):
        if hook is not None:
            hook("verify", index, max_rounds)
        synthesis = engine.synthesize(current)
        if judge is None and baseline is None and current.emotion is not None and not current.emotion.is_zero:
            baseline = Baseline.from_speech(current.speaker_reference)  # the reference does not change between rounds
        verification = verify(synthesis, current, thresholds, baseline, judge, ear)
        rounds.append({"round": index + 1, "change": note, "emotion": None if current.emotion is None else current.emotion.to_dict(),
                       "qualities": current.qualities.to_dict(), "seed": current.seed, **verification.to_dict()})
        if best is None or _score(verification) > _score(best[1]):
            best = (synthesis, verification)
            rounds[-1]["kept"] = True
            for earlier in rounds[:-1]:
                earlier["kept"] = False
        else:
            rounds[-1]["kept"] = False
        if verification.passed or verification.failed == ["length_error_ms"]:  # length does not change on retry
            break
        current, note = _adjusted(current, verification.failed)
    assert best is not None  # max_rounds ≥ 1
    return best[0], best[1], rounds
