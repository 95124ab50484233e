"""The emotion space: an 8-dim EmotionVector in IndexTTS2's order, presets, clamp and fusion.

IndexTTS2 (``indextts/infer_v2.py``) takes ``emo_vector`` as eight weights in the order
``[happy, angry, sad, afraid, disgusted, melancholic, surprised, calm]``; its web UI rescales
them with a per-dimension bias and caps the sum at 0.8 (``normalize_emo_vec``) so the voice
keeps its timbre.  :meth:`EmotionVector.clamp` mirrors that, so emodub's clamp and theirs agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

from emodub.errors import InputError

EMOTION_NAMES: tuple[str, ...] = (
    "happy",
    "angry",
    "sad",
    "afraid",
    "disgusted",
    "melancholic",
    "surprised",
    "calm",
)
EMOTION_NAMES_ZH: tuple[str, ...] = ("高兴", "愤怒", "悲伤", "害怕", "厌恶", "忧郁", "惊讶", "平静")

# Upstream IndexTTS2 web UI: de-emphasises emotions that can cause strange results.
INDEXTTS_EMOTION_BIAS: tuple[float, ...] = (0.9375, 0.875, 1.0, 1.0, 0.9375, 0.9375, 0.6875, 0.5625)
INDEXTTS_MAX_TOTAL = 0.8

_SYNONYMS: dict[str, str] = {
    # English
    "happy": "happy", "happiness": "happy", "joy": "happy", "joyful": "happy", "glad": "happy",
    "cheerful": "happy", "excited": "happy", "excitement": "happy", "delighted": "happy",
    "angry": "angry", "anger": "angry", "mad": "angry", "furious": "angry", "rage": "angry",
    "irritated": "angry", "annoyed": "angry",
    "sad": "sad", "sadness": "sad", "unhappy": "sad", "sorrow": "sad", "grief": "sad",
    "afraid": "afraid", "fear": "afraid", "fearful": "afraid", "scared": "afraid",
    "frightened": "afraid", "terrified": "afraid", "nervous": "afraid", "anxious": "afraid",
    "disgusted": "disgusted", "disgust": "disgusted", "contempt": "disgusted",
    "melancholic": "melancholic", "melancholy": "melancholic", "gloomy": "melancholic",
    "depressed": "melancholic", "low": "melancholic", "wistful": "melancholic",
    "surprised": "surprised", "surprise": "surprised", "astonished": "surprised",
    "amazed": "surprised", "shocked": "surprised",
    "calm": "calm", "neutral": "calm", "relaxed": "calm", "peaceful": "calm", "serene": "calm",
    # Chinese
    "高兴": "happy", "开心": "happy", "快乐": "happy", "喜悦": "happy", "喜": "happy",
    "愤怒": "angry", "生气": "angry", "怒": "angry", "恼火": "angry",
    "悲伤": "sad", "伤心": "sad", "难过": "sad", "哀": "sad",
    "害怕": "afraid", "恐惧": "afraid", "惧": "afraid", "紧张": "afraid",
    "厌恶": "disgusted", "恶心": "disgusted", "讨厌": "disgusted",
    "忧郁": "melancholic", "低落": "melancholic", "沮丧": "melancholic",
    "惊讶": "surprised", "惊喜": "surprised", "吃惊": "surprised", "震惊": "surprised",
    "平静": "calm", "中性": "calm", "冷静": "calm", "平和": "calm",
}


def canonical_emotion_name(name: str) -> str:
    """Map an English/Chinese emotion name or common synonym onto one of the 8 dimensions."""
    key = name.strip().lower()
    if key in _SYNONYMS:
        return _SYNONYMS[key]
    allowed = ", ".join(EMOTION_NAMES) + " (or " + " ".join(EMOTION_NAMES_ZH) + ")"
    raise InputError(f"unknown emotion {name!r}; allowed: {allowed}")


def _check_unit_interval(value: float, what: str) -> float:
    if not isinstance(value, (int, float)) or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"{what} {value!r} is outside the allowed range 0..1")
    return float(value)


@dataclass(frozen=True)
class EmotionVector:
    """Eight non-negative emotion weights in IndexTTS2's order.

    Weights are 0..1 each.  Their sum is the overall intensity; IndexTTS2 keeps it ≤ 0.8
    (see :meth:`clamp`).  Arithmetic returns new, valid vectors.
    """

    happy: float = 0.0
    angry: float = 0.0
    sad: float = 0.0
    afraid: float = 0.0
    disgusted: float = 0.0
    melancholic: float = 0.0
    surprised: float = 0.0
    calm: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _check_unit_interval(getattr(self, f.name), f"emotion weight {f.name}"))

    # -- construction -------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, intensity: float = 1.0) -> EmotionVector:
        """One-hot vector for ``name`` (English, Chinese or a synonym) scaled by ``intensity``."""
        dim = canonical_emotion_name(name)
        return cls(**{dim: _check_unit_interval(intensity, "intensity")})

    @classmethod
    def parse_preset(cls, spec: str) -> EmotionVector:
        """Parse ``NAME`` or ``NAME:INTENSITY`` as the CLI's ``--emotion`` takes it."""
        name, _, level = spec.partition(":")
        if not level:
            return cls.preset(name)
        try:
            intensity = float(level)
        except ValueError:
            raise InputError(f"intensity {level!r} in --emotion {spec!r} is not a number 0..1") from None
        return cls.preset(name, intensity)

    @classmethod
    def from_list(cls, values: Sequence[float]) -> EmotionVector:
        """Build from 8 numbers in IndexTTS2's order."""
        if len(values) != len(EMOTION_NAMES):
            raise InputError(
                f"emotion vector has {len(values)} values; 8 are needed in the order "
                + ",".join(EMOTION_NAMES)
            )
        return cls(*[float(v) for v in values])

    @classmethod
    def parse_list(cls, text: str) -> EmotionVector:
        """Parse ``v1,..,v8`` (the CLI's ``--emotion-vector``)."""
        try:
            values = [float(part) for part in text.split(",")]
        except ValueError:
            raise InputError(f"emotion vector {text!r} must be 8 comma-separated numbers 0..1") from None
        return cls.from_list(values)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, float]) -> EmotionVector:
        """Build from ``{name: weight}``; names may be English, Chinese or synonyms."""
        weights: dict[str, float] = {}
        for name, value in mapping.items():
            dim = canonical_emotion_name(name)
            if dim in weights:
                raise InputError(f"emotion {name!r} is given twice (as {dim!r})")
            weights[dim] = value
        return cls(**weights)

    # -- views ----------------------------------------------------------------------------
    def to_list(self) -> list[float]:
        return [getattr(self, name) for name in EMOTION_NAMES]

    def to_dict(self) -> dict[str, float]:
        return {name: round(getattr(self, name), 6) for name in EMOTION_NAMES}

    @property
    def total(self) -> float:
        """Sum of the weights: the overall emotional intensity."""
        return sum(self.to_list())

    @property
    def is_zero(self) -> bool:
        return self.total == 0.0

    def dominant(self) -> str | None:
        """Name of the largest weight, or None for the zero vector."""
        if self.is_zero:
            return None
        values = self.to_list()
        return EMOTION_NAMES[values.index(max(values))]

    def normalized(self) -> EmotionVector:
        """Same direction with weights summing to 1 (zero stays zero)."""
        total = self.total
        return self if total == 0.0 else self.scaled(1.0 / total)

    # -- arithmetic that keeps weights valid ----------------------------------------------
    def scaled(self, factor: float) -> EmotionVector:
        """Multiply every weight by ``factor`` ≥ 0; refuses to leave the 0..1 range."""
        if factor < 0 or math.isnan(factor):
            raise InputError(f"scale factor {factor!r} must be ≥ 0")
        values = [v * factor for v in self.to_list()]
        if max(values) > 1.0 + 1e-9:
            raise InputError(f"scaling by {factor!r} gives an emotion weight of {max(values):.3f}; the maximum is 1")
        return EmotionVector.from_list([min(1.0, v) for v in values])

    def __add__(self, other: EmotionVector) -> EmotionVector:
        return EmotionVector.from_list([min(1.0, a + b) for a, b in zip(self.to_list(), other.to_list())])

    def with_intensity(self, intensity: float) -> EmotionVector:
        """Rescale so the largest weight equals ``intensity`` (0..1), keeping the mix."""
        _check_unit_interval(intensity, "intensity")
        peak = max(self.to_list())
        return self if peak == 0.0 else EmotionVector.from_list([v / peak * intensity for v in self.to_list()])

    def clamp(self, max_total: float = INDEXTTS_MAX_TOTAL, *, apply_bias: bool = False) -> EmotionVector:
        """Bound the amplitude so the voice keeps its timbre.

        With ``apply_bias`` the per-dimension bias of IndexTTS2's ``normalize_emo_vec`` is applied
        first; then, if the sum exceeds ``max_total``, all weights are scaled down together.
        ``clamp(0.8, apply_bias=True)`` gives exactly the vector IndexTTS2 would use.
        """
        if not 0.0 < max_total <= 8.0:
            raise InputError(f"max_total {max_total!r} is outside the allowed range (0, 8]")
        values = self.to_list()
        if apply_bias:
            values = [v * b for v, b in zip(values, INDEXTTS_EMOTION_BIAS)]
        total = sum(values)
        if total > max_total:
            values = [v * max_total / total for v in values]
        return EmotionVector.from_list(values)

    def arousal_valence(self) -> tuple[float, float]:
        """Circumplex position (arousal, valence), each −1..1, of the normalised mix.

        Coordinates per emotion follow Russell (1980) and Scherer (2005)'s placements.
        """
        if self.is_zero:
            return 0.0, 0.0
        weights = self.normalized().to_list()
        arousal = sum(w * CIRCUMPLEX[n][0] for w, n in zip(weights, EMOTION_NAMES))
        valence = sum(w * CIRCUMPLEX[n][1] for w, n in zip(weights, EMOTION_NAMES))
        return arousal, valence

    def describe_short(self) -> str:
        """``angry 0.80, sad 0.10`` — the non-zero weights, largest first."""
        items = sorted(((v, n) for n, v in self.to_dict().items() if v > 0), reverse=True)
        return ", ".join(f"{n} {v:.2f}" for v, n in items) or "no emotion"


