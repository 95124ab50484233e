"""Video in, dubbed video out: the end-to-end emotion-transfer pipeline behind ``emodub dub``.

Per SRT cue: the original performance over the cue is read (face + voice, :mod:`emodub.emotion.analysis`)
and is also the emotion reference whose prosody the new line takes (the dual-audio path); the
new line is synthesised in the cloned voice at the cue's length, then laid into the original
track at the cue's start, to the sample, with the old dialogue ducked under it, and muxed back
without re-encoding the video.

Scripts are read as people write them (:mod:`emodub.subtitles`): a cue is one or more *parts*
(inline directions, several speakers); the parts are rendered one after another and together fill
the cue's span exactly.  Each part's speaker has one voice: given with ``voices`` (``NAME ► file``;
``*`` for everyone else), or else cloned from that speaker's own speech in the video
(:mod:`emodub.cast`), one fixed reference per speaker.  The track keeps its channel layout
(:mod:`emodub.layout`): the new dialogue goes in the dialogue channels, every other channel is
untouched.

Sync policy when the line cannot fill its shot within the allowed ratio 0.75–1.25 of its
natural length (never a silent clip):

- too short for the shot (needs > 1.25): spoken at 1.25 and the rest of the shot stays quiet;
- too long (needs < 0.75): spoken at 0.75 and allowed to run into the silence before the next
  cue (or the end of the video) when it fits there; otherwise the cue is *not dubbed*, the
  original audio stays, and the report asks for the line to be rewritten, naming the ratio.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from emodub import __version__, layout, media, watermark
from emodub.audio import Audio, atomic_output, check_reference, load_audio, save_channels
from emodub.cast import Cast, diarize, save_cast
from emodub.consent import require_consent
from emodub.disclosure import NOT_MARKED_WARNING, Disclosure
from emodub.emotion.analysis import normalises_per_speaker, read_faces, read_segment, read_voices, speakers_of
from emodub.emotion.describe import describe_en, describe_zh
from emodub.emotion.space import EmotionVector, VoiceQualities, fuse
from emodub.emotion.speech import AcousticSER, SpeechEmotionModel
from emodub.emotion.text import text_to_emotion
from emodub.engines.base import SynthesisRequest, detect_language, get_engine, natural_length_s
from emodub.engines.builtin import voice_search
from emodub.errors import EmodubError, InputError
from emodub.licences import commercial_base_voice, commercial_refusal
from emodub.naturalness import default_judge
from emodub.subtitles import Cue, Part, read_script, write_srt
from emodub.subtitles.directions import parse_cue
from emodub.subtitles.markup import strip_markup
from emodub.subtitles.retime import retimed
from emodub.timing import RATIO_MAX, RATIO_MIN, DurationPlan
from emodub.verify import Thresholds, synthesize_verified
from emodub.voice import speaker_similarity
from emodub.workers import forget, warm_pool, warm_up

Hook = Callable[[str, int, int], None]
Synthesizer = Callable[[list["_Job"], int, Hook], tuple[dict[int, "_Synth"], dict[int, str]]]  # jobs, workers, hook ► results, failures
ANALYSIS_RATE_HZ = 16000
DEFAULT_PROSODY_ALPHA = 0.7  # how much of the original delivery's contour the new line takes
MIN_LOUDNESS_S = 0.45  # BS.1770 gating needs at least one 400-ms block
EVERYONE = "*"  # the voices key for every speaker without a voice of their own
SYNC_POLICIES = ("fit", "strict")
PROFILE_STEPS = 100  # the voice-profile step counts in hundredths of each voice it matches


@dataclass(frozen=True)
class DirectedEmotion:
    """An emotion given for a speaker or a cue in a dub job: a preset and/or a description."""

    emotion: EmotionVector | None = None
    emotion_text: str | None = None


@dataclass(frozen=True)
class DubOptions:
    """What the user asked for beyond the script and the voices."""

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
    naturalness_margin: float | None = None  # MOS a clone may lose to the most natural base voice (None: 0.3)
    max_rounds: int = 3  # verification rounds per cue (the ear, length, similarity; 1 = no retry)
    speakers: int | None = None  # how many people speak in the video (None: found by the cast step)
    audio_codec: str | None = None  # None: follow the source where the container allows
    sync: str = "fit"  # fit: lines out of ratio range are spoken at the limit when they fit | strict: not dubbed
    speaker_emotions: dict[str, DirectedEmotion] = field(default_factory=dict)  # dub job: per speaker
    cue_emotions: dict[int, DirectedEmotion] = field(default_factory=dict)  # dub job: per cue index
    watermark: bool = True  # False (--no-watermark): the lines go out unmarked, and the report and metadata say so
    commercial: bool = False  # --commercial: only models whose terms allow commercial use (emodub.licences)

    def __post_init__(self) -> None:
        if self.commercial and self.base_voice is not None and not commercial_base_voice(self.base_voice):
            raise InputError(commercial_refusal(self.base_voice))
        if not 0.0 <= self.emotion_weight <= 1.0:
            raise InputError(f"emotion weight {self.emotion_weight!r} is outside the allowed range 0..1")
        if not isinstance(self.max_rounds, int) or self.max_rounds < 1:
            raise InputError(f"max rounds {self.max_rounds!r} is not allowed; it must be an integer ≥ 1")
        if self.frame_match is not None and not 0.0 <= self.frame_match <= 1.0:
            raise InputError(f"frame match {self.frame_match!r} is outside the allowed range 0..1 "
                             "(0 = clearest, 1 = closest to the reference voice)")
        if self.naturalness_margin is not None and not 0.0 <= self.naturalness_margin <= 4.0:
            raise InputError(f"naturalness margin {self.naturalness_margin!r} is outside the allowed range 0..4 (MOS points)")
        if self.workers < 1:
            raise InputError(f"workers {self.workers!r} is not allowed; it must be ≥ 1")
        if not self.frame_rate_hz > 0:
            raise InputError(f"frame rate {self.frame_rate_hz!r} is not allowed; it must be > 0 frames per second")
        if self.speakers is not None and (not isinstance(self.speakers, int) or self.speakers < 1):
            raise InputError(f"number of speakers {self.speakers!r} is not allowed; it must be an integer ≥ 1")
        if self.sync not in SYNC_POLICIES:
            raise InputError(f"sync policy {self.sync!r} is not known; allowed: {', '.join(SYNC_POLICIES)}")
        if self.separator is not None:
            media.check_separator(self.separator)
        require_consent(self.consent)  # every dub clones a voice (a file, or a speaker's own from the video)
        if self.watermark:
            watermark.require()  # missing weights: refused here, before any model loads, unless --no-watermark
        if self.emotion_encoder is not None:
            from emodub.train import load_encoders

            load_encoders(self.emotion_encoder)  # a bad folder fails here, before any work


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


@dataclass(frozen=True)
class _PartJob:
    """One part of a cue for a worker process (plain data, picklable)."""

    text: str
    voice_samples: np.ndarray
    voice_rate_hz: int
    vector: EmotionVector | None
    qualities: VoiceQualities
    reference_samples: np.ndarray | None  # the original performance under the part (the emotion reference)


@dataclass(frozen=True)
class _Job:
    """Everything a worker process needs to synthesise one cue."""

    index: int
    parts: tuple[_PartJob, ...]
    span_s: float
    room_s: float
    rate_hz: int  # the parts are joined at this rate (the track's)
    base_voice: str | None
    seed: int
    frame_match: float | None
    max_rounds: int = 3
    sync: str = "fit"
    naturalness_margin: float | None = None
    watermark: bool = True
    commercial: bool = False


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
    part_audio: list[Audio] = field(default_factory=list)
    intelligibility: list[dict[str, Any] | None] = field(default_factory=list)
    rounds: int | None = None
    naturalness: list[float | None] = field(default_factory=list)  # each part's MOS, as its verification scored it
    base_voices: list[str] = field(default_factory=list)  # each part's base voice (the report's models and licences)


TRUNCATION_SLACK_S = 0.5  # sound that ends this much before the container says is a truncated file, not encoder padding
DUB_THRESHOLDS = Thresholds(require_arousal_match=False)  # a cue's emotion comes from the original performance; words and length decide


def _part_targets(free_s: list[float], total_s: float, rate_hz: int) -> list[float]:
    """``total_s`` shared in proportion to the parts' free lengths, on whole samples that add up exactly."""
    edges = np.round(np.cumsum([0.0, *free_s]) / sum(free_s) * total_s * rate_hz).astype(int)
    return [float(b - a) / rate_hz for a, b in zip(edges, edges[1:])]


