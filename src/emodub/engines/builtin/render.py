"""Emotion rendering rules: EmotionVector + VoiceQualities ► a prosody shape applied to WORLD features.

The rule table gives, for each of the 8 emotions at intensity 1, the change relative to a
neutral reading.  Directions and rough sizes follow the vocal-affect literature:

- Juslin & Laukka (2003), "Communication of emotions in vocal expression and music
  performance", Psychological Bulletin 129(5), Table 7 (F0 level, variability, contour,
  intensity, rate, high-frequency energy per emotion);
- Scherer (2003), "Vocal communication of emotion: a review of research paradigms",
  Speech Communication 40, Table 2 (e.g. sadness: F0, range, intensity, rate down;
  hot anger: F0, range, intensity, rate and high-frequency energy up);
- Schröder (2001), "Emotional speech synthesis: a review", Eurospeech, and Burkhardt &
  Sendlmeier (2000), "Verification of acoustical correlates of emotional speech using
  formant synthesis" (fear: high F0, fast rate, irregular voicing; boredom/sadness:
  lowered F0 and range, slow rate, breathy, falling contour).

A mixed vector blends the rules by weight (additive parameters add, factors multiply in the
log domain); the intensity is the weight itself.  Voice qualities (whisper, shout, tremble,
flat, sob, breathy) add their own rules.  Parameters are bounded so speech stays intelligible.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from emodub.emotion.space import EMOTION_NAMES, EmotionVector, VoiceQualities
from emodub.engines.builtin.world import WorldFeatures


@dataclass(frozen=True)
class ProsodyShape:
    """Changes relative to neutral speech.  ``*_factor`` multiply; the rest add."""

    f0_shift_st: float = 0.0          # F0 level, semitones
    f0_range_factor: float = 1.0      # F0 excursions around the mean
    declination_st: float = 0.0       # F0 drift from start to end of the line (negative falls)
    final_rise_st: float = 0.0        # rise over the last syllable, or the last 300 ms (questions, surprise)
    energy_db: float = 0.0            # loudness
    energy_slope_db: float = 0.0      # loudness drift from start to end
    rate_factor: float = 1.0          # speaking rate (>1 faster)
    pause_factor: float = 1.0         # pause lengths (>1 longer)
    tilt_db_per_octave: float = 0.0   # spectral tilt above 1 kHz (>0 tense/bright, <0 soft)
    breathiness: float = 0.0          # aperiodicity added on voiced frames, 0..1
    tremor_st: float = 0.0            # F0 modulation depth, semitones
    tremor_am_db: float = 0.0         # amplitude modulation depth
    tremor_hz: float = 6.0            # modulation rate (physiological tremor 4–8 Hz)
    whisper: float = 0.0              # 1 = fully unvoiced

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


_MULTIPLICATIVE = {"f0_range_factor", "rate_factor", "pause_factor"}

# Rules at intensity 1 (see the module docstring for the sources of each direction).
EMOTION_RULES: dict[str, ProsodyShape] = {
    # J&L 2003: happiness — F0 level and variability up, intensity up, rate up, more HF energy.
    "happy": ProsodyShape(f0_shift_st=3.0, f0_range_factor=1.35, energy_db=2.5, rate_factor=1.08,
                          tilt_db_per_octave=1.5, final_rise_st=0.5),
    # Scherer 2003 / J&L 2003: hot anger — F0, range, intensity, rate and HF energy all up.
    "angry": ProsodyShape(f0_shift_st=2.5, f0_range_factor=1.3, energy_db=5.0, rate_factor=1.12,
                          pause_factor=0.8, tilt_db_per_octave=3.5, declination_st=-1.0),
    # Scherer 2003: sadness — F0, range, intensity and rate down; falling contour; softer, breathy.
    "sad": ProsodyShape(f0_shift_st=-2.0, f0_range_factor=0.45, declination_st=-1.0, energy_db=-4.0,
                        energy_slope_db=-3.0, rate_factor=0.85, pause_factor=1.4, tilt_db_per_octave=-3.0,
                        breathiness=0.08),
    # J&L 2003 / Burkhardt & Sendlmeier 2000: fear — high F0, fast rate, irregular (jittery) voicing.
    "afraid": ProsodyShape(f0_shift_st=4.0, f0_range_factor=1.1, energy_db=1.0, rate_factor=1.15,
                           pause_factor=1.2, tilt_db_per_octave=1.0, tremor_st=0.35, tremor_hz=7.0, breathiness=0.05),
    # Scherer 2003: disgust — F0 lower, slower rate, wide downward contour, lower intensity.
    "disgusted": ProsodyShape(f0_shift_st=-1.5, f0_range_factor=1.1, declination_st=-2.0, energy_db=-1.0,
                              rate_factor=0.88, pause_factor=1.15, tilt_db_per_octave=-0.5),
    # Schröder 2001 (boredom/melancholy): low F0, narrow range, slow, breathy, falling.
    "melancholic": ProsodyShape(f0_shift_st=-2.5, f0_range_factor=0.5, declination_st=-1.2, energy_db=-3.0,
                                energy_slope_db=-2.0, rate_factor=0.85, pause_factor=1.3,
                                tilt_db_per_octave=-2.0, breathiness=0.1),
    # J&L 2003: surprise — F0 high and wide, rising contours; intensity somewhat up.
    "surprised": ProsodyShape(f0_shift_st=4.0, f0_range_factor=1.5, final_rise_st=4.0, energy_db=2.0,
                              rate_factor=1.05, tilt_db_per_octave=1.0),
    # Tenderness/calm (J&L 2003): F0 slightly low, narrow range, slow, soft.
    "calm": ProsodyShape(f0_shift_st=-0.8, f0_range_factor=0.8, energy_db=-1.0, rate_factor=0.95,
                         pause_factor=1.1, tilt_db_per_octave=-1.0),
}

QUALITY_RULES: dict[str, ProsodyShape] = {
    "whisper": ProsodyShape(whisper=1.0, energy_db=-8.0, rate_factor=0.95),
    # Shouted speech: raised F0 and intensity, strong HF energy, lengthened vowels (Traunmüller & Eriksson 2000).
    "shout": ProsodyShape(f0_shift_st=4.0, energy_db=7.0, tilt_db_per_octave=5.0, rate_factor=0.95),
    # Vocal tremor 4–8 Hz (Titze 1994): F0 and amplitude modulation.
    "tremble": ProsodyShape(tremor_st=0.9, tremor_am_db=2.5, tremor_hz=6.0),
    "flat": ProsodyShape(f0_range_factor=0.35, energy_db=-1.0, declination_st=-0.5),
    "sob": ProsodyShape(tremor_st=1.2, tremor_am_db=3.5, tremor_hz=4.5, breathiness=0.15, f0_shift_st=1.0,
                        pause_factor=1.3, rate_factor=0.9),
    "breathy": ProsodyShape(breathiness=0.3, tilt_db_per_octave=-3.0, energy_db=-2.0),
}

# Bounds that keep the voice intelligible whatever the mix.
BOUNDS: dict[str, tuple[float, float]] = {
    "f0_shift_st": (-6.0, 7.0), "f0_range_factor": (0.25, 2.0), "declination_st": (-5.0, 2.0),
    "final_rise_st": (0.0, 6.0), "energy_db": (-12.0, 10.0), "energy_slope_db": (-6.0, 3.0),
    "rate_factor": (0.7, 1.35), "pause_factor": (0.5, 2.0), "tilt_db_per_octave": (-6.0, 7.0),
    "breathiness": (0.0, 0.5), "tremor_st": (0.0, 1.8), "tremor_am_db": (0.0, 5.0),
    "tremor_hz": (4.0, 8.0), "whisper": (0.0, 1.0),
}


def blend(weighted_rules: list[tuple[ProsodyShape, float]]) -> ProsodyShape:
    """Weighted blend: additive parameters add, factors multiply; tremor rate is weight-averaged."""
    values: dict[str, float] = {}
    tremor_weight = sum(w * (r.tremor_st + r.tremor_am_db > 0) for r, w in weighted_rules)
    for f in fields(ProsodyShape):
        name = f.name
        if name == "tremor_hz":
            values[name] = (
                sum(w * r.tremor_hz for r, w in weighted_rules if r.tremor_st + r.tremor_am_db > 0) / tremor_weight
                if tremor_weight else 6.0
            )
        elif name in _MULTIPLICATIVE:
            values[name] = math.exp(sum(w * math.log(getattr(r, name)) for r, w in weighted_rules))
        else:
            values[name] = sum(w * getattr(r, name) for r, w in weighted_rules)
        low, high = BOUNDS[name]
        values[name] = min(high, max(low, values[name]))
    return ProsodyShape(**values)


def shape_for(emotion: EmotionVector | None, qualities: VoiceQualities, *, question: bool = False) -> ProsodyShape:
    """The prosody shape for an emotion mix and voice qualities (question adds a final rise)."""
    rules: list[tuple[ProsodyShape, float]] = []
    if emotion is not None:
        rules += [(EMOTION_RULES[name], weight) for name, weight in zip(EMOTION_NAMES, emotion.to_list()) if weight > 0]
    rules += [(QUALITY_RULES[name], level) for name, level in qualities.to_dict().items() if level > 0]
    if question:
        rules.append((ProsodyShape(final_rise_st=3.0), 1.0))
    return blend(rules)


def lighter_voice_quality(shape: ProsodyShape, factor: float) -> ProsodyShape:
    """``shape`` with its spectral-tilt and breathiness changes scaled by ``factor`` (the rest as it is).

    On a neural base voice these two cost the most naturalness for the least emotion: Kokoro's sad
    line lost 0.5 MOS to them together (DistillMOS 3.52 without, 3.00 with; ``bench/naturalness.py``).
    """
    return replace(shape, tilt_db_per_octave=shape.tilt_db_per_octave * factor, breathiness=shape.breathiness * factor)


def only_rate_and_level(shape: ProsodyShape) -> bool:
    """Whether ``shape`` changes nothing but the speaking rate and the level (what a neural voice renders without a vocoder)."""
    neutral = ProsodyShape()
    return all(getattr(shape, f.name) == getattr(neutral, f.name) for f in fields(ProsodyShape)
               if f.name not in ("rate_factor", "energy_db"))


def apply_static(features: WorldFeatures, shape: ProsodyShape) -> WorldFeatures:
    """Level, range, spectral tilt, breathiness and whisper — the parts that do not depend on time."""
    f0 = features.f0_hz.copy()
    voiced = features.voiced
    if voiced.any():
        log_f0 = np.log(f0[voiced])
        centre = float(np.mean(log_f0))
        shifted = centre + (log_f0 - centre) * shape.f0_range_factor + shape.f0_shift_st * math.log(2) / 12
        f0[voiced] = np.exp(shifted)
    freqs = features.frequencies_hz
    octaves_above_1k = np.log2(np.maximum(freqs, 1000.0) / 1000.0)
    tilt_gain = 10 ** (shape.tilt_db_per_octave * octaves_above_1k / 10)  # sp is a power spectrum
    sp = features.sp * tilt_gain[None, :]
    ap = features.ap.copy()
    ap[voiced] = np.clip(ap[voiced] + shape.breathiness * (1 - ap[voiced]), 0.0, 1.0)
    if shape.whisper >= 0.5:  # whisper: no voicing at all; WORLD excites the envelope with noise
        f0 = np.zeros_like(f0)
        ap = np.ones_like(ap)
    return features.with_(f0_hz=f0, sp=sp, ap=ap)


@dataclass(frozen=True)
class ContourAnchors:
    """Where the line's contours hang, in output frames, from the base synthesiser's phone timings.

    ``speech_start``/``speech_end``: first and last phone that is not a pause (declination and
    energy drift run between them, not over the leading and trailing silence);
    ``final_vowel_start``: onset of the last vowel (a final rise belongs to the last syllable).
    """

    speech_start: int
    speech_end: int
    final_vowel_start: int


def apply_contours(features: WorldFeatures, shape: ProsodyShape, anchors: ContourAnchors | None = None) -> WorldFeatures:
    """Declination, final rise, energy drift and tremor — applied on the final timeline.

    Without ``anchors`` (base voices that give no phone timings) drift runs over the whole
    line and a final rise over the last 300 ms of voicing.
    """
    n = features.n_frames
    t = np.arange(n) * features.frame_period_ms / 1000.0
    if anchors is not None and anchors.speech_end > anchors.speech_start:
        progress = np.clip((np.arange(n) - anchors.speech_start) / (anchors.speech_end - anchors.speech_start), 0.0, 1.0)
    else:
        progress = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(n)
    semitones = shape.declination_st * progress
    last_voiced = np.flatnonzero(features.voiced)
    if shape.final_rise_st and len(last_voiced):
        end_t = t[last_voiced[-1]]
        start_t = end_t - 0.3
        if anchors is not None and anchors.final_vowel_start < last_voiced[-1]:
            start_t = t[anchors.final_vowel_start]
        ramp = np.clip((t - start_t) / max(end_t - start_t, 1e-3), 0.0, 1.0)
        semitones = semitones + shape.final_rise_st * ramp
    semitones = semitones + shape.tremor_st * np.sin(2 * np.pi * shape.tremor_hz * t)
    f0 = np.where(features.voiced, features.f0_hz * 2 ** (semitones / 12), 0.0)
    energy_db = shape.energy_slope_db * progress + shape.tremor_am_db * np.sin(2 * np.pi * shape.tremor_hz * t + 0.6)
    sp = features.sp * (10 ** (energy_db / 10))[:, None]
    return features.with_(f0_hz=f0, sp=sp)