# (arousal, valence) per dimension — Russell 1980 circumplex / Scherer 2005 GEW placements.
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "happy": (0.5, 0.9),
    "angry": (0.8, -0.6),
    "sad": (-0.5, -0.7),
    "afraid": (0.7, -0.7),
    "disgusted": (0.3, -0.8),
    "melancholic": (-0.6, -0.4),
    "surprised": (0.8, 0.2),
    "calm": (-0.6, 0.4),
}


def fuse(sources: Iterable[tuple[EmotionVector, float]]) -> EmotionVector:
    """Weighted multi-source mix, e.g. ``fuse([(audio, .3), (text, .5), (preset, .2)])``.

    Weights must be ≥ 0 and not all zero; they are normalised to sum to 1, so the result is
    the weighted mean of the vectors (and stays a valid vector).
    """
    pairs = list(sources)
    if not pairs:
        raise InputError("fuse needs at least one (vector, weight) source; got none")
    for _, weight in pairs:
        if not isinstance(weight, (int, float)) or math.isnan(weight) or weight < 0:
            raise InputError(f"fusion weight {weight!r} must be a number ≥ 0")
    total_weight = sum(weight for _, weight in pairs)
    if total_weight == 0:
        raise InputError("fusion weights are all 0; at least one must be > 0")
    mixed = [0.0] * len(EMOTION_NAMES)
    for vector, weight in pairs:
        for i, value in enumerate(vector.to_list()):
            mixed[i] += value * weight / total_weight
    return EmotionVector.from_list([min(1.0, v) for v in mixed])