def synthesize_cue(job: _Job) -> _Synth:
    """Every part's natural length from the engine's plan (no render), then one controlled render each, as the policy picks."""
    engine = get_engine("builtin")

    def request(part: _PartJob, plan: DurationPlan) -> SynthesisRequest:
        reference = None if part.reference_samples is None else Audio(part.reference_samples, ANALYSIS_RATE_HZ)
        return SynthesisRequest(text=part.text, speaker_reference=Audio(part.voice_samples, part.voice_rate_hz), emotion=part.vector,
                                qualities=part.qualities, emotion_reference=reference,
                                emotion_alpha=DEFAULT_PROSODY_ALPHA if reference is not None else 1.0,
                                duration=plan, seed=job.seed, base_voice=job.base_voice, frame_match=job.frame_match,
                                naturalness_margin=job.naturalness_margin, commercial=job.commercial)

    free = [natural_length_s(engine, request(part, DurationPlan("free"))) for part in job.parts]  # planned, not rendered
    free_total = sum(free)

    def verified(plans: list[DurationPlan], status: str, ratio: float, note: str | None = None) -> _Synth:
        """The controlled passes, each heard by the ear and retried on a miss (see :mod:`emodub.verify`), joined."""
        audios, heard, natural, warnings, rounds_used, target_total, bases = [], [], [], [], 0, 0.0, []
        for number, (part, plan) in enumerate(zip(job.parts, plans), 1):
            result, checked, rounds = synthesize_verified(engine, request(part, plan), thresholds=DUB_THRESHOLDS, max_rounds=job.max_rounds)
            where = f"part {number}: " if len(job.parts) > 1 else ""
            warnings += [where + w for w in result.warnings]
            kept = next(r for r in rounds if r["kept"])
            if kept["round"] > 1:
                warnings.append(f"{where}verification kept round {kept['round']} of {len(rounds)}: {kept['change']}")
            if not checked.passed:
                warnings.append(f"{where}verification: {', '.join(checked.failed)} missed after {len(rounds)} round(s); the best round is kept")
            audios.append(result.audio.resampled(job.rate_hz))
            heard.append(checked.intelligibility)
            natural.append(checked.value("naturalness"))
            bases.append(str(result.applied.get("base_voice", "")))
            rounds_used = max(rounds_used, len(rounds))
            target_total += result.target_duration_s or 0.0
        warnings += [note] if note else []
        joined = Audio(np.concatenate([a.samples for a in audios]), job.rate_hz)
        if job.watermark:
            joined = watermark.mark(joined)  # the finished line (its length fitted); the mix only scales it, the bed is never marked
        return _Synth(job.index, joined, status, free_total, needed, ratio, target_total, warnings, audios, heard, rounds_used, natural,
                      bases)

    needed = job.span_s / free_total
    if RATIO_MIN <= needed <= RATIO_MAX:
        targets = _part_targets(free, job.span_s, job.rate_hz)
        return verified([DurationPlan("controlled", target_duration_s=t) for t in targets], "dubbed", needed)
    out_of_range = f"needs ratio {needed:.2f} to fit {job.span_s:.2f} s (allowed {RATIO_MIN}–{RATIO_MAX})"
    if job.sync == "strict":
        return _Synth(job.index, None, "not-dubbed", free_total, needed, None, None,
                      [f"not dubbed (sync policy strict), rewrite the line: it {out_of_range}"])
    if needed > RATIO_MAX:
        quiet = job.span_s - RATIO_MAX * free_total
        return verified([DurationPlan("controlled", ratio=RATIO_MAX)] * len(job.parts), "short-of-shot", RATIO_MAX,
                        f"the line is short for its shot: {out_of_range}; spoken at {RATIO_MAX} and the last {quiet:.2f} s of the shot stay quiet")
    longest = RATIO_MIN * free_total
    if longest <= job.room_s:
        return verified([DurationPlan("controlled", ratio=RATIO_MIN)] * len(job.parts), "ran-into-silence", RATIO_MIN,
                        f"the line is long for its shot: {out_of_range}; spoken at {RATIO_MIN}, it runs {longest - job.span_s:.2f} s "
                        "into the following silence")
    return _Synth(job.index, None, "not-dubbed", free_total, needed, None, None,
                  [f"not dubbed, rewrite the line: it {out_of_range} and even at {RATIO_MIN} it takes {longest:.2f} s, "
                   f"more than the {job.room_s:.2f} s before the next cue"])


