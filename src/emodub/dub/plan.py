"""Cues into jobs: which voice speaks each part, how long each part may be, and the request that renders it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emodub.audio import Audio
from emodub.cast import Cast
from emodub.dub.direction import choose_emotion
from emodub.dub.inputs import ANALYSIS_RATE_HZ, named
from emodub.dub.options import EVERYONE
from emodub.emotion.space import EmotionVector, VoiceQualities
from emodub.subtitles import Cue, Part

if TYPE_CHECKING:
    from emodub.dub.session import DubSession


@dataclass(frozen=True)
class PartJob:
    """One part of a cue for a worker process (plain data, picklable)."""

    text: str
    voice_samples: np.ndarray
    voice_rate_hz: int
    vector: EmotionVector | None
    qualities: VoiceQualities
    reference_samples: np.ndarray | None  # the original performance under the part (the emotion reference)


@dataclass(frozen=True)
class CueJob:
    """Everything a worker process needs to synthesise one cue."""

    index: int
    parts: tuple[PartJob, ...]
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


def part_targets(free_s: list[float], total_s: float, rate_hz: int) -> list[float]:
    """``total_s`` shared in proportion to the parts' free lengths, on whole samples that add up exactly."""
    edges = np.round(np.cumsum([0.0, *free_s]) / sum(free_s) * total_s * rate_hz).astype(int)
    return [float(b - a) / rate_hz for a, b in zip(edges, edges[1:])]


def part_spans(cue: Cue) -> list[tuple[float, float]]:
    """Where each part of a cue is likely said in the original: the span shared by the parts' lengths in characters."""
    if not cue.parts:
        return []
    lengths = [max(1, len(part.text)) for part in cue.parts]
    edges = np.cumsum([0, *lengths]) / sum(lengths) * cue.span_s + cue.start_s
    return list(zip(edges[:-1], edges[1:]))


def assign_speakers(cues: list[Cue], voices: dict[str, Path], cast: Cast | None) -> list[list[tuple[str | None, str]]]:
    """(speaker, voice key) of every part: a named voice; else everyone's voice; else the cast's speaker from the video.

    A script name the cast does not know (``ALICE:``) is the cast speaker who talks most under
    that name's lines; a part without a name is the speaker who talks most under it.
    """
    spans = [part_spans(cue) for cue in cues]
    by_name: dict[str, str] = {}
    if cast is not None and cast.speakers:
        talk: dict[str, dict[str, float]] = {}
        for cue, cue_spans in zip(cues, spans):
            for part, (start, end) in zip(cue.parts, cue_spans):
                if part.speaker is None or named(voices, part.speaker) or cast.speaker(part.speaker):
                    continue
                for speaker in cast.speakers:
                    talk.setdefault(part.speaker, {}).setdefault(speaker.label, 0.0)
                    talk[part.speaker][speaker.label] += speaker.talk_within(start, end)
        by_name = {name: max(counts, key=counts.__getitem__) for name, counts in talk.items() if max(counts.values()) > 0}
    assigned = []
    for cue, cue_spans in zip(cues, spans):
        row = []
        for part, (start, end) in zip(cue.parts, cue_spans):
            key = named(voices, part.speaker) or (EVERYONE if EVERYONE in voices else None)
            if key is not None:
                row.append((part.speaker, key))
                continue
            assert cast is not None  # built whenever a part has no given voice
            found = (cast.speaker(part.speaker) if part.speaker else None) or cast.speaker(by_name.get(part.speaker or "", "")) \
                or cast.dominant(start, end) or cast.dominant(cue.start_s, cue.end_s) \
                or max(cast.speakers, key=lambda s: s.speaking_time_s)
            given = named(voices, found.label)  # --voice SPEAKER_1=FILE: another voice for a speaker found in the video
            row.append((part.speaker or found.label, given or f"cast:{found.label}"))
        assigned.append(row)
    return assigned


def needs_cast(cues: list[Cue], voices: dict[str, Path]) -> bool:
    return EVERYONE not in voices and any(named(voices, part.speaker) is None for cue in cues for part in cue.parts)


def cue_job(session: DubSession, number: int, track16: Audio, track_rate_hz: int) -> CueJob | None:
    """The synthesis job of cue ``number`` (0-based) and its parts' plans (kept in ``session.plans``); None: nothing to say."""
    cue, row, options = session.cues[number], session.assigned[number], session.options
    if not cue.parts:
        session.plans.pop(number, None)
        return None
    part_jobs, part_plans = [], []
    for part, (start, end), (speaker, key) in zip(cue.parts, part_spans(cue), row):
        resolved = Part(part.text, speaker, part.preset, part.description, part.turn)
        chosen, qualities, source = choose_emotion(resolved, cue.index, session.detected[number][0], options, session.given)
        part_plans.append((resolved, key, chosen, qualities, source))
        original = track16.samples[int(start * ANALYSIS_RATE_HZ):int(end * ANALYSIS_RATE_HZ)]
        undirected = source == "detected" or source.startswith("given")  # no script direction, no job override
        use_reference = options.original_prosody and undirected and len(original) >= ANALYSIS_RATE_HZ // 2
        reference = session.references[key]
        part_jobs.append(PartJob(part.text, reference.samples, reference.sample_rate_hz, chosen, qualities,
                                 original if use_reference else None))
    session.plans[number] = part_plans
    next_start = session.cues[number + 1].start_s if number + 1 < len(session.cues) else session.media_duration_s
    return CueJob(number, tuple(part_jobs), cue.span_s, next_start - cue.start_s, track_rate_hz, options.base_voice,
                  options.seed, options.frame_match, options.max_rounds, options.sync, options.naturalness_margin, options.watermark,
                  options.commercial)
