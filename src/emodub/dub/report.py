"""What a dub did, cue by cue: the report written beside the outputs and read by the CLI, the studio and batch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emodub import __version__
from emodub.audio import Audio
from emodub.dub.mix import loudness_lufs
from emodub.dub.render import RenderedCue
from emodub.emotion.describe import describe_en, describe_zh
from emodub.emotion.space import EmotionVector
from emodub.licences import synthesis_models
from emodub.naturalness import default_judge
from emodub.subtitles import Cue
from emodub.voice import speaker_similarity

if TYPE_CHECKING:
    from emodub.dub.session import DubSession


@dataclass
class PartResult:
    """One part of a cue: who said it, in which voice and delivery, and how it landed."""

    text: str
    speaker: str | None
    voice: str  # the file, or "cloned from the video: SPEAKER_n"
    emotion_source: str
    emotion_vector: dict[str, float] | None = None
    qualities: dict[str, float] | None = None
    offset_s: float | None = None  # start within the cue
    duration_s: float | None = None
    speaker_similarity: float | None = None
    intelligibility: dict[str, Any] | None = None
    naturalness: float | None = None  # MOS 1–5 by the naturalness judge (emodub.naturalness)


@dataclass
class CueResult:
    """One cue in the report: what was detected, what was used, and how well it landed."""

    index: int
    text: str
    start_s: float
    end_s: float
    status: str  # dubbed | short-of-shot | ran-into-silence | not-dubbed | kept-original
    detected: dict[str, Any] | None = None
    emotion_vector: dict[str, float] | None = None
    emotion_source: str = "detected"
    description: dict[str, str] | None = None
    free_duration_s: float | None = None
    ratio_needed: float | None = None
    ratio_used: float | None = None
    target_duration_s: float | None = None
    measured_duration_s: float | None = None
    duration_error_ms: float | None = None
    start_error_ms: float | None = None
    gain_db: float | None = None
    speaker_similarity: float | None = None
    intelligibility: dict[str, Any] | None = None  # the ear on the line as placed: recogniser, heard, wer | cer, threshold, passed
    naturalness: float | None = None  # MOS 1–5 of the new line by the naturalness judge, its parts scored in one call
    verification_rounds: int | None = None
    speakers: list[str | None] = field(default_factory=list)
    parts: list[PartResult] = field(default_factory=list)
    not_spoken: list[str] = field(default_factory=list)  # sound annotations and lyrics of the script
    warnings: list[str] = field(default_factory=list)


@dataclass
class DubReport:
    video: str
    script: str
    voices: dict[str, str]  # speaker ► reference file ("*": everyone else)
    output: str
    cues: list[CueResult]
    timings_s: dict[str, float]
    consent: str | None
    warnings: list[str]
    provenance: dict[str, str]
    script_format: str = "SRT"
    script_encoding: str = "utf-8"
    audio_layout: dict[str, Any] = field(default_factory=dict)  # layout, channels, dialogue channels, codec
    cast: dict[str, Any] | None = None  # speakers found in the video, when some voice was cloned from it
    watermark: dict[str, Any] = field(default_factory=dict)  # applied to every new line (method), or why not
    models: list[dict[str, Any]] = field(default_factory=list)  # every model that made or judged the dub, with licence and terms
    voice_sha256: dict[str, str] = field(default_factory=dict)  # each voice reference the consent is for
    excluded_for_commercial_use: list[dict[str, Any]] = field(default_factory=list)  # --commercial: the models left out
    emodub_version: str = __version__

    def to_dict(self) -> dict:
        return asdict(self)


def cue_result(number: int, cue: Cue, detected: tuple[EmotionVector | None, float, dict[str, Any]], plans: list, synth: RenderedCue | None,
                failure: str | None, voice_files: dict[str, Path], references: dict[str, Audio], dialogue: Audio) -> CueResult:
    """The report's record of one cue; the line's gain (loudness match, peak kept below −1 dBFS) is set here."""
    vector, _, detected_record = detected
    first = plans[0] if plans else None
    chosen = first[2] if first else None
    record = CueResult(cue.index, cue.text, cue.start_s, cue.end_s, "not-dubbed", detected_record,
                       None if chosen is None else chosen.to_dict(), first[4] if first else "detected",
                       None if chosen is None else {"en": describe_en(chosen), "zh": describe_zh(chosen)},
                       speakers=[p[0].speaker for p in plans], not_spoken=list(cue.not_spoken), warnings=list(cue.warnings))
    for part, key, part_vector, qualities, source in plans:
        voice = str(voice_files[key]) + (f" (cloned from the video: {key.removeprefix('cast:')})" if key.startswith("cast:") else "")
        record.parts.append(PartResult(part.text, part.speaker, voice, source, None if part_vector is None else part_vector.to_dict(),
                                       {k: v for k, v in vars(qualities).items() if v} or None))
    if not cue.parts:
        record.status = "kept-original"
        return record
    if synth is None:
        record.warnings.append(f"not dubbed: {failure or 'synthesis failed'}")
        return record
    record.status, record.free_duration_s = synth.status, round(synth.free_s, 4)
    record.ratio_needed = round(synth.ratio_needed, 4)
    record.ratio_used = None if synth.ratio_used is None else round(synth.ratio_used, 4)
    record.warnings += synth.warnings
    record.verification_rounds = synth.rounds
    if synth.audio is None:
        return record
    offset = 0.0
    naturalness = synth.naturalness
    if len(naturalness) != len(synth.part_audio):  # not verified here (a regenerated take): score the parts in one call
        judge = default_judge()
        naturalness = judge.score_many(synth.part_audio) if judge is not None else [None] * len(synth.part_audio)
    for part_record, (_, key, *_), audio, heard, score in zip(record.parts, plans, synth.part_audio, synth.intelligibility, naturalness):
        part_record.offset_s, part_record.duration_s = round(offset, 6), round(audio.duration_s, 6)
        part_record.speaker_similarity = round(speaker_similarity(audio, references[key]), 4)
        part_record.intelligibility = heard
        part_record.naturalness = round(float(score), 3) if score is not None and np.isfinite(score) else None
        offset += audio.duration_s
    record.intelligibility = joined_intelligibility(synth.intelligibility)
    record.speaker_similarity = round(float(np.mean([p.speaker_similarity for p in record.parts])), 4)
    scored = [p.naturalness for p in record.parts if p.naturalness is not None]
    record.naturalness = round(float(np.mean(scored)), 3) if scored else None
    rate = dialogue.sample_rate_hz
    original = Audio(dialogue.samples[int(cue.start_s * rate):int(cue.end_s * rate)], rate)
    target_lufs, new_lufs = loudness_lufs(original), loudness_lufs(synth.audio)
    gain = 0.0 if target_lufs is None or new_lufs is None else target_lufs - new_lufs
    peak = synth.audio.peak * 10 ** (gain / 20)
    if peak > 0.9:
        record.warnings.append(f"gain lowered by {20 * np.log10(peak / 0.9):.1f} dB to keep the line's peak below −1 dBFS")
        gain -= 20 * np.log10(peak / 0.9)
    if target_lufs is None:
        record.warnings.append("original dialogue too short or quiet to measure its loudness; the line keeps its own level")
    record.gain_db = round(gain, 2)
    record.target_duration_s = round(synth.target_s, 6) if synth.target_s else None
    record.measured_duration_s = round(synth.audio.duration_s, 6)
    if synth.target_s:
        record.duration_error_ms = round((synth.audio.duration_s - synth.target_s) * 1000, 4)
    start_sample = int(round(cue.start_s * rate))
    record.start_error_ms = round((start_sample / rate - cue.start_s) * 1000, 4)
    return record


def joined_intelligibility(parts: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """One part: its record.  Several: what was heard joined, the worst error, passed only if every part passed."""
    heard = [p for p in parts if p is not None]
    if not heard:
        return None
    if len(parts) == 1:
        return heard[0]
    metric = next(k for k in ("wer", "cer") if k in heard[0])
    return {"recogniser": heard[0]["recogniser"], "heard": " ".join(p["heard"] for p in heard),
            metric: max(p.get(metric, p.get("wer", p.get("cer", 0.0))) for p in heard), "threshold": heard[0]["threshold"],
            "passed": all(p["passed"] for p in heard) and len(heard) == len(parts)}


def models_of(session: DubSession) -> list[str]:
    """The models (keys of :data:`emodub.licences.MODELS`) that made or judged this dub."""
    options = session.options
    described = bool(options.emotion_text) or any(d.emotion_text for d in [*options.speaker_emotions.values(), *options.cue_emotions.values()])
    lines = synthesis_models([b for synth in session.results.values() for b in synth.base_voices], reads_descriptions=described)
    faces = [] if options.commercial else ["haar", "fer"]
    return [*lines, "silero-vad", *faces]  # GE2E (in the lines' models) also finds the cast when it ran
