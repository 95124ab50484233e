"""Markup that is never spoken: ASS override blocks and drawings, HTML-style tags, WebVTT voices and timestamps.

Works on an event's raw text as pysubs2 gives it (``{\\i1}``-style overrides, ``\\N`` breaks,
unknown HTML tags kept so that ``<v Name>`` survives to name the speaker).
"""

from __future__ import annotations

import re

_DRAWING = re.compile(r"\{[^{}]*\\p[1-9][^{}]*\}.*?(?=\{[^{}]*\\p0[^{}]*\}|$)", re.DOTALL)
_OVERRIDE = re.compile(r"\{[^{}]*\\[^{}]*\}")  # {\an8}, {\i1}, {\k20}, {\pos(1,2)} — a block with a backslash
_VTT_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|<\d{1,2}:\d{2}(?::\d{2})?[.,]\d{3}>")  # tags, WebVTT karaoke timestamps
_HTML_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&nbsp;": " ", "&lrm;": "", "&rlm;": ""}


_SIGN = re.compile(r"\{[^{}]*\\(?:pos|move|clip|iclip|org)\(")


def is_sign(raw: str) -> bool:
    """An event placed on screen by coordinates (``\\pos``, ``\\move``, ``\\clip``): typesetting of on-screen text, not dialogue."""
    return bool(_SIGN.search(raw))


def strip_markup(raw: str) -> tuple[list[str], str | None]:
    """(lines of plain text, WebVTT voice name or None) of a cue's raw text."""
    text = _OVERRIDE.sub("", _DRAWING.sub("", raw))
    for entity, plain in _HTML_ENTITIES.items():  # decoded first: escaped markup (&lt;b&gt;) is markup too, never spoken
        text = text.replace(entity, plain)
    voice = _VTT_VOICE.search(text)
    text = _HTML_TAG.sub("", text)
    text = text.replace("\\h", " ").replace("\\N", "\n").replace("\\n", "\n")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return [line for line in lines if line], (voice.group(1).strip() if voice else None)