def _detect(cues: list[Cue], info: media.MediaInfo, track16: Audio, options: DubOptions, cast: Cast | None, hook: Hook
            ) -> list[tuple[EmotionVector | None, float, dict[str, Any]]]:
    """Face + voice reading of the original performance over each cue (the same reading as ``analyze``).

    The voice is normalised per speaker: each cue against the speech of whoever says it in the
    original (the cast step's speakers), over the whole video.
    """
    faces = None if options.commercial else read_faces(info, options.frame_rate_hz, hook)  # FER2013's terms: research only
    if options.emotion_encoder is not None:
        from emodub.train import EncoderSER

        ser: SpeechEmotionModel = EncoderSER(options.emotion_encoder)
    else:
        ser = AcousticSER()
    spans = [(cue.start_s, cue.end_s) for cue in cues]
    if cast is not None:
        speakers = cast.labels_of(spans)
    else:
        speakers = speakers_of(spans, track16) if normalises_per_speaker(ser) else [None] * len(spans)
    voices = read_voices(spans, speakers, track16, ser)
    detected = []
    for number, cue in enumerate(cues):
        segment = read_segment(cue.start_s, cue.end_s, faces, track16, ser, voice_read=voices[number])
        if not faces.observations:
            segment.warnings.append("no face over this cue")
        record = segment.to_dict()
        record["evidence"] = (segment.face.evidence if segment.face else []) + (segment.voice.evidence if segment.voice else [])
        detected.append((segment.vector, segment.confidence, record))
        hook("read voices", number + 1, len(cues))
    return detected


def _as_vector(emotion: EmotionVector | None, description: str | None, *, implied: bool
               ) -> tuple[EmotionVector | None, VoiceQualities, list[str]]:
    """A preset and/or a description as one vector, its voice qualities, and T2E's warnings.

    A description that names only a delivery ("voice shaking", "softly") carries a slight implied
    emotion: with ``implied`` (a direction, alone) it is used — ``[softly]`` leans calm; otherwise
    (``--emotion-text``, or beside a preset) it adds qualities only and takes no emotion share.
    """
    if description is None:
        return emotion, VoiceQualities(), []
    parsed = text_to_emotion(description)
    described = parsed.vector if parsed.names_emotion or (implied and emotion is None) else None
    vectors = [(v, 1.0) for v in (emotion, described) if v is not None]
    return (fuse(vectors) if vectors else None), parsed.qualities, list(parsed.warnings)


def _directed(emotion: EmotionVector | None, description: str | None) -> tuple[EmotionVector | None, VoiceQualities]:
    """A direction (a script annotation or tag, a job's cue or speaker emotion) as one vector and its qualities."""
    vector, qualities, _ = _as_vector(emotion, description, implied=True)
    return vector, qualities


def _choose_emotion(part: Part, cue_index: int, detected: EmotionVector | None, options: DubOptions,
                    given: tuple[EmotionVector | None, VoiceQualities]) -> tuple[EmotionVector | None, VoiceQualities, str]:
    """A part's direction in the script wins; then the job's cue, then its speaker; then ``given`` (``--emotion`` /
    ``--emotion-text``) fused with the detected emotion."""
    if part.directed:
        vector, qualities = _directed(part.preset, part.description)
        return vector, qualities, "script direction"
    if cue_index in options.cue_emotions:
        given = options.cue_emotions[cue_index]
        vector, qualities = _directed(given.emotion, given.emotion_text)
        return vector, qualities, "job: cue"
    if part.speaker is not None and part.speaker in options.speaker_emotions:
        given = options.speaker_emotions[part.speaker]
        vector, qualities = _directed(given.emotion, given.emotion_text)
        return vector, qualities, f"job: speaker {part.speaker}"
    given_vector, qualities = given
    if given_vector is None:
        return detected, qualities, "detected"
    if detected is None or options.emotion_weight == 1.0:
        return given_vector, qualities, "given"
    weight = options.emotion_weight
    return fuse([(given_vector, weight), (detected, 1 - weight)]), qualities, f"given {weight:.2f} + detected {1 - weight:.2f}"


def _loudness(audio: Audio) -> float | None:
    if audio.duration_s < MIN_LOUDNESS_S:
        return None
    value = audio.loudness_lufs()
    return value if np.isfinite(value) else None


def _run_jobs(jobs: list[_Job], workers: int, notify: Hook) -> tuple[dict[int, _Synth], dict[int, str]]:
    """Synthesise every cue, in a process pool when ``workers`` > 1; results and failures by cue number."""
    results: dict[int, _Synth] = {}
    failures: dict[int, str] = {}

    def collect(index: int, run: Callable[[], _Synth], done: int) -> None:
        try:
            results[index] = run()
        except EmodubError as error:  # one failed line does not lose the others
            failures[index] = str(error)
        notify("synthesise", done, len(jobs))

    if workers == 1 or len(jobs) <= 1:
        for done, job in enumerate(jobs, 1):
            collect(job.index, lambda job=job: synthesize_cue(job), done)
        return results, failures
    # spawn, not fork: the workers' verification runs the GE2E encoder and the ear, and a forked child
    # that runs torch after its parent has can deadlock in the OpenMP pool.  The pool is the process's
    # warm one (emodub.workers): its workers loaded their models once, with cores // workers threads each.
    pool = warm_pool(workers)
    try:
        futures = [(job.index, pool.submit(synthesize_cue, job)) for job in jobs]
        for done, (index, future) in enumerate(futures, 1):
            collect(index, future.result, done)
    except BrokenProcessPool:
        forget(workers)
        raise
    return results, failures


# -- voices ------------------------------------------------------------------------------------------
def voice_map(voices: str | Path | dict[str, str | Path] | list[str]) -> dict[str, Path]:
    """``voices`` as speaker ► file: a single file is everyone's; ``NAME=FILE`` strings name a speaker's."""
    if isinstance(voices, (str, Path)) and not (isinstance(voices, str) and "=" in voices and not Path(voices).exists()):
        return {EVERYONE: Path(voices)}
    if isinstance(voices, dict):
        return {str(name): Path(path) for name, path in voices.items()}
    mapping: dict[str, Path] = {}
    for item in [voices] if isinstance(voices, str) else voices:
        name, sep, path = str(item).partition("=")
        if not sep or Path(str(item)).exists():
            name, path = EVERYONE, str(item)
        name = name.strip()
        if not name or not path:
            raise InputError(f"voice {item!r} is not NAME=FILE or FILE")
        if name in mapping:
            raise InputError(f"voice for {'everyone' if name == EVERYONE else repr(name)} is given twice ({str(mapping[name])!r} "
                             f"and {path!r}); give each speaker one voice")
        mapping[name] = Path(path)
    return mapping


