"""Read how the person in a clip feels: face + voice per speech segment, fused and described.

The clip's speech segments (Silero VAD) are the units.  In each, the main face's smoothed
expression (FER) and the voice (SER) are fused with weights ``face_weight × face confidence``
and ``voice_weight × voice confidence``; either may be missing (no face, no speech, audio-only
or silent video) and the report then says what could not be measured.  Without any speech
the whole clip is one face-only segment.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emodub import media
from emodub.audio import Audio
from emodub.cast import diarize
from emodub.emotion import face as fer
from emodub.emotion.describe import describe_en, describe_zh
from emodub.emotion.normalise import speaker_norms
from emodub.emotion.space import EMOTION_NAMES, EmotionVector, fuse
from emodub.emotion.speech import MIN_SPEECH_S, AcousticSER, SpeechEmotion, SpeechEmotionModel, TrainedSER, measure_cues, speech_segments
from emodub.errors import InputError
from emodub.progress import Progress

DEFAULT_FRAME_RATE_HZ = 5.0


@dataclass(frozen=True)
class FaceSummary:
    """The main face over one segment: mean smoothed expression, confidence and evidence."""

    vector: EmotionVector
    confidence: float
    frames: int
    frames_with_face: int
    box: list[int]
    evidence: list[str]

    def to_dict(self) -> dict:
        return {"vector": self.vector.to_dict(), "dominant": self.vector.dominant(), "confidence": round(self.confidence, 3),
                "frames": self.frames, "frames_with_face": self.frames_with_face, "box": self.box, "evidence": self.evidence}


@dataclass
class SegmentAnalysis:
    start_s: float
    end_s: float
    face: FaceSummary | None
    voice: SpeechEmotion | None
    vector: EmotionVector | None  # fused; None when neither face nor voice could be read
    confidence: float
    description_en: str
    description_zh: str
    warnings: list[str] = field(default_factory=list)
    decided_by: str | None = None  # face | voice | face and voice: whose (weighted) confidence carried the fusion

    @property
    def intensity(self) -> float:
        """How far from neutral: 1 − the calm share of the fused vector (0 when unknown)."""
        if self.vector is None or self.vector.is_zero:
            return 0.0
        return 1.0 - self.vector.normalized().calm

    def to_dict(self) -> dict:
        return {
            "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
            "face": None if self.face is None else self.face.to_dict(),
            "voice": None if self.voice is None else self.voice.to_dict(),
            "vector": None if self.vector is None else self.vector.to_dict(),
            "decided_by": self.decided_by,
            "dominant": None if self.vector is None else self.vector.dominant(),
            "intensity": round(self.intensity, 3), "confidence": round(self.confidence, 3),
            "description": {"en": self.description_en, "zh": self.description_zh}, "warnings": self.warnings,
        }


@dataclass
class MediaAnalysis:
    """The whole clip: per-segment results, the frame-level face track, what was not measurable."""

    media: str
    duration_s: float
    has_video: bool
    has_audio: bool
    frame_rate_hz: float
    frames_analyzed: int
    observations: list[fer.FaceObservation]
    segments: list[SegmentAnalysis]
    weights: dict[str, float]
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def overall(self) -> EmotionVector | None:
        """Duration-weighted fusion of the segments that could be read."""
        readable = [(s.vector, s.end_s - s.start_s) for s in self.segments if s.vector is not None and s.end_s > s.start_s]
        return fuse(readable) if readable else None

    def to_dict(self) -> dict:
        overall = self.overall()
        return {
            "media": self.media, "duration_s": round(self.duration_s, 3), "has_video": self.has_video,
            "has_audio": self.has_audio, "frame_rate_hz": self.frame_rate_hz, "frames_analyzed": self.frames_analyzed,
            "frames_with_face": len(self.observations), "weights": self.weights,
            "overall": None if overall is None else {
                "vector": overall.to_dict(), "dominant": overall.dominant(),
                "description": {"en": describe_en(overall), "zh": describe_zh(overall)}},
            "segments": [s.to_dict() for s in self.segments],
            "faces": [o.to_dict() for o in self.observations],
            "seconds": round(self.seconds, 3), "warnings": self.warnings,
        }


def summarize_face(observations: list[fer.FaceObservation], start_s: float, end_s: float, frames_in_span: int) -> FaceSummary | None:
    inside = [o for o in observations if start_s <= o.time_s <= end_s]
    if not inside:
        return None
    probabilities = np.mean([o.probabilities for o in inside], axis=0)
    coverage = len(inside) / max(frames_in_span, len(inside))
    confidence = float(np.mean([o.confidence for o in inside])) * coverage
    top = fer.FER_CLASSES[int(np.argmax(probabilities))]
    evidence = [f"{top} {probabilities.max():.2f} on {len(inside)} of {frames_in_span} frames "
                f"({inside[0].time_s:.2f}–{inside[-1].time_s:.2f} s)"]
    if max(o.n_faces for o in inside) > 1:
        evidence.append("several faces: followed the largest, then the one overlapping it")
    return FaceSummary(fer.probabilities_to_vector(probabilities), confidence, frames_in_span, len(inside), inside[len(inside) // 2].box.to_list(),
                       evidence)


def fuse_segment(face: FaceSummary | None, voice: SpeechEmotion | None, face_weight: float, voice_weight: float
                 ) -> tuple[EmotionVector | None, float]:
    """Confidence-weighted fusion of face and voice; (None, 0) when neither was read."""
    sources = []
    if face is not None and face_weight > 0 and face.confidence > 0:
        sources.append((face.vector.normalized(), face_weight * face.confidence, face.confidence))
    if voice is not None and voice_weight > 0 and voice.confidence > 0 and not voice.vector.is_zero:
        sources.append((voice.vector.normalized(), voice_weight * voice.confidence, voice.confidence))
    if not sources:
        return None, 0.0
    vector = fuse([(v, w) for v, w, _ in sources])
    total = sum(w for _, w, _ in sources)
    confidence = sum(w * c for _, w, c in sources) / total
    return vector, confidence


def deciding_modality(face: FaceSummary | None, voice: SpeechEmotion | None, face_weight: float, voice_weight: float) -> str | None:
    """Which modality decided the fused reading: the one with over twice the other's weighted confidence, else both."""
    face_share = face_weight * face.confidence if face is not None else 0.0
    voice_share = voice_weight * voice.confidence if voice is not None and not voice.vector.is_zero else 0.0
    if face_share <= 0 and voice_share <= 0:
        return None
    if face_share > 2 * voice_share:
        return "face"
    if voice_share > 2 * face_share:
        return "voice"
    return "face and voice"


