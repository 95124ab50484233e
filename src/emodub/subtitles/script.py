"""The dubbing script: subtitle cues (the new lines and the spans they must fill), read as people write them.

SRT, WebVTT and ASS/SSA through ``pysubs2``; any encoding subtitles come in
(:mod:`.decoding`); markup stripped (:mod:`.markup`); annotations, tags and speakers read
(:mod:`.directions`).  Timing slack every subtitle editor tolerates is trimmed with a warning:
an overlap of up to two frames (at least 80 ms), and a last cue that ends up to 0.5 s past the
end of the video.  Larger problems are errors that name the cue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from emodub.errors import InputError
from emodub.subtitles.decoding import decode_text
from emodub.subtitles.directions import Part, parse_cue
from emodub.subtitles.markup import is_sign, strip_markup
from emodub.textnorm import check_line_length

PLACEHOLDER_PREFIX = "<write the new line here"
OVERLAP_FRAMES = 2
MIN_OVERLAP_SLACK_S = 0.08
TAIL_SLACK_S = 0.5
FORMATS = {"srt": "SRT", "vtt": "WebVTT", "ass": "ASS", "ssa": "SSA"}


@dataclass(frozen=True)
class Cue:
    """A span to fill and what to say in it (one or more parts); no parts: keep the original audio."""

    index: int  # 1-based position among the file's dialogue events
    start_s: float
    end_s: float
    parts: tuple[Part, ...]
    not_spoken: tuple[str, ...] = ()  # sound annotations and lyrics, listed in the report
    warnings: tuple[str, ...] = ()

    @property
    def span_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def text(self) -> str:
        return " ".join(part.text for part in self.parts)

    @property
    def speakers(self) -> list[str | None]:
        return list(dict.fromkeys(part.speaker for part in self.parts))


@dataclass(frozen=True)
class Script:
    path: Path
    format: str  # SRT | WebVTT | ASS | SSA
    encoding: str
    cues: list[Cue]
    warnings: list[str] = field(default_factory=list)


def _load_events(path: Path):
    import pysubs2

    text, encoding = decode_text(path.read_bytes(), what=f"script {str(path)!r}")
    try:
        subs = pysubs2.SSAFile.from_string(text, keep_unknown_html_tags=True)
    except (pysubs2.exceptions.Pysubs2Error, ValueError) as error:
        raise InputError(f"script {str(path)!r} is not a subtitle file emodub reads (SRT, WebVTT, ASS/SSA): {error}") from None
    return subs, FORMATS.get(subs.format or "", str(subs.format).upper()), encoding


def read_script(path: str | Path, *, media_duration_s: float, fps: float | None = None) -> Script:
    """Cues of a subtitle file, checked against the media: in order, inside it, not overlapping (beyond slack)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"script {str(path)!r} does not exist")
    subs, format_name, encoding = _load_events(path)
    events = [event for event in subs if not event.is_comment]
    signs = [event for event in events if is_sign(event.text)]
    events = [event for event in events if not is_sign(event.text)]
    if not events:
        raise InputError(f"script {str(path)!r} has no cues" + (f" (only {len(signs)} positioned signs)" if signs else ""))
    overlap_slack_s = max(MIN_OVERLAP_SLACK_S, OVERLAP_FRAMES / fps if fps else 0.0)
    raw: list[tuple[int, float, float, list[str], str | None]] = []
    for number, event in enumerate(events, 1):
        if event.text.strip().startswith(PLACEHOLDER_PREFIX):  # before the markup goes: the placeholder looks like a tag
            raise InputError(f"cue {number} still holds the template placeholder {event.text.strip()!r}; write the new line in its place")
        lines, voice = strip_markup(event.text)
        check_line_length(" ".join(lines), f"cue {number}")
        raw.append((number, event.start / 1000, event.end / 1000, lines, event.name.strip() or voice))
    raw.sort(key=lambda item: (item[1], item[0]))
    cues: list[Cue] = []
    script_warnings = [f"{len(signs)} sign event(s) placed with \\pos/\\move/\\clip skipped: on-screen text, not dialogue"] if signs else []
    for position, (number, start, end, lines, speaker) in enumerate(raw):
        warnings: list[str] = []
        if end <= start:
            raise InputError(f"cue {number} ends ({end:.3f} s) before it starts ({start:.3f} s)")
        if start >= media_duration_s:
            raise InputError(f"cue {number} starts at {start:.3f} s, after the video ends ({media_duration_s:.3f} s)")
        if end > media_duration_s:
            if end - media_duration_s > TAIL_SLACK_S + 1e-9:
                raise InputError(f"cue {number} ends at {end:.3f} s, {end - media_duration_s:.3f} s after the video ends "
                                 f"({media_duration_s:.3f} s); up to {TAIL_SLACK_S} s is trimmed, more is an error")
            warnings.append(f"ends {(end - media_duration_s) * 1000:.0f} ms after the video; trimmed to the video's end {media_duration_s:.3f} s")
            end = media_duration_s
        if position + 1 < len(raw) and raw[position + 1][1] < end:
            following, overlap = raw[position + 1], end - raw[position + 1][1]
            if overlap > overlap_slack_s + 1e-9:
                raise InputError(f"cue {following[0]} starts at {following[1]:.3f} s, {overlap * 1000:.0f} ms before cue {number} ends "
                                 f"({end:.3f} s); overlaps up to {overlap_slack_s * 1000:.0f} ms are trimmed, more is an error")
            warnings.append(f"overlapped cue {following[0]} by {overlap * 1000:.0f} ms; its end was trimmed to {following[1]:.3f} s")
            end = following[1]
            if end <= start:
                raise InputError(f"cue {number} starts at {start:.3f} s, at or after cue {following[0]}, which starts at {end:.3f} s")
        parsed = parse_cue(lines, index=number, speaker=speaker)
        if not parsed.parts:
            warnings.append("nothing to say (only annotations or blank); the original audio is kept")
        script_warnings += [f"cue {number}: {w}" for w in warnings]
        cues.append(Cue(number, start, end, tuple(parsed.parts), tuple(parsed.not_spoken), tuple(warnings)))
    return Script(path, format_name, encoding, cues, script_warnings)


def write_srt(cues: list[tuple[float, float, str]], path: str | Path) -> None:
    """Write (start_s, end_s, text) cues as UTF-8 SRT."""
    import pysubs2

    subs = pysubs2.SSAFile()
    for start, end, text in cues:
        subs.append(pysubs2.SSAEvent(start=round(start * 1000), end=round(end * 1000), text=text.replace("\n", "\\N")))
    Path(path).write_text(subs.to_string("srt"), encoding="utf-8")


def placeholder(span_s: float) -> str:
    """Text of a template cue when nothing could be transcribed: says what to do and how long the shot is."""
    return f"{PLACEHOLDER_PREFIX}: {span_s:.2f} s>"


def template_cues(speech: list[tuple[float, float]], cuts_s: list[float]) -> list[tuple[float, float]]:
    """Speech segments split at shot cuts, so that no cue straddles a cut."""
    spans = []
    for start, end in speech:
        edges = [start, *[c for c in cuts_s if start < c < end], end]
        spans += [(a, b) for a, b in zip(edges, edges[1:]) if b - a >= 0.2]
    return spans
