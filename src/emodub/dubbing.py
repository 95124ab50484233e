"""Video in, dubbed video out: the end-to-end emotion-transfer pipeline behind ``emodub dub``.

Per SRT cue: the original performance over the cue is read (face + voice, :mod:`emodub.emotion.analysis`)
and is also the emotion reference whose prosody the new line takes (the dual-audio path); the
new line is synthesised in the cloned voice at the cue's length, then laid into the original
track at the cue's start, to the sample, with the old dialogue ducked under it, and muxed back
without re-encoding the video.

Sync policy when the line cannot fill its shot within the allowed ratio 0.75–1.25 of its
natural length (never a silent clip):

- too short for the shot (needs > 1.25): spoken at 1.25 and the rest of the shot stays quiet;
- too long (needs < 0.75): spoken at 0.75 and allowed to run into the silence before the next
  cue (or the end of the video) when it fits there; otherwise the cue is *not dubbed*, the
  original audio stays, and the report asks for the line to be rewritten, naming the ratio.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emodub import __version__, media
from emodub.audio import Audio, Provenance, atomic_output, check_reference, load_audio, save_audio, utc_now
from emodub.emotion.analysis import read_faces, read_segment
from emodub.emotion.describe import describe_en, describe_zh
from emodub.emotion.space import EmotionVector, VoiceQualities, fuse
from emodub.emotion.speech import AcousticSER, SpeechEmotionModel
from emodub.emotion.text import text_to_emotion
from emodub.engines.base import SynthesisRequest, get_engine
from emodub.engines.builtin import timbre
from emodub.errors import EmodubError, InputError
from emodub.script import Cue, read_script, write_srt
from emodub.threads import limit_threads
from emodub.timing import RATIO_MAX, RATIO_MIN, DurationPlan
from emodub.verify import Thresholds, synthesize_verified
from emodub.voice import speaker_similarity

Hook = Callable[[str, int, int], None]
ANALYSIS_RATE_HZ = 16000
DEFAULT_PROSODY_ALPHA = 0.7  # how much of the original delivery's contour the new line takes
MIN_LOUDNESS_S = 0.45  # BS.1770 gating needs at least one 400-ms block


@dataclass(frozen=True)
class DubOptions:
    """What the user asked for beyond the script and the voice."""

    emotion: EmotionVector | None = None  # --emotion / --emotion-vector
    emotion_text: str | None = None  # --emotion-text
    emotion_weight: float = 0.5  # share of the given emotion against the detected one
    original_prosody: bool = True  # use the original speech as the emotion reference
    base_voice: str | None = None
    frame_rate_hz: float = 5.0
    workers: int = 1
    duck_db: float = -20.0
    separator: str | None = None  # e.g. "demucs": replace the old dialogue by the separated background
    consent: str | None = None
    seed: int = 0
    emotion_encoder: Path | None = None  # a train-encoders folder reads the original voice instead of the acoustic SER
    frame_match: float | None = None  # share of the envelope from the voice reference's own frames (None: searched)
    max_rounds: int = 3  # verification rounds per cue (the ear, length, similarity; 1 = no retry)

    def __post_init__(self) -> None:
        if not 0.0 <= self.emotion_weight <= 1.0:
            raise InputError(f"emotion weight {self.emotion_weight!r} is outside the allowed range 0..1")
        if not isinstance(self.max_rounds, int) or self.max_rounds < 1:
            raise InputError(f"max rounds {self.max_rounds!r} is not allowed; it must be an integer ≥ 1")
        if self.frame_match is not None and not 0.0 <= self.frame_match <= 1.0:
            raise InputError(f"frame match {self.frame_match!r} is outside the allowed range 0..1 "
                             "(0 = clearest, 1 = closest to the reference voice)")
        if self.workers < 1:
            raise InputError(f"workers {self.workers!r} is not allowed; it must be ≥ 1")
        if not self.frame_rate_hz > 0:
            raise InputError(f"frame rate {self.frame_rate_hz!r} is not allowed; it must be > 0 frames per second")
        if self.separator is not None:
            media.check_separator(self.separator)
        if self.emotion_encoder is not None:
            from emodub.train import load_encoders

            load_encoders(self.emotion_encoder)  # a bad folder fails here, before any work


@dataclass
class CueResult:
    """One cue in the report: what was detected, what was used, and how well it landed."""

    index: int
    text: str
    start_s: float
    end_s: float
    status: str  # dubbed | short-of-shot | ran-into-silence | not-dubbed
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
    verification_rounds: int | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class DubReport:
    video: str
    script: str
    voice: str
    output: str
    cues: list[CueResult]
    timings_s: dict[str, float]
    consent: str | None
    warnings: list[str]
    provenance: dict[str, str]
    emodub_version: str = __version__

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Job:
    """Everything a worker process needs to synthesise one cue (plain data, picklable)."""

    index: int
    text: str
    voice_samples: np.ndarray
    voice_rate_hz: int
    vector: EmotionVector | None
    qualities: VoiceQualities
    reference_samples: np.ndarray | None
    reference_rate_hz: int
    alpha: float
    span_s: float
    room_s: float
    base_voice: str | None
    seed: int
    frame_match: float | None
    max_rounds: int = 3


@dataclass
class _Synth:
    index: int
    audio: Audio | None
    status: str
    free_s: float
    ratio_needed: float
    ratio_used: float | None
    target_s: float | None
    warnings: list[str]
    intelligibility: dict[str, Any] | None = None
    rounds: int | None = None


DUB_THRESHOLDS = Thresholds(require_arousal_match=False)  # a cue's emotion comes from the original performance; words and length decide


def synthesize_cue(job: _Job) -> _Synth:
    """Free-length pass to learn the natural length, then the controlled pass the policy picks."""
    engine = get_engine("builtin")
    voice = Audio(job.voice_samples, job.voice_rate_hz)
    reference = None if job.reference_samples is None else Audio(job.reference_samples, job.reference_rate_hz)

    def request(plan: DurationPlan) -> SynthesisRequest:
        return SynthesisRequest(text=job.text, speaker_reference=voice, emotion=job.vector, qualities=job.qualities,
                                emotion_reference=reference, emotion_alpha=job.alpha if reference is not None else 1.0,
                                duration=plan, seed=job.seed, base_voice=job.base_voice, frame_match=job.frame_match)

    def verified(plan: DurationPlan, status: str, ratio: float, note: str | None = None) -> _Synth:
        """The controlled pass, heard by the ear and retried on a miss (see :mod:`emodub.verify`)."""
        result, checked, rounds = synthesize_verified(engine, request(plan), thresholds=DUB_THRESHOLDS, max_rounds=job.max_rounds)
        warnings = list(result.warnings)
        kept = next(r for r in rounds if r["kept"])
        if kept["round"] > 1:
            warnings.append(f"verification kept round {kept['round']} of {len(rounds)}: {kept['change']}")
        if not checked.passed:
            warnings.append(f"verification: {', '.join(checked.failed)} missed after {len(rounds)} round(s); the best round is kept")
        warnings += [note] if note else []
        return _Synth(job.index, result.audio, status, free.free_duration_s, needed, ratio, result.target_duration_s, warnings,
                      checked.intelligibility, len(rounds))

    free = engine.synthesize(request(DurationPlan("free")))
    needed = job.span_s / free.free_duration_s
    if RATIO_MIN <= needed <= RATIO_MAX:
        return verified(DurationPlan("controlled", target_duration_s=job.span_s), "dubbed", needed)
    if needed > RATIO_MAX:
        quiet = job.span_s - RATIO_MAX * free.free_duration_s
        return verified(DurationPlan("controlled", ratio=RATIO_MAX), "short-of-shot", RATIO_MAX,
                        f"the line is short for its shot: needs ratio {needed:.2f} (allowed {RATIO_MIN}–{RATIO_MAX}); "
                        f"spoken at {RATIO_MAX} and the last {quiet:.2f} s of the shot stay quiet")
    longest = RATIO_MIN * free.free_duration_s
    if longest <= job.room_s:
        return verified(DurationPlan("controlled", ratio=RATIO_MIN), "ran-into-silence", RATIO_MIN,
                        f"the line is long for its shot: needs ratio {needed:.2f} (allowed {RATIO_MIN}–{RATIO_MAX}); "
                        f"spoken at {RATIO_MIN}, it runs {longest - job.span_s:.2f} s into the following silence")
    return _Synth(job.index, None, "not-dubbed", free.free_duration_s, needed, None, None,
                  [f"not dubbed, rewrite the line: it needs ratio {needed:.2f} to fit {job.span_s:.2f} s (allowed {RATIO_MIN}–{RATIO_MAX}) "
                   f"and even at {RATIO_MIN} it takes {longest:.2f} s, more than the {job.room_s:.2f} s before the next cue"])


def _detect(cues: list[Cue], info: media.MediaInfo, track16: Audio, options: DubOptions, hook: Hook
            ) -> list[tuple[EmotionVector | None, float, dict[str, Any]]]:
    """Face + voice reading of the original performance over each cue (the same reading as ``analyze``)."""
    faces = read_faces(info, options.frame_rate_hz, hook)
    if options.emotion_encoder is not None:
        from emodub.train import EncoderSER

        ser: SpeechEmotionModel = EncoderSER(options.emotion_encoder)
    else:
        ser = AcousticSER()
    detected = []
    for number, cue in enumerate(cues):
        segment = read_segment(cue.start_s, cue.end_s, faces, track16, ser)
        if not faces.observations:
            segment.warnings.append("no face over this cue")
        record = segment.to_dict()
        record["evidence"] = (segment.face.evidence if segment.face else []) + (segment.voice.evidence if segment.voice else [])
        detected.append((segment.vector, segment.confidence, record))
        hook("read voices", number + 1, len(cues))
    return detected


def _given_emotion(options: DubOptions) -> tuple[EmotionVector | None, VoiceQualities, list[str]]:
    if options.emotion_text is None:
        return options.emotion, VoiceQualities(), []
    parsed = text_to_emotion(options.emotion_text)
    described = parsed.vector if parsed.names_emotion else None  # a delivery-only description adds qualities only
    vectors = [(v, 1.0) for v in (options.emotion, described) if v is not None]
    return (fuse(vectors) if vectors else None), parsed.qualities, list(parsed.warnings)


def _choose_emotion(cue: Cue, detected: EmotionVector | None, given: EmotionVector | None, qualities: VoiceQualities,
                    weight: float) -> tuple[EmotionVector | None, VoiceQualities, str]:
    """Cue tags win; then the given emotion fused with the detected one by ``weight``."""
    if cue.preset is not None or cue.description is not None:
        vector, tag_qualities = cue.preset, VoiceQualities()
        if cue.description is not None:
            parsed = text_to_emotion(cue.description)
            tag_qualities = parsed.qualities
            vector = parsed.vector if vector is None else fuse([(vector, 1.0), *([(parsed.vector, 1.0)] if parsed.vector else [])])
        return vector, tag_qualities, "cue tag"
    if given is None:
        return detected, qualities, "detected"
    if detected is None or weight == 1.0:
        return given, qualities, "given"
    return fuse([(given, weight), (detected, 1 - weight)]), qualities, f"given {weight:.2f} + detected {1 - weight:.2f}"


def _loudness(audio: Audio) -> float | None:
    if audio.duration_s < MIN_LOUDNESS_S:
        return None
    value = audio.loudness_lufs()
    return value if np.isfinite(value) else None


def _run_jobs(jobs: list[_Job], workers: int, notify: Hook) -> tuple[list[_Synth | None], dict[int, str]]:
    """Synthesise every cue, in a process pool when ``workers`` > 1; results in cue order, failures by index."""
    results: list[_Synth | None] = [None] * len(jobs)
    failures: dict[int, str] = {}

    def collect(index: int, run: Callable[[], _Synth], done: int) -> None:
        try:
            results[index] = run()
        except EmodubError as error:  # one failed line does not lose the others
            failures[index] = str(error)
        notify("synthesise", done, len(jobs))

    if workers == 1:
        for done, job in enumerate(jobs, 1):
            collect(job.index, lambda job=job: synthesize_cue(job), done)
        return results, failures
    # spawn, not fork: the workers' verification runs the GE2E encoder and the ear, and a forked child
    # that runs torch after its parent has can deadlock in the OpenMP pool.  Each worker sizes its
    # pools to one thread (emodub.threads); the parallelism is the processes.
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=limit_threads) as pool:
        futures = [(job.index, pool.submit(synthesize_cue, job)) for job in jobs]
        for done, (index, future) in enumerate(futures, 1):
            collect(index, future.result, done)
    return results, failures


def dub_video(video: str | Path, script: str | Path, voice: str | Path, output: str | Path, *,
              options: DubOptions = DubOptions(), report_path: str | Path | None = None, hook: Hook | None = None) -> DubReport:
    """Dub ``video`` with the lines of ``script`` in the voice of ``voice``; write MP4, WAV, SRT and report."""
    notify = hook or (lambda step, done, total: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    video, output = Path(video), Path(output)
    info = media.probe(video)
    if not info.has_video:
        raise InputError(f"video {str(video)!r} has no video stream; emodub dub needs a video (use 'emodub say' for audio)")
    if not info.has_audio:
        raise InputError(f"video {str(video)!r} has no audio stream; there is no original performance to dub over")
    cues = read_script(script, media_duration_s=info.duration_s)
    reference = load_audio(voice, what="voice reference")
    warnings = list(check_reference(reference, what="voice reference").warnings)
    if not options.consent:
        warnings.append("no consent statement was given for the cloned voice (use --consent); cloning a voice needs its owner's consent")
    given, given_qualities, text_warnings = _given_emotion(options)
    warnings += text_warnings
    track = media.extract_audio(info, sample_rate_hz=info.audio_rate_hz or 48000)
    track16 = track.resampled(ANALYSIS_RATE_HZ)
    timings["probe and decode"] = time.perf_counter() - started

    t0 = time.perf_counter()
    detected = _detect(cues, info, track16, options, notify)
    timings["recognise"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    for language in sorted({SynthesisRequest(text=c.text, speaker_reference=reference).resolved_language for c in cues}):
        timbre.load_or_build_profile(reference, language, base_voice=options.base_voice, frame_match=options.frame_match,
                                     progress=lambda done, total: notify("voice profile", done, total))
    jobs, plans = [], []
    for number, (cue, (vector, _, _)) in enumerate(zip(cues, detected)):
        chosen, qualities, source = _choose_emotion(cue, vector, given, given_qualities, options.emotion_weight)
        plans.append((chosen, source))
        original = Audio(track16.samples[int(cue.start_s * ANALYSIS_RATE_HZ):int(cue.end_s * ANALYSIS_RATE_HZ)], ANALYSIS_RATE_HZ)
        use_reference = options.original_prosody and cue.preset is None and cue.description is None and original.duration_s >= 0.5
        next_start = cues[number + 1].start_s if number + 1 < len(cues) else info.duration_s
        jobs.append(_Job(number, cue.text, reference.samples, reference.sample_rate_hz, chosen, qualities,
                         original.samples if use_reference else None, ANALYSIS_RATE_HZ, DEFAULT_PROSODY_ALPHA,
                         cue.span_s, next_start - cue.start_s, options.base_voice, options.seed, options.frame_match,
                         options.max_rounds))
    timings["voice profile"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    results, failures = _run_jobs(jobs, options.workers, notify)
    timings["synthesise"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cue_results, lines, gains = [], [], []
    for number, cue in enumerate(cues):
        chosen, source = plans[number]
        vector, confidence, detected_record = detected[number]
        record = CueResult(cue.index, cue.text, cue.start_s, cue.end_s, "not-dubbed", detected_record,
                           None if chosen is None else chosen.to_dict(), source,
                           None if chosen is None else {"en": describe_en(chosen), "zh": describe_zh(chosen)})
        synth = results[number]
        if synth is None:
            record.warnings.append(f"not dubbed: {failures.get(number, 'synthesis failed')}")
        else:
            record.status, record.free_duration_s = synth.status, round(synth.free_s, 4)
            record.ratio_needed = round(synth.ratio_needed, 4)
            record.ratio_used = None if synth.ratio_used is None else round(synth.ratio_used, 4)
            record.warnings += synth.warnings
            record.intelligibility, record.verification_rounds = synth.intelligibility, synth.rounds
        if synth is not None and synth.audio is not None:
            original = Audio(track.samples[int(cue.start_s * track.sample_rate_hz):int(cue.end_s * track.sample_rate_hz)],
                             track.sample_rate_hz)
            target_lufs, new_lufs = _loudness(original), _loudness(synth.audio)
            gain = 0.0 if target_lufs is None or new_lufs is None else target_lufs - new_lufs
            peak = synth.audio.peak * 10 ** (gain / 20)
            if peak > 0.9:
                record.warnings.append(f"gain lowered by {20 * np.log10(peak / 0.9):.1f} dB to keep the line's peak below −1 dBFS")
                gain -= 20 * np.log10(peak / 0.9)
            if target_lufs is None:
                record.warnings.append("original dialogue too short or quiet to measure its loudness; the line keeps its own level")
            lines.append((cue.start_s, synth.audio))
            gains.append(gain)
            record.gain_db = round(gain, 2)
            record.target_duration_s = round(synth.target_s, 6) if synth.target_s else None
            record.measured_duration_s = round(synth.audio.duration_s, 6)
            if synth.target_s:
                record.duration_error_ms = round((synth.audio.duration_s - synth.target_s) * 1000, 4)
            start_sample = int(round(cue.start_s * track.sample_rate_hz))
            record.start_error_ms = round((start_sample / track.sample_rate_hz - cue.start_s) * 1000, 4)
            record.speaker_similarity = round(speaker_similarity(synth.audio, reference), 4)
        cue_results.append(record)
    background = None
    if options.separator is not None:
        notify("separate", 0, 1)
        background = media.separate_background(track, options.separator)
    dubbed = media.place_lines(track, lines, duck_db=options.duck_db, gains_db=gains, background=background)
    timings["mix"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    provenance = Provenance(engine="builtin", version=__version__, created_utc=utc_now())
    _, wav_path, srt_path, default_report = output_paths(output)
    report_path = Path(report_path) if report_path is not None else default_report
    save_audio(dubbed, wav_path, provenance=provenance)
    with atomic_output(output) as tmp:
        media.mux(video, wav_path, tmp, metadata=provenance.tags())
    with atomic_output(srt_path) as tmp:
        write_srt([(r.start_s, r.start_s + (r.measured_duration_s or r.end_s - r.start_s), r.text) for r in cue_results], tmp)
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    report = DubReport(str(video), str(script), str(voice), str(output), cue_results, {k: round(v, 3) for k, v in timings.items()},
                       options.consent, warnings, provenance.tags())
    with atomic_output(report_path) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    notify("done", 1, 1)
    return report


def output_paths(output: str | Path) -> list[Path]:
    """Every file one dub writes (MP4/MKV, WAV, SRT, JSON) — for --force and skip checks."""
    output = Path(output)
    return [output, output.with_suffix(".wav"), output.with_suffix(".srt"), output.with_suffix(".json")]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