def _too_short(start_s: float, end_s: float) -> str:
    return f"speech {start_s:.2f}–{end_s:.2f} s is shorter than {MIN_SPEECH_S} s: voice not read"


def normalises_per_speaker(ser: SpeechEmotionModel) -> bool:
    """Whether :func:`read_voices` normalises ``ser``'s cues per speaker (and so needs to know who speaks)."""
    return isinstance(ser, TrainedSER) or isinstance(ser, AcousticSER) and ser.baseline.source != "speaker"


def read_voices(spans: list[tuple[float, float]], speakers: list[str | None], audio16: Audio, ser: SpeechEmotionModel
                ) -> list[tuple[SpeechEmotion | None, list[str]]]:
    """The voice over each span, each speaker's spans normalised against that speaker's own speech in the media.

    Per-speaker normalisation (:mod:`emodub.emotion.normalise`) applies to the acoustic SER (when
    no explicit baseline was given) and to a trained SER; other models read each span on its own.
    """
    rate = audio16.sample_rate_hz
    pieces = [Audio(audio16.samples[int(a * rate):int(b * rate)], rate) for a, b in spans]
    out: list[tuple[SpeechEmotion | None, list[str]]] = []
    short = [piece.duration_s < MIN_SPEECH_S for piece in pieces]
    if not normalises_per_speaker(ser):
        for (a, b), piece, too_short in zip(spans, pieces, short):
            out.append((None, [_too_short(a, b)]) if too_short else (ser.predict(piece), []))
        return out
    cues = [None if too_short else measure_cues(piece) for piece, too_short in zip(pieces, short)]
    groups: dict[str | None, list[int]] = {}
    for index, speaker in enumerate(speakers):
        if cues[index] is not None:
            groups.setdefault(speaker, []).append(index)
    norms = {}
    for speaker, members in groups.items():
        norms[speaker] = speaker_norms([cues[i] for i in members], sum(pieces[i].duration_s for i in members))
    for index, ((a, b), piece) in enumerate(zip(spans, pieces)):
        if cues[index] is None:
            out.append((None, [_too_short(a, b)]))
            continue
        speaker_norm, notes = norms[speakers[index]]
        record = {"speaker": speakers[index], "reference": speaker_norm.source, "speech_s": speaker_norm.speech_s,
                  "own_weight": speaker_norm.own_weight, "segments": speaker_norm.segments}
        z = speaker_norm.z_scores(cues[index])
        if isinstance(ser, TrainedSER):
            emotion = ser.predict(piece, cues[index], z, normalisation=record)
        else:
            emotion = ser.classify(cues[index], z, speech_s=piece.duration_s, reference=f"{speakers[index] or 'speaker'}'s "
                                   f"{speaker_norm.source} norms", reliability=0.5 + 0.5 * speaker_norm.own_weight, normalisation=record)
        out.append((emotion, list(notes)))
    return out