def _named(mapping: dict[str, Any], name: str | None) -> str | None:
    """The key of ``mapping`` that is ``name`` (exact, else ignoring case)."""
    if name is None:
        return None
    if name in mapping:
        return name
    return next((key for key in mapping if key.casefold() == name.casefold()), None)


def _part_spans(cue: Cue) -> list[tuple[float, float]]:
    """Where each part of a cue is likely said in the original: the span shared by the parts' lengths in characters."""
    if not cue.parts:
        return []
    lengths = [max(1, len(part.text)) for part in cue.parts]
    edges = np.cumsum([0, *lengths]) / sum(lengths) * cue.span_s + cue.start_s
    return list(zip(edges[:-1], edges[1:]))


def _assign_speakers(cues: list[Cue], voices: dict[str, Path], cast: Cast | None) -> list[list[tuple[str | None, str]]]:
    """(speaker, voice key) of every part: a named voice; else everyone's voice; else the cast's speaker from the video.

    A script name the cast does not know (``ALICE:``) is the cast speaker who talks most under
    that name's lines; a part without a name is the speaker who talks most under it.
    """
    spans = [_part_spans(cue) for cue in cues]
    by_name: dict[str, str] = {}
    if cast is not None and cast.speakers:
        talk: dict[str, dict[str, float]] = {}
        for cue, cue_spans in zip(cues, spans):
            for part, (start, end) in zip(cue.parts, cue_spans):
                if part.speaker is None or _named(voices, part.speaker) or cast.speaker(part.speaker):
                    continue
                for speaker in cast.speakers:
                    talk.setdefault(part.speaker, {}).setdefault(speaker.label, 0.0)
                    talk[part.speaker][speaker.label] += speaker.talk_within(start, end)
        by_name = {name: max(counts, key=counts.__getitem__) for name, counts in talk.items() if max(counts.values()) > 0}
    assigned = []
    for cue, cue_spans in zip(cues, spans):
        row = []
        for part, (start, end) in zip(cue.parts, cue_spans):
            key = _named(voices, part.speaker) or (EVERYONE if EVERYONE in voices else None)
            if key is not None:
                row.append((part.speaker, key))
                continue
            assert cast is not None  # built whenever a part has no given voice
            found = (cast.speaker(part.speaker) if part.speaker else None) or cast.speaker(by_name.get(part.speaker or "", "")) \
                or cast.dominant(start, end) or cast.dominant(cue.start_s, cue.end_s) \
                or max(cast.speakers, key=lambda s: s.speaking_time_s)
            given = _named(voices, found.label)  # --voice SPEAKER_1=FILE: another voice for a speaker found in the video
            row.append((part.speaker or found.label, given or f"cast:{found.label}"))
        assigned.append(row)
    return assigned


def _needs_cast(cues: list[Cue], voices: dict[str, Path]) -> bool:
    return EVERYONE not in voices and any(_named(voices, part.speaker) is None for cue in cues for part in cue.parts)


# -- mixing ------------------------------------------------------------------------------------------
def _channel_balance(tracks: layout.Tracks, start_s: float, end_s: float) -> dict[int, float]:
    """Each dialogue channel's level under the cue relative to the dialogue channels' mean (1.0 each when silent)."""
    rate = tracks.sample_rate_hz
    piece = tracks.samples[int(start_s * rate):int(end_s * rate), tracks.dialogue].astype(np.float64)
    rms = np.sqrt(np.mean(piece ** 2, axis=0)) if len(piece) else np.zeros(len(tracks.dialogue))
    if not np.all(np.isfinite(rms)) or rms.mean() < 1e-5:
        return {c: 1.0 for c in tracks.dialogue}
    return {c: float(r / rms.mean()) for c, r in zip(tracks.dialogue, rms)}


def _mix(tracks: layout.Tracks, lines: list[tuple[float, Audio]], gains_db: list[float], balances: list[dict[int, float]],
         options: DubOptions, notify: Hook) -> layout.Tracks:
    """The new lines laid into the dialogue channels (ducking only those); every other channel untouched."""
    replaced = {}
    for number, channel in enumerate(tracks.dialogue):
        original = tracks.channel(channel)
        background = None
        if options.separator is not None:
            notify("separate", number, len(tracks.dialogue))
            background = media.separate_background(original, options.separator)
        channel_gains = [gain + 20 * np.log10(max(balance[channel], 1e-3)) for gain, balance in zip(gains_db, balances)]
        replaced[channel] = media.place_lines(original, lines, duck_db=options.duck_db, gains_db=channel_gains, background=background).samples
    return tracks.with_channels(replaced)


# -- the pipeline ------------------------------------------------------------------------------------
def _load_voices(voices: dict[str, Path]) -> tuple[dict[str, Audio], list[str]]:
    loaded, warnings = {}, []
    for name, path in voices.items():
        what = "voice reference" if name == EVERYONE else f"voice reference of {name}"
        loaded[name] = load_audio(path, what=what)
        warnings += [f"{what}: {w}" if name != EVERYONE else w for w in check_reference(loaded[name], what=what).warnings]
    return loaded, warnings


@dataclass
class DubSession:
    """What a dub decided before synthesis and what it synthesised.

    Kept (pickled beside the outputs by ``emodub serve``) so that one cue can be redone with new words,
    emotion or speaker while every other cue keeps its audio to the sample (:func:`redub_cue`).
    """

    video: Path
    script: Path
    options: DubOptions
    codec: layout.AudioCodec
    audio_layout: str | None
    media_duration_s: float
    script_format: str
    script_encoding: str
    cues: list[Cue]
    voice_files: dict[str, Path]
    references: dict[str, Audio]
    assigned: list[list[tuple[str | None, str]]]  # (speaker, voice key) of every part of every cue
    detected: list[tuple[EmotionVector | None, float, dict[str, Any]]]
    given: tuple[EmotionVector | None, VoiceQualities]  # --emotion / --emotion-text as one vector and qualities
    warnings: list[str]
    cast: dict[str, Any] | None
    timings_s: dict[str, float] = field(default_factory=dict)
    plans: dict[int, list] = field(default_factory=dict)
    results: dict[int, _Synth] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    fps: float | None = None  # the video's frame rate: a moved cue's edges snap to its frames
    takes: dict[int, list[Take]] = field(default_factory=dict)  # cue number ► every take of it, once it was redone
    chosen: dict[int, int] = field(default_factory=dict)  # cue number ► the take (1-based) in the mix

    def save(self, path: str | Path) -> Path:
        with atomic_output(path) as tmp:
            tmp.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> DubSession:
        """A session this process or another wrote (trusted: it lives in emodub's own data folder)."""
        session = pickle.loads(Path(path).read_bytes())
        if not isinstance(session, cls):
            raise InputError(f"{str(path)!r} is not an emodub dub session")
        for name, empty in (("fps", None), ("takes", {}), ("chosen", {})):  # a session kept before takes existed
            session.__dict__.setdefault(name, empty)
        return session

    def take_records(self) -> dict[int, list[dict[str, Any]]]:
        """Cue index ► its takes as the studio lists them (number, text, time, emotion applied, status, chosen); only redone cues."""
        return {self.cues[number].index: [take.record(k, chosen=self.chosen.get(number) == k) for k, take in enumerate(takes, 1)]
                for number, takes in sorted(self.takes.items())}

    def speaker_choices(self) -> list[str]:
        """The speakers a cue can be given to: named voices and the speakers found in the video."""
        return [key.removeprefix("cast:") for key in self.voice_files if key != EVERYONE]

    def voice_key(self, speaker: str) -> str:
        """The voice key of ``speaker`` (a named voice or a cast label); an unknown name is bad input."""
        key = _named(self.voice_files, speaker) or _named(self.voice_files, f"cast:{speaker}")
        if key is None or key == EVERYONE:
            choices = self.speaker_choices()
            raise InputError(f"speaker {speaker!r} has no voice in this dub; "
                             + (f"allowed: {', '.join(choices)}" if choices else "it has one voice for everyone"))
        return key


