"""Redoing one cue of a finished dub (new words, emotion, speaker or timing) and choosing between its takes."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from emodub import layout, media
from emodub.dub.inputs import ANALYSIS_RATE_HZ
from emodub.dub.options import DirectedEmotion
from emodub.dub.plan import cue_job
from emodub.dub.render import build_profiles, synthesize_cue
from emodub.dub.report import DubReport
from emodub.dub.run import finish
from emodub.dub.session import DubSession, Take
from emodub.emotion.space import EmotionVector
from emodub.errors import EmodubError, InputError
from emodub.progress import Progress
from emodub.subtitles import Cue, Part
from emodub.subtitles.directions import parse_cue
from emodub.subtitles.markup import strip_markup
from emodub.subtitles.retime import retimed


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
              hook: Progress | None = None) -> DubReport:
    """Redo cue ``index`` (1-based, as in the script) of a finished dub as a new take and write every output again.

    Only that cue is synthesised; every other cue keeps its audio to the sample.  An emotion in the
    edit replaces the cue's script directions (the editor's choice is the latest word); the edit is
    also kept in ``session`` so that a later edit starts from it.  The cue's earlier takes stay in
    ``session.takes`` (:func:`choose_take` puts one back).
    """
    notify = hook or (lambda step, done, total: None)
    started = time.perf_counter()
    number = cue_number(session, index)
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
    session.assigned[number] = [(part.speaker or speaker, edited_part_key(session, part, speaker, key)) for part in parts]
    tracks = layout.extract_tracks(media.probe(session.video))
    track16 = tracks.dialogue_mix().resampled(ANALYSIS_RATE_HZ)
    job = cue_job(session, number, track16, tracks.sample_rate_hz)
    build_profiles(session, notify)
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
    return finish(session, tracks, Path(output), report_path, notify, started)


def choose_take(session: DubSession, index: int, take: int, output: str | Path, *, report_path: str | Path | None = None,
                hook: Progress | None = None) -> DubReport:
    """Put take ``take`` (1-based) of cue ``index`` back into the mix and write every output again; nothing is synthesised."""
    number = cue_number(session, index)
    takes = session.takes.get(number, [])
    if not 1 <= take <= max(1, len(takes)):
        raise InputError(f"cue {index} has no take {take}; it has take{'s 1–' + str(len(takes)) if len(takes) > 1 else ' 1'}")
    if takes:
        if overlaps_neighbours(session, number, takes[take - 1].cue):
            raise InputError(f"take {take} of cue {index} ({takes[take - 1].cue.start_s:.2f}–{takes[take - 1].cue.end_s:.2f} s) "
                             "overlaps a neighbouring cue as it is now; move that cue first")
        takes[take - 1].restore(session, number)
        session.chosen[number] = take
    tracks = layout.extract_tracks(media.probe(session.video))
    return finish(session, tracks, Path(output), report_path, hook or (lambda step, done, total: None), time.perf_counter())


def cue_number(session: DubSession, index: int) -> int:
    """The position in ``session.cues`` of the cue numbered ``index`` in the script."""
    number = next((n for n, cue in enumerate(session.cues) if cue.index == index), None)
    if number is None:
        raise InputError(f"cue {index} is not in this dub; it has cues {session.cues[0].index}–{session.cues[-1].index}")
    return number


def overlaps_neighbours(session: DubSession, number: int, cue: Cue) -> bool:
    before = session.cues[number - 1].end_s if number > 0 else 0.0
    after = session.cues[number + 1].start_s if number + 1 < len(session.cues) else session.media_duration_s
    return cue.start_s < before - 1e-6 or cue.end_s > after + 1e-6


def edited_part_key(session: DubSession, part: Part, cue_speaker: str | None, cue_key: str) -> str:
    """A part of an edited cue speaks in the cue's voice, unless its text names another speaker (``BOB: …``)."""
    if part.speaker and part.speaker != cue_speaker:
        return session.voice_key(part.speaker)
    return cue_key