def speakers_of(spans: list[tuple[float, float]], audio16: Audio) -> list[str | None]:
    """Who speaks in each span (the cast step's dominant speaker); one speaker when voices cannot be told apart."""
    try:
        cast = diarize(audio16)
    except InputError:
        return [None] * len(spans)
    return cast.labels_of(spans)


def _check_weights(face_weight: float, voice_weight: float) -> None:
    for name, value in (("face weight", face_weight), ("voice weight", voice_weight)):
        if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
            raise InputError(f"{name} {value!r} is not allowed; it must be a number ≥ 0")
    if face_weight == 0 and voice_weight == 0:
        raise InputError("face weight and voice weight are both 0; at least one must be > 0")


@dataclass(frozen=True)
class FaceTrack:
    """The main face's smoothed expression in every frame that showed one, and how many frames were read."""

    observations: list[fer.FaceObservation]
    frames_seen: int
    frame_rate_hz: float

    def frames_in(self, start_s: float, end_s: float) -> int:
        return sum(1 for i in range(self.frames_seen) if start_s <= i / self.frame_rate_hz <= end_s)


def read_faces(info: media.MediaInfo, frame_rate_hz: float, progress: Progress | None = None) -> FaceTrack:
    """FER over frames sampled at ``frame_rate_hz`` (progress as step "read faces")."""
    total = max(1, int(info.duration_s * frame_rate_hz))
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress("read faces", min(done[0], total), total)

    observations, seen = fer.analyze_frames(media.sample_frames(info, frame_rate_hz), progress=tick)
    return FaceTrack(fer.smooth(observations) if observations else [], seen, frame_rate_hz)


def read_segment(start_s: float, end_s: float, faces: FaceTrack | None, audio16: Audio | None, ser: SpeechEmotionModel,
                 face_weight: float = 0.5, voice_weight: float = 0.5, *,
                 voice_read: tuple[SpeechEmotion | None, list[str]] | None = None) -> SegmentAnalysis:
    """Face + voice over one span, fused and described; notes say what could not be read.

    ``voice_read``: the voice already read (:func:`read_voices`, normalised per speaker), instead of ``ser`` on the span alone.
    """
    voice, notes = None, []
    if voice_read is not None:
        voice, notes = voice_read[0], list(voice_read[1])
    elif audio16 is not None:
        rate = audio16.sample_rate_hz
        piece = Audio(audio16.samples[int(start_s * rate):int(end_s * rate)], rate)
        if piece.duration_s < MIN_SPEECH_S:
            notes.append(_too_short(start_s, end_s))
        else:
            voice = ser.predict(piece)
    face = None
    if faces is not None and faces.observations:
        face = summarize_face(faces.observations, start_s, end_s, faces.frames_in(start_s, end_s))
        if face is None:
            notes.append("no face in this segment")
    vector, confidence = fuse_segment(face, voice, face_weight, voice_weight)
    return SegmentAnalysis(start_s, end_s, face, voice, vector, confidence,
                           describe_en(vector) if vector is not None else "unknown",
                           describe_zh(vector) if vector is not None else "未知", notes,
                           deciding_modality(face, voice, face_weight, voice_weight))