VOICE_QUALITY_NAMES: tuple[str, ...] = ("whisper", "shout", "tremble", "flat", "sob", "breathy")


@dataclass(frozen=True)
class VoiceQualities:
    """Non-emotion delivery cues, each 0..1: whisper, shout, tremble, cold/flat, sob, breathy."""

    whisper: float = 0.0
    shout: float = 0.0
    tremble: float = 0.0
    flat: float = 0.0
    sob: float = 0.0
    breathy: float = 0.0

    def __post_init__(self) -> None:
        for name in VOICE_QUALITY_NAMES:
            object.__setattr__(self, name, _check_unit_interval(getattr(self, name), f"voice quality {name}"))

    def to_dict(self) -> dict[str, float]:
        return {name: round(getattr(self, name), 6) for name in VOICE_QUALITY_NAMES}

    @classmethod
    def from_dict(cls, mapping: Mapping[str, float]) -> VoiceQualities:
        unknown = set(mapping) - set(VOICE_QUALITY_NAMES)
        if unknown:
            raise InputError(f"unknown voice quality {sorted(unknown)[0]!r}; allowed: {', '.join(VOICE_QUALITY_NAMES)}")
        return cls(**mapping)

    def merged(self, other: VoiceQualities) -> VoiceQualities:
        """Per-quality maximum of two cue sets."""
        return VoiceQualities(**{n: max(getattr(self, n), getattr(other, n)) for n in VOICE_QUALITY_NAMES})

    @property
    def any(self) -> bool:
        return any(getattr(self, n) > 0 for n in VOICE_QUALITY_NAMES)

    def scaled(self, factor: float) -> VoiceQualities:
        """Every cue × ``factor`` (0..1): the verification loop eases a delivery that costs words."""
        if not 0.0 <= factor <= 1.0:
            raise InputError(f"voice quality scale factor {factor!r} is outside the allowed range 0..1")
        return VoiceQualities(**{n: getattr(self, n) * factor for n in VOICE_QUALITY_NAMES})
