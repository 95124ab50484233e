"""A cue's plain text ► parts to speak: who says what, with which direction, and what is not spoken.

- Annotations in ``[...]``, ``(...)``, ``（…）``, ``【…】`` are directions, not words.  Each is read
  through T2E (:func:`emodub.emotion.text.text_to_emotion`): one that carries an emotion or a
  delivery cue (``[angrily]``, ``(whispering)``, ``（哽咽）``) directs the words after it; one that
  does not (``[DOOR SLAMS]``, ``[music]``) is a sound annotation, not spoken, and listed.
  ``♪ … ♪`` lyrics are never spoken.
- emodub's own tags keep working: ``[angry:0.8]`` / ``[悲伤]`` (a preset) and
  ``{emotion: whispering, scared}`` (a description).  A malformed preset tag (``[angry:1.5]``)
  is an error that names the cue.
- A direction changes the delivery from that point on: ``[whispers] I told you. [laughs] Didn't
  I?`` is two parts.  Consecutive directions before the same words combine.
- Speakers: ``NAME:`` / ``NAME：`` prefixes, ``[speaker: NAME]`` and dialogue dashes (``- Who's
  there?`` / ``- Nobody.``, one turn per dashed line) give each part its speaker; a turn
  without a name gets the cue's own speaker (the ASS ``Name`` field or WebVTT ``<v Name>``),
  or none (then the original audio decides, see :mod:`emodub.cast`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from emodub.emotion.space import EmotionVector
from emodub.emotion.text import text_to_emotion
from emodub.errors import InputError

_BRACKETS = re.compile(r"\[[^\[\]]*\]|\([^()]*\)|（[^（）]*）|【[^【】]*】|\{[^{}]*\}|♪[^♪]*(?:♪|$)")
_PRESET_SYNTAX = re.compile(r"^\s*[^\s:：]+\s*:\s*[-+0-9.]+\s*$")  # name:intensity, always our own tag
_SPEAKER_TAG = re.compile(r"^\s*speaker\s*[:：]\s*(.+?)\s*$", re.IGNORECASE)
_EMOTION_TAG = re.compile(r"^\s*emotion\s*[:：]\s*(.+?)\s*$", re.IGNORECASE)
_DASH = re.compile(r"^\s*(?:[-–—]|>>)\s*")  # dialogue dashes; ">>" marks a new speaker in broadcast captions
# NAME: — up to three words that start with a capital letter, a CJK character or a digit-free token
# like SPEAKER_1; not a clock time (10:30) and not a sentence ("He said: ...": lower-case words).
_NAME_PREFIX = re.compile(r"^\s*((?:[A-Z\u4e00-\u9fff][\w'.\-\u4e00-\u9fff]*)(?:\s+[A-Z\u4e00-\u9fff][\w'.\-\u4e00-\u9fff]*){0,2})\s*[:：]\s*")


@dataclass(frozen=True)
class Part:
    """Words spoken in one delivery by one speaker; a cue is one or more parts in order."""

    text: str
    speaker: str | None = None
    preset: EmotionVector | None = None  # from a [name:intensity] tag
    description: str | None = None  # from an annotation or an {emotion: ...} tag
    turn: int = 0  # dialogue turn within the cue (dashes, NAME: prefixes)

    @property
    def directed(self) -> bool:
        return self.preset is not None or self.description is not None


@dataclass
class ParsedCue:
    parts: list[Part] = field(default_factory=list)
    not_spoken: list[str] = field(default_factory=list)  # sound annotations and lyrics, as written


def _turns(lines: list[str]) -> list[str]:
    """One turn per dashed line when at least two lines start with a dash; else the whole cue."""
    dashed = [bool(_DASH.match(line)) for line in lines]
    if sum(dashed) < 2:
        return [" ".join(_DASH.sub("", line, count=1) if i == 0 else line for i, line in enumerate(lines))]
    turns: list[str] = []
    for line, is_dash in zip(lines, dashed):
        if is_dash or not turns:
            turns.append(_DASH.sub("", line, count=1))
        else:
            turns[-1] += " " + line
    return turns


def _direction(inner: str, bracket: str, cue_index: int) -> tuple[str, object] | None:
    """("preset", vector) / ("description", text) / ("speaker", name), or None for a sound annotation."""
    if speaker := _SPEAKER_TAG.match(inner):
        return "speaker", speaker.group(1)
    if bracket == "{":
        if emotion := _EMOTION_TAG.match(inner):
            return "description", emotion.group(1)
        return None
    if bracket == "[":
        explicit = bool(_PRESET_SYNTAX.match(inner))
        try:
            return "preset", EmotionVector.parse_preset(inner.strip())
        except InputError as error:
            if explicit:
                raise InputError(f"cue {cue_index}: tag [{inner}]: {error}") from error
    parsed = text_to_emotion(inner)
    if parsed.vector is not None or any(value > 0 for value in vars(parsed.qualities).values()):
        return "description", inner.strip()
    return None


def _close(out: ParsedCue, words: list[str], speaker: str | None, preset: EmotionVector | None, descriptions: list[str],
           turn: int) -> None:
    """The words gathered so far become a part (if there are any) with the current direction."""
    spoken = " ".join(" ".join(words).split())
    if spoken:
        out.parts.append(Part(spoken, speaker, preset, ", ".join(descriptions) or None, turn))
    words.clear()


def parse_cue(lines: list[str], *, index: int, speaker: str | None = None) -> ParsedCue:
    """Parts of a cue from its plain-text lines (markup already removed)."""
    out = ParsedCue()
    for turn, text in enumerate(_turns(lines)):
        current_speaker = speaker
        if name := _NAME_PREFIX.match(text):
            current_speaker, text = name.group(1), text[name.end():]
        preset: EmotionVector | None = None
        descriptions: list[str] = []
        words: list[str] = []

        position = 0
        for match in _BRACKETS.finditer(text):
            words.append(text[position:match.start()])
            position = match.end()
            token = match.group(0)
            found = None if token.startswith("♪") else _direction(token[1:-1], token[0], index)
            if found is None:
                out.not_spoken.append(token.strip())
                continue
            kind, value = found
            if kind == "speaker" or " ".join(words).strip():  # a new speaker, or a direction after words: a new part
                _close(out, words, current_speaker, preset, descriptions, turn)
                preset, descriptions = None, []
                if kind == "speaker":
                    current_speaker = str(value)
                    continue
            if kind == "preset":
                preset = value  # type: ignore[assignment]
            else:
                descriptions.append(str(value))
        words.append(text[position:])
        _close(out, words, current_speaker, preset, descriptions, turn)
    return out