def analyze_media(path: str | Path, *, frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ, face_weight: float = 0.5,
                  voice_weight: float = 0.5, ser: SpeechEmotionModel | None = None,
                  progress: Progress | None = None) -> MediaAnalysis:
    """Analyse a video or audio file (see the module docstring)."""
    started = time.perf_counter()
    _check_weights(face_weight, voice_weight)
    if not frame_rate_hz > 0:
        raise InputError(f"frame rate {frame_rate_hz!r} is not allowed; it must be > 0 frames per second")
    info = media.probe(path)
    warnings: list[str] = []
    ser = ser or AcousticSER()

    faces = None
    if info.has_video:
        faces = read_faces(info, frame_rate_hz, progress)
        if not faces.observations:
            warnings.append("no face found in any frame: expression not measured")
    else:
        warnings.append("no video stream: expression not measured")

    spans: list[tuple[float, float]] = []
    audio = None
    if info.has_audio:
        audio = media.extract_audio(info)
        spans = speech_segments(audio)
        if not spans:
            warnings.append("no speech found in the audio track: voice not measured" if audio.rms_dbfs > -60
                            else "the audio track is silent: voice not measured")
    else:
        warnings.append("no audio stream: voice not measured")

    voices = []
    if spans and audio is not None:
        speakers = speakers_of(spans, audio) if normalises_per_speaker(ser) else [None] * len(spans)
        voices = read_voices(spans, speakers, audio, ser)
    segments = []
    for index, (start_s, end_s) in enumerate(spans or [(0.0, info.duration_s)]):
        segments.append(read_segment(start_s, end_s, faces, audio if spans else None, ser, face_weight, voice_weight,
                                     voice_read=voices[index] if voices else None))
        if progress is not None:
            progress("speech segments", index + 1, max(1, len(spans)))
    if all(s.vector is None for s in segments):
        warnings.append("neither face nor voice could be read: no emotion measured")
    return MediaAnalysis(str(info.path), info.duration_s, info.has_video, info.has_audio, frame_rate_hz,
                         faces.frames_seen if faces else 0, faces.observations if faces else [], segments,
                         {"face": face_weight, "voice": voice_weight}, time.perf_counter() - started, warnings)


def plot_timeline(analysis: MediaAnalysis, path: str | Path) -> Path:
    """PNG: the 8 emotions of the fused segments over time, face detections marked below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    colors = dict(zip(EMOTION_NAMES, plt.get_cmap("tab10").colors))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for segment in analysis.segments:
        if segment.vector is None:
            top.axvspan(segment.start_s, segment.end_s, color="0.9", hatch="//", lw=0)
            continue
        bottom_edge = 0.0
        for name, weight in segment.vector.normalized().to_dict().items():
            top.bar(segment.start_s, weight, width=segment.end_s - segment.start_s, bottom=bottom_edge, align="edge",
                    color=colors[name], edgecolor="white", lw=0.5)
            bottom_edge += weight
        top.text((segment.start_s + segment.end_s) / 2, 1.02, segment.description_en, ha="center", va="bottom", fontsize=7)
    top.set_ylim(0, 1.15)
    top.set_ylabel("fused emotion share")
    fig.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colors[n]) for n in EMOTION_NAMES], labels=list(EMOTION_NAMES),
               ncol=8, fontsize=7, loc="lower center")
    if analysis.observations:
        times = [o.time_s for o in analysis.observations]
        bottom.scatter(times, [fer.FER_CLASSES.index(o.top_class) for o in analysis.observations], s=6,
                       c=[colors[fer.FER_TO_EMOTION[o.top_class]] for o in analysis.observations])
    bottom.set_yticks(range(len(fer.FER_CLASSES)), fer.FER_CLASSES, fontsize=6)
    bottom.set_ylabel("face")
    bottom.set_xlabel("time (s)")
    bottom.set_xlim(0, analysis.duration_s)
    fig.suptitle(f"{Path(analysis.media).name}: emotion timeline (face weight {analysis.weights['face']}, "
                 f"voice weight {analysis.weights['voice']})", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
