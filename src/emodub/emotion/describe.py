"""EmotionVector (+ voice qualities) ► a short description in English and Chinese.

The wording is the vocabulary that :func:`emodub.emotion.text.text_to_emotion` reads, so a
description read back gives the same dominant emotion (tests check the round trip):
"very angry, voice shaking" / "非常愤怒，声音发颤"; "mostly sad, a little afraid" /
"主要是悲伤，还有一点害怕".
"""

from __future__ import annotations

from emodub.emotion.space import EMOTION_NAMES, EMOTION_NAMES_ZH, EmotionVector, VoiceQualities

ADJECTIVE_EN = dict(zip(EMOTION_NAMES, ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")))
WORD_ZH = dict(zip(EMOTION_NAMES, EMOTION_NAMES_ZH))
QUALITY_EN = {"tremble": "voice shaking", "whisper": "whispering", "shout": "shouting", "sob": "sobbing",
              "breathy": "breathy voice", "flat": "flat voice"}
QUALITY_ZH = {"tremble": "声音发颤", "whisper": "低声耳语", "shout": "大声喊叫", "sob": "抽泣",
              "breathy": "喘着气", "flat": "冷淡"}
SECONDARY_SHARE = 0.25  # a second emotion is named when it has at least this share of the total
QUALITY_THRESHOLD = 0.5
# Cues that imply an emotion of their own when read back (sobbing ► sad, flat ► calm/cold); named
# only beside a clear emotion, so "a little surprised, sobbing" does not read back as sad.
EMOTIVE_QUALITIES = ("sob", "flat")


def _degree_en(weight: float) -> str:
    return "very " if weight >= 0.75 else "a little " if weight < 0.45 else ""


def _degree_zh(weight: float) -> str:
    return "非常" if weight >= 0.75 else "有点" if weight < 0.45 else ""


def _named(vector: EmotionVector) -> list[tuple[str, float]]:
    ranked = sorted(vector.to_dict().items(), key=lambda kv: kv[1], reverse=True)
    named = [ranked[0]]
    if ranked[1][1] >= SECONDARY_SHARE * vector.total and ranked[1][1] > 0.05:
        named.append(ranked[1])
    return named


def _qualities(qualities: VoiceQualities | None, vector: EmotionVector) -> list[str]:
    if qualities is None:
        return []
    weak = vector.is_zero or max(vector.to_list()) < 0.45
    return [name for name, value in qualities.to_dict().items()
            if value >= QUALITY_THRESHOLD and not (weak and name in EMOTIVE_QUALITIES)]


def describe_en(vector: EmotionVector, qualities: VoiceQualities | None = None) -> str:
    """English description, e.g. "very angry, voice shaking"; "neutral" for the zero vector."""
    parts = []
    if not vector.is_zero:
        named = _named(vector)
        first, weight = named[0]
        parts.append(("mostly " if len(named) > 1 else _degree_en(weight)) + ADJECTIVE_EN[first])
        parts += [_degree_en(w) + ADJECTIVE_EN[name] for name, w in named[1:]]
    parts += [QUALITY_EN[q] for q in _qualities(qualities, vector)]
    return ", ".join(parts) or "neutral"


def describe_zh(vector: EmotionVector, qualities: VoiceQualities | None = None) -> str:
    """Chinese description, e.g. "非常愤怒，声音发颤"; "中性" for the zero vector."""
    parts = []
    if not vector.is_zero:
        named = _named(vector)
        first, weight = named[0]
        parts.append(("主要是" if len(named) > 1 else _degree_zh(weight)) + WORD_ZH[first])
        parts += ["还" + ("有一点" if w < 0.45 else "有") + WORD_ZH[name] for name, w in named[1:]]
    parts += [QUALITY_ZH[q] for q in _qualities(qualities, vector)]
    return "，".join(parts) or "中性"
