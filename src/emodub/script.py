"""The dubbing script: SRT cues (new line + the time span it must fill), per-cue emotion tags.

A cue's text may start with tags that override the detected emotion for that cue:

- ``[angry:0.8]`` or ``[悲伤]`` — a preset, with an optional intensity 0..1;
- ``{emotion: whispering, scared}`` — a description, read like ``--emotion-text``.

Tags are removed from the spoken text.  Parsing uses the ``srt`` package.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import srt

from emodub.emotion.space import EmotionVector
from emodub.errors import InputError

_PRESET_TAG = re.compile(r"^\s*\[([^\[\]]+)\]\s*")
PLACEHOLDER_PREFIX = "<write the new line here"
_TEXT_TAG = re.compile(r"^\s*\{\s*emotion\s*:\s*([^{}]+)\}\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Cue:
    index: int
    start_s: float
    end_s: float
    text: str  # what to say, tags removed
    preset: EmotionVector | None = None  # from a [name:intensity] tag
    description: str | None = None  # from an {emotion: ...} tag

    @property
    def span_s(self) -> float:
        return self.end_s - self.start_s


def parse_cue_text(content: str, index: int) -> tuple[str, EmotionVector | None, str | None]:
    """Split a cue's text into (spoken text, preset tag, description tag)."""
    text = " ".join(content.split())
    if text.startswith(PLACEHOLDER_PREFIX):
        raise InputError(f"cue {index} still holds the template placeholder {text!r}; write the new line in its place")
    preset, description = None, None
    while True:
        if match := _PRESET_TAG.match(text):
            try:
                preset = EmotionVector.parse_preset(match.group(1).strip())
            except InputError as error:
                raise InputError(f"cue {index}: tag [{match.group(1)}]: {error}") from error
        elif match := _TEXT_TAG.match(text):
            description = match.group(1).strip()
        else:
            break
        text = text[match.end():]
    if not text.strip():
        raise InputError(f"cue {index} has no words to say (only tags or blank); write the line or delete the cue")
    return text.strip(), preset, description


def read_script(path: str | Path, *, media_duration_s: float) -> list[Cue]:
    """Cues of an SRT file, checked: non-empty, inside the media, in order, not overlapping."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"script {str(path)!r} does not exist")
    try:
        subtitles = list(srt.parse(path.read_text(encoding="utf-8-sig")))
    except (srt.SRTParseError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"script {str(path)!r} is not a valid SRT file: {error}") from error
    if not subtitles:
        raise InputError(f"script {str(path)!r} has no cues")
    cues: list[Cue] = []
    for sub in subtitles:
        start, end = sub.start.total_seconds(), sub.end.total_seconds()
        if end <= start:
            raise InputError(f"cue {sub.index} ends ({end:.3f} s) before it starts ({start:.3f} s)")
        if end > media_duration_s + 1e-3:
            raise InputError(f"cue {sub.index} ends at {end:.3f} s, after the video ends ({media_duration_s:.3f} s)")
        if cues and start < cues[-1].end_s - 1e-6:
            raise InputError(f"cue {sub.index} starts at {start:.3f} s, before cue {cues[-1].index} ends ({cues[-1].end_s:.3f} s)")
        text, preset, description = parse_cue_text(sub.content, sub.index)
        cues.append(Cue(sub.index, start, end, text, preset, description))
    return cues


def write_srt(cues: list[tuple[float, float, str]], path: str | Path) -> None:
    """Write (start_s, end_s, text) cues as SRT."""
    subtitles = [srt.Subtitle(i + 1, dt.timedelta(seconds=start), dt.timedelta(seconds=end), text)
                 for i, (start, end, text) in enumerate(cues)]
    Path(path).write_text(srt.compose(subtitles), encoding="utf-8")


def placeholder(span_s: float) -> str:
    """Text of a template cue: says what to do and how long the shot is."""
    return f"{PLACEHOLDER_PREFIX}: {span_s:.2f} s>"


def template_cues(speech: list[tuple[float, float]], cuts_s: list[float]) -> list[tuple[float, float]]:
    """Speech segments split at shot cuts, so that no cue straddles a cut."""
    spans = []
    for start, end in speech:
        edges = [start, *[c for c in cuts_s if start < c < end], end]
        spans += [(a, b) for a, b in zip(edges, edges[1:]) if b - a >= 0.2]
    return spans