@dataclass(frozen=True)
class Take:
    """One rendering of a cue as it was made: its words and times, voices, emotion plans, audio (or why there is none)."""

    cue: Cue
    assigned: tuple[tuple[str | None, str], ...]
    plans: tuple
    result: _Synth | None
    failure: str | None
    direction: DirectedEmotion | None  # the editor's emotion for the cue when it was made

    @classmethod
    def of(cls, session: DubSession, number: int) -> Take:
        """The cue as the session has it now."""
        return cls(session.cues[number], tuple(session.assigned[number]), tuple(session.plans.get(number, ())),
                   session.results.get(number), session.failures.get(number), session.options.cue_emotions.get(session.cues[number].index))

    def restore(self, session: DubSession, number: int) -> None:
        """Put this take back into ``session`` as cue ``number``."""
        session.cues[number], session.assigned[number] = self.cue, list(self.assigned)
        for store, value in ((session.plans, list(self.plans) if self.plans else None), (session.results, self.result),
                             (session.failures, self.failure)):
            store.pop(number, None)
            if value is not None:
                store[number] = value
        directions = {k: v for k, v in session.options.cue_emotions.items() if k != self.cue.index}
        session.options = replace(session.options, cue_emotions={**directions, **({self.cue.index: self.direction} if self.direction else {})})

    def record(self, number: int, *, chosen: bool) -> dict[str, Any]:
        vector = self.plans[0][2] if self.plans else None
        name = None if vector is None else vector.dominant()
        emotion = None if name is None else {"name": name, "intensity": round(vector.to_dict()[name], 3)}
        status = "not-dubbed" if self.result is None or self.result.audio is None else self.result.status
        speakers = [speaker for speaker, _ in self.assigned if speaker]
        return {"take": number, "text": self.cue.text, "start_s": self.cue.start_s, "end_s": self.cue.end_s, "emotion": emotion,
                "emotion_text": self.direction.emotion_text if self.direction else None,
                "directed": self.direction is not None and self.direction.emotion is not None,
                "speaker": speakers[0] if speakers else None, "status": status, "chosen": chosen}


def _prepare(video: Path, script: str | Path, voices: str | Path | dict[str, str | Path] | list[str], output: Path,
             options: DubOptions, notify: Hook, *, warm_workers: bool = False) -> tuple[DubSession, layout.Tracks, Audio]:
    """Everything before synthesis: probe, script, voices, cast, reading the original performance."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    info = media.probe(video)
    if not info.has_video:
        raise InputError(f"video {str(video)!r} has no video stream; emodub dub needs a video (use 'emodub say' for audio)")
    if not info.has_audio:
        raise InputError(f"video {str(video)!r} has no audio stream; there is no original performance to dub over")
    codec = layout.choose_codec(info, output.suffix, options.audio_codec)
    parsed = read_script(script, media_duration_s=info.duration_s, fps=info.fps)
    cues = parsed.cues
    unknown = sorted(set(options.cue_emotions) - {cue.index for cue in cues})
    if unknown:
        raise InputError(f"cue_emotions names cue(s) {', '.join(map(str, unknown))}, which the script does not have "
                         f"(it has cues 1–{len(cues)})")
    voice_files = voice_map(voices)
    references, warnings = _load_voices(voice_files)
    warnings += parsed.warnings
    if not options.watermark:
        warnings.append(NOT_MARKED_WARNING)
    if options.commercial:
        warnings.append("--commercial: the face reader (FER2013, research data) and the joe and zh-baker voices are left out; "
                        "the emotion is read from the voice alone")
    given_vector, given_qualities, given_warnings = _as_vector(options.emotion, options.emotion_text, implied=False)
    warnings += given_warnings
    tracks = layout.extract_tracks(info)
    decoded_s = tracks.samples.shape[0] / tracks.sample_rate_hz
    if decoded_s < info.duration_s - TRUNCATION_SLACK_S:
        raise InputError(f"video {str(video)!r} is cut short: its header says {info.duration_s:.2f} s but its sound ends at "
                         f"{decoded_s:.2f} s (a truncated or damaged file); repair or re-export it")
    track16 = tracks.dialogue_mix().resampled(ANALYSIS_RATE_HZ)
    timings["probe and decode"] = time.perf_counter() - started
    if warm_workers and options.workers > 1 and len(cues) > 1:  # the inputs hold: workers load their models while this process reads
        warm_up(options.workers)

    cast = None
    if _needs_cast(cues, voice_files):
        t0 = time.perf_counter()
        cast = diarize(track16, n_speakers=options.speakers, progress=lambda done, total: notify("cast", done, total))
        saved = save_cast(cast, output.parent, prefix=f"{output.stem}.voice-")
        for speaker in cast.speakers:
            if speaker.reference is not None and speaker.label in saved:
                references[f"cast:{speaker.label}"] = speaker.reference
                voice_files[f"cast:{speaker.label}"] = saved[speaker.label]
            warnings += [f"{speaker.label}: {w}" for w in speaker.warnings]
        timings["cast"] = time.perf_counter() - t0
    assigned = _assign_speakers(cues, voice_files, cast)
    used = {key for row in assigned for _, key in row} | {speaker for row in assigned for speaker, _ in row}
    for name in dict.fromkeys([*voice_files, *options.speaker_emotions]):
        if name != EVERYONE and not name.startswith("cast:") and _named(dict.fromkeys(s for s in used if s), name) is None:
            warnings.append(f"{name!r} speaks no line of the script (names: the script's NAME: prefixes, ASS names, "
                            "[speaker: …] tags, or the cast labels SPEAKER_n); its voice or emotion is not used")

    t0 = time.perf_counter()
    detected = _detect(cues, info, track16, options, cast, notify)
    timings["recognise"] = time.perf_counter() - t0
    session = DubSession(video, Path(script), options, codec, info.audio_layout, info.duration_s, parsed.format, parsed.encoding,
                         list(cues), voice_files,
                         references, assigned, detected, (given_vector, given_qualities), warnings,
                         None if cast is None else cast.to_dict(), timings, fps=info.fps)
    return session, tracks, track16


def _cue_job(session: DubSession, number: int, track16: Audio, track_rate_hz: int) -> _Job | None:
    """The synthesis job of cue ``number`` (0-based) and its parts' plans (kept in ``session.plans``); None: nothing to say."""
    cue, row, options = session.cues[number], session.assigned[number], session.options
    if not cue.parts:
        session.plans.pop(number, None)
        return None
    part_jobs, part_plans = [], []
    for part, (start, end), (speaker, key) in zip(cue.parts, _part_spans(cue), row):
        resolved = Part(part.text, speaker, part.preset, part.description, part.turn)
        chosen, qualities, source = _choose_emotion(resolved, cue.index, session.detected[number][0], options, session.given)
        part_plans.append((resolved, key, chosen, qualities, source))
        original = track16.samples[int(start * ANALYSIS_RATE_HZ):int(end * ANALYSIS_RATE_HZ)]
        undirected = source == "detected" or source.startswith("given")  # no script direction, no job override
        use_reference = options.original_prosody and undirected and len(original) >= ANALYSIS_RATE_HZ // 2
        reference = session.references[key]
        part_jobs.append(_PartJob(part.text, reference.samples, reference.sample_rate_hz, chosen, qualities,
                                  original if use_reference else None))
    session.plans[number] = part_plans
    next_start = session.cues[number + 1].start_s if number + 1 < len(session.cues) else session.media_duration_s
    return _Job(number, tuple(part_jobs), cue.span_s, next_start - cue.start_s, track_rate_hz, options.base_voice,
                options.seed, options.frame_match, options.max_rounds, options.sync, options.naturalness_margin, options.watermark,
                options.commercial)


