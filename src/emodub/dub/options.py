"""What a dub is asked to do: the options of one dub and the emotion a user directs, checked on creation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from emodub import media, watermark
from emodub.consent import require_consent
from emodub.emotion.space import EmotionVector
from emodub.errors import InputError
from emodub.licences import commercial_base_voice, commercial_refusal

EVERYONE = "*"  # the voices key for every speaker without a voice of their own
SYNC_POLICIES = ("fit", "strict")


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
            from emodub.train import load_encoders  # heavy (torch): loaded only when used

            load_encoders(self.emotion_encoder)  # a bad folder fails here, before any work


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