def _build_profiles(session: DubSession, notify: Hook) -> None:
    """Each (voice, language) profile once, before the workers start (they load it from the cache)."""
    needed = sorted({(key, detect_language(part.text)) for cue, row in zip(session.cues, session.assigned)
                     for part, (_, key) in zip(cue.parts, row)})
    total = PROFILE_STEPS * len(needed)  # one total for the whole step, known before it starts: a bar never runs backwards

    def tick(number: int):
        return lambda done, steps: notify("voice profile", number * PROFILE_STEPS + (PROFILE_STEPS * done) // max(1, steps), total)

    for number, (key, language) in enumerate(needed):
        voice_search.load_or_build_profile(session.references[key], language, base_voice=session.options.base_voice,
                                           frame_match=session.options.frame_match,
                                           naturalness_margin=session.options.naturalness_margin, progress=tick(number),
                                           commercial=session.options.commercial)
    if needed:
        notify("voice profile", total, total)


def dub_video(video: str | Path, script: str | Path, voices: str | Path | dict[str, str | Path] | list[str], output: str | Path, *,
              options: DubOptions | None = None, report_path: str | Path | None = None, hook: Hook | None = None,
              session_path: str | Path | None = None, synthesize: Synthesizer | None = None) -> DubReport:
    """Dub ``video`` with the lines of ``script`` in the given voices (or the video's own); write video, WAV, SRT and report.

    With ``session_path``, the :class:`DubSession` is kept there for :func:`redub_cue`.  ``synthesize``
    runs the cues' jobs somewhere else (the Ray runner spreads a long video's cues over a cluster);
    by default they run here, in ``options.workers`` processes.
    """
    if options is None:
        require_consent(None)  # a dub clones voices: the options must carry the consent statement
    assert options is not None
    notify = hook or (lambda step, done, total: None)
    started = time.perf_counter()
    video, output = Path(video), Path(output)
    session, tracks, track16 = _prepare(video, script, voices, output, options, notify, warm_workers=synthesize is None)

    t0 = time.perf_counter()
    _build_profiles(session, notify)
    jobs = [job for number in range(len(session.cues)) if (job := _cue_job(session, number, track16, tracks.sample_rate_hz))]
    session.timings_s["voice profile"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    session.results, session.failures = (synthesize or _run_jobs)(jobs, options.workers, notify)
    session.timings_s["synthesise"] = time.perf_counter() - t0
    report = _finish(session, tracks, output, report_path, notify, started)
    if session_path is not None:
        session.save(session_path)
    return report


@dataclass(frozen=True)
class CueEdit:
    """What an editor changes in one cue: new words, an emotion (preset and/or description), another speaker."""

    text: str | None = None
    emotion: EmotionVector | None = None
    emotion_text: str | None = None
    speaker: str | None = None
    start_s: float | None = None  # the cue moved or resized (snapped to the video's frames; see emodub.subtitles.retime)
    end_s: float | None = None

    def __post_init__(self) -> None:
        if self.text is not None and not self.text.strip():
            raise InputError("text '' is empty; give the words to say (to keep the original audio, leave the cue out of the script)")
        if self.emotion_text is not None and not self.emotion_text.strip():
            raise InputError("emotion_text '' is empty; describe the delivery, e.g. 'angrily, voice shaking'")
        if all(getattr(self, name) is None for name in ("text", "emotion", "emotion_text", "speaker", "start_s", "end_s")):
            raise InputError("nothing to change: give at least one of text, emotion, emotion_text, intensity, speaker, start_s, end_s")


def redub_cue(session: DubSession, index: int, edit: CueEdit, output: str | Path, *, report_path: str | Path | None = None,
              hook: Hook | None = None) -> DubReport:
    """Redo cue ``index`` (1-based, as in the script) of a finished dub as a new take and write every output again.

    Only that cue is synthesised; every other cue keeps its audio to the sample.  An emotion in the
    edit replaces the cue's script directions (the editor's choice is the latest word); the edit is
    also kept in ``session`` so that a later edit starts from it.  The cue's earlier takes stay in
    ``session.takes`` (:func:`choose_take` puts one back).
    """
    notify = hook or (lambda step, done, total: None)
    started = time.perf_counter()
    number = _cue_number(session, index)
    cue, row = session.cues[number], session.assigned[number]
    speaker = edit.speaker if edit.speaker is not None else (row[0][0] if row else None)
    key = session.voice_key(edit.speaker) if edit.speaker is not None else (row[0][1] if row else None)
    if key is None:
        raise InputError(f"cue {index} had nothing to say, so it has no voice yet; give its speaker too "
                         f"(allowed: {', '.join(session.speaker_choices()) or 'none'})")
    if edit.start_s is not None or edit.end_s is not None:
        start, end = retimed([(c.start_s, c.end_s) for c in session.cues], number, edit.start_s, edit.end_s,
                             duration_s=session.media_duration_s, fps=session.fps)
        cue = replace(cue, start_s=start, end_s=end)
    parts = list(cue.parts)
    if edit.text is not None:
        lines, _ = strip_markup(edit.text)
        parsed = parse_cue(lines, index=index, speaker=speaker)
        if not parsed.parts:
            raise InputError(f"text {edit.text!r} for cue {index} has nothing to say (only annotations); write the words to say")
        parts, cue = parsed.parts, replace(cue, not_spoken=tuple(parsed.not_spoken))
    if edit.speaker is not None:
        parts = [replace(part, speaker=edit.speaker) for part in parts]
    if not parts:
        raise InputError(f"cue {index} has nothing to say; give it words (text) to dub it")
    session.takes.setdefault(number, [Take.of(session, number)])  # the first take: the cue as the dub made it
    if edit.emotion is not None or edit.emotion_text is not None:
        parts = [replace(part, preset=None, description=None) for part in parts]
        session.options = replace(session.options, cue_emotions={**session.options.cue_emotions,
                                                                 index: DirectedEmotion(edit.emotion, edit.emotion_text)})
    session.cues[number] = replace(cue, parts=tuple(parts))
    session.assigned[number] = [(part.speaker or speaker, _edited_part_key(session, part, speaker, key)) for part in parts]
    tracks = layout.extract_tracks(media.probe(session.video))
    track16 = tracks.dialogue_mix().resampled(ANALYSIS_RATE_HZ)
    job = _cue_job(session, number, track16, tracks.sample_rate_hz)
    _build_profiles(session, notify)
    session.results.pop(number, None)
    session.failures.pop(number, None)
    assert job is not None  # the edited cue has parts
    try:
        session.results[number] = synthesize_cue(job)
    except EmodubError as error:  # the cue fails, the dub stays: the report says why
        session.failures[number] = str(error)
    session.takes[number].append(Take.of(session, number))
    session.chosen[number] = len(session.takes[number])
    notify("synthesise", 1, 1)
    session.timings_s["synthesise"] = time.perf_counter() - started
    return _finish(session, tracks, Path(output), report_path, notify, started)


def choose_take(session: DubSession, index: int, take: int, output: str | Path, *, report_path: str | Path | None = None,
                hook: Hook | None = None) -> DubReport:
    """Put take ``take`` (1-based) of cue ``index`` back into the mix and write every output again; nothing is synthesised."""
    number = _cue_number(session, index)
    takes = session.takes.get(number, [])
    if not 1 <= take <= max(1, len(takes)):
        raise InputError(f"cue {index} has no take {take}; it has take{'s 1–' + str(len(takes)) if len(takes) > 1 else ' 1'}")
    if takes:
        if _overlaps_neighbours(session, number, takes[take - 1].cue):
            raise InputError(f"take {take} of cue {index} ({takes[take - 1].cue.start_s:.2f}–{takes[take - 1].cue.end_s:.2f} s) "
                             "overlaps a neighbouring cue as it is now; move that cue first")
        takes[take - 1].restore(session, number)
        session.chosen[number] = take
    tracks = layout.extract_tracks(media.probe(session.video))
    return _finish(session, tracks, Path(output), report_path, hook or (lambda step, done, total: None), time.perf_counter())


def _cue_number(session: DubSession, index: int) -> int:
    """The position in ``session.cues`` of the cue numbered ``index`` in the script."""
    number = next((n for n, cue in enumerate(session.cues) if cue.index == index), None)
    if number is None:
        raise InputError(f"cue {index} is not in this dub; it has cues {session.cues[0].index}–{session.cues[-1].index}")
    return number


def _overlaps_neighbours(session: DubSession, number: int, cue: Cue) -> bool:
    before = session.cues[number - 1].end_s if number > 0 else 0.0
    after = session.cues[number + 1].start_s if number + 1 < len(session.cues) else session.media_duration_s
    return cue.start_s < before - 1e-6 or cue.end_s > after + 1e-6


def _models_of(session: DubSession) -> list[str]:
    """The models (keys of :data:`emodub.licences.MODELS`) that made or judged this dub."""
    from emodub.licences import synthesis_models

    options = session.options
    described = bool(options.emotion_text) or any(d.emotion_text for d in [*options.speaker_emotions.values(), *options.cue_emotions.values()])
    lines = synthesis_models([b for synth in session.results.values() for b in synth.base_voices], reads_descriptions=described)
    faces = [] if options.commercial else ["haar", "fer"]
    return [*lines, "silero-vad", *faces]  # GE2E (in the lines' models) also finds the cast when it ran


def _edited_part_key(session: DubSession, part: Part, cue_speaker: str | None, cue_key: str) -> str:
    """A part of an edited cue speaks in the cue's voice, unless its text names another speaker (``BOB: …``)."""
    if part.speaker and part.speaker != cue_speaker:
        return session.voice_key(part.speaker)
    return cue_key


def _finish(session: DubSession, tracks: layout.Tracks, output: Path, report_path: str | Path | None, notify: Hook,
            started: float) -> DubReport:
    """The report's cue records, the mix, and every output written (each atomically)."""
    t0 = time.perf_counter()
    dialogue = tracks.dialogue_mix()
    cue_results, lines, gains, balances = [], [], [], []
    for number, cue in enumerate(session.cues):
        cue_results.append(_cue_result(number, cue, session.detected[number], session.plans.get(number, []), session.results.get(number),
                                       session.failures.get(number), session.voice_files, session.references, dialogue))
        synth, record = session.results.get(number), cue_results[-1]
        if synth is not None and synth.audio is not None:
            lines.append((cue.start_s, synth.audio))
            gains.append(record.gain_db or 0.0)
            balances.append(_channel_balance(tracks, cue.start_s, cue.end_s))
    dubbed = _mix(tracks, lines, gains, balances, session.options, notify)
    timings = session.timings_s
    timings["mix"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    disclosure = Disclosure.of(watermarked=session.options.watermark, models=_models_of(session), consent=session.options.consent,
                               voices=dict(session.voice_files), commercial=session.options.commercial,
                               would_use=("joe", "zh-baker", "fer"))
    tags, disclosed = disclosure.provenance("builtin").tags(), disclosure.to_dict()
    _, wav_path, srt_path, default_report = output_paths(output)
    report_path = Path(report_path) if report_path is not None else default_report
    save_channels(dubbed.samples, dubbed.sample_rate_hz, wav_path, tags=tags, bits=24)
    with atomic_output(output) as tmp:
        media.mux(session.video, dubbed, tmp, codec=session.codec, layout=session.audio_layout, metadata=tags)
    with atomic_output(srt_path) as tmp:
        write_srt([(r.start_s, r.start_s + (r.measured_duration_s or r.end_s - r.start_s), r.text) for r in cue_results if r.text], tmp)
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    codec = session.codec
    report = DubReport(str(session.video), str(session.script), {name: str(path) for name, path in session.voice_files.items()},
                       str(output), cue_results, {k: round(v, 3) for k, v in timings.items()}, session.options.consent,
                       list(session.warnings), tags, session.script_format, session.script_encoding,
                       {"layout": tracks.layout, "channels": tracks.names, "dialogue_channels": [tracks.names[c] for c in tracks.dialogue],
                        "sample_rate_hz": tracks.sample_rate_hz, "codec": codec.name, "bit_rate": codec.bit_rate, "codec_reason": codec.reason},
                       session.cast, disclosure.watermark_record(), disclosed["models"], disclosure.voices_sha256,
                       disclosed["excluded_for_commercial_use"])
    with atomic_output(report_path) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    notify("done", 1, 1)
    return report


def _cue_result(number: int, cue: Cue, detected: tuple[EmotionVector | None, float, dict[str, Any]], plans: list, synth: _Synth | None,
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
    record.intelligibility = _joined_intelligibility(synth.intelligibility)
    record.speaker_similarity = round(float(np.mean([p.speaker_similarity for p in record.parts])), 4)
    scored = [p.naturalness for p in record.parts if p.naturalness is not None]
    record.naturalness = round(float(np.mean(scored)), 3) if scored else None
    rate = dialogue.sample_rate_hz
    original = Audio(dialogue.samples[int(cue.start_s * rate):int(cue.end_s * rate)], rate)
    target_lufs, new_lufs = _loudness(original), _loudness(synth.audio)
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


def _joined_intelligibility(parts: list[dict[str, Any] | None]) -> dict[str, Any] | None:
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


def output_paths(output: str | Path) -> list[Path]:
    """Every file one dub writes (MP4/MKV/MOV, WAV, SRT, JSON) — for --force and skip checks."""
    output = Path(output)
    return [output, output.with_suffix(".wav"), output.with_suffix(".srt"), output.with_suffix(".json")]


def changed_since(output: str | Path, inputs: list[Path]) -> list[Path]:
    """The inputs modified after ``output`` was written: a skipped dub that would no longer be the same."""
    made = Path(output).stat().st_mtime
    return [path for path in inputs if path.exists() and path.stat().st_mtime > made]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


# -- templates ---------------------------------------------------------------------------------------
@dataclass
class Template:
    """What ``dub`` without a script wrote: the cues, the language heard, and the speakers found."""

    path: Path
    cues: int
    segments: int
    cuts: int
    language: str | None
    speakers: list[str]
    transcribed: bool


def write_template(video: str | Path, template: str | Path, *, speakers: int | None = None, frame_rate_hz: float = 5.0,
                   hook: Hook | None = None) -> Template:
    """A script to edit: the original dialogue, transcribed by the ear, one cue per speech segment and speaker turn (never across a cut).

    Each cue reads ``SPEAKER_n: [emotion:intensity] what was said``: the speaker from the cast
    step, the emotion read from face and voice (keep it, change it or delete it).  Without an ear
    (faster-whisper not installed) the words are placeholders that ``dub`` refuses until replaced.
    """
    from emodub.ear import WhisperEar, default_ear
    from emodub.emotion.speech import speech_segments
    from emodub.subtitles import placeholder, template_cues

    notify = hook or (lambda step, done, total: None)
    video, template = Path(video), Path(template)
    info = media.probe(video)
    if not info.has_audio:
        raise InputError(f"video {str(video)!r} has no audio stream; there is no speech to time the lines against")
    track16 = layout.extract_tracks(info).dialogue_mix().resampled(ANALYSIS_RATE_HZ)
    speech = speech_segments(track16)
    if not speech:
        raise InputError(f"no speech found in {str(video)!r}; write the script by hand")
    cuts = media.scene_cuts(info)
    cast = diarize(track16, n_speakers=speakers, progress=lambda done, total: notify("cast", done, total))
    turn_changes = sorted({edge for speaker in cast.speakers for turn in speaker.turns for edge in turn})
    spans = template_cues(speech, sorted({*cuts, *turn_changes}))  # a cue never straddles a cut or a change of speaker
    ear = default_ear()
    language = ear.detect_language(track16) if isinstance(ear, WhisperEar) else ("en" if ear is not None else None)
    faces = read_faces(info, frame_rate_hz, notify) if info.has_video else None
    ser = AcousticSER()
    voices = read_voices(spans, cast.labels_of(spans), track16, ser) if faces is not None else []  # as dub reads them: per speaker
    cues = []
    for number, (start, end) in enumerate(spans, 1):
        clip = Audio(track16.samples[int(start * ANALYSIS_RATE_HZ):int(end * ANALYSIS_RATE_HZ)], ANALYSIS_RATE_HZ)
        said = ear.transcribe(clip, language).strip() if ear is not None and language is not None else ""
        speaker = cast.dominant(start, end)
        tag = ""
        if faces is not None:
            vector = read_segment(start, end, faces, track16, ser, voice_read=voices[number - 1]).vector
            name = vector.dominant() if vector is not None else None
            if vector is not None and name is not None and round(vector.to_dict()[name], 1) > 0:
                tag = f"[{name}:{min(1.0, vector.to_dict()[name]):.1f}] "
        cues.append((start, end, f"{speaker.label + ': ' if speaker else ''}{tag}{said or placeholder(end - start)}"))
        notify("transcribe", number, len(spans))
    with atomic_output(template) as tmp:
        write_srt(cues, tmp)
    return Template(template, len(cues), len(speech), len(cuts), language, [s.label for s in cast.speakers],
                    ear is not None and language is not None)
