"""SER: emotion from a voice recording.

Three models behind one interface (:class:`SpeechEmotionModel`):

- :class:`AcousticSER` (default, no training data needed): prosody and voice-quality cues —
  F0 level, range and slope, energy, syllable rate, pausing, jitter, shimmer, HNR and alpha
  ratio (spectral balance), measured with Praat (parselmouth) — expressed in standard
  deviations from a baseline (the speaker's own neutral speech when given, else the
  :data:`NEUTRAL_NORMS`) and compared with a table of per-emotion prototypes (:data:`PROTOTYPES`)
  taken from the directions reported by Juslin & Laukka (2003, Psychol. Bull. 129, Table 7)
  and Scherer (2003, Speech Communication 40).  Transparent, not accurate on real actors:
  ``bench/recognition.py`` measures it.
- :class:`TrainedSER`: a logistic regression on the same cues (raw, and normalised per speaker)
  plus MFCC statistics, trained
  with ``emodub train-ser`` (:mod:`emodub.emotion.ser_training`) and stored as plain JSON.
- :class:`SpeechBrainSER`: a SpeechBrain wav2vec2 emotion checkpoint in a local folder
  (e.g. ``speechbrain/emotion-recognition-wav2vec2-IEMOCAP``), when the user has it and
  ``speechbrain`` is installed.

Speech segments come from Silero VAD, whose ONNX model ships inside the ``silero-vad`` package.
"""

from __future__ import annotations

import functools
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from emodub.audio import Audio
from emodub.emotion.normalise import speaker_norms
from emodub.emotion.space import EMOTION_NAMES, EmotionVector, canonical_emotion_name
from emodub.errors import EngineError, InputError
from emodub.memo import by_content

ANALYSIS_RATE_HZ = 16000
MIN_SPEECH_S = 0.4
CUE_NAMES: tuple[str, ...] = ("f0_mean_st", "f0_range_st", "f0_slope_st_per_s", "energy_db", "rate_syl_per_s",
                              "pause_fraction", "jitter_pct", "shimmer_pct", "hnr_db", "alpha_ratio_db")

# Typical values of the cues for calm speech (mean, spread across speakers and utterances).
# F0 mean is judged against the speaker's register (see _register_st) and energy against the
# recording's level, so without a baseline of the speaker's own both start at 0.  The other
# means are those of calm speech measured with these exact extractors on three offline voices
# (flite slt/awb, Piper joe, through the builtin engine; ``bench/recognition.py ser`` prints them), not population statistics
# of human speech: with real recordings give the speaker's calm speech as baseline.
NEUTRAL_NORMS: dict[str, tuple[float, float]] = {
    "f0_mean_st": (0.0, 3.0),
    "f0_range_st": (5.1, 1.5),
    "f0_slope_st_per_s": (-0.9, 1.5),
    "energy_db": (0.0, 3.0),
    "rate_syl_per_s": (2.5, 0.8),
    "pause_fraction": (0.21, 0.1),
    "jitter_pct": (1.6, 0.6),
    "shimmer_pct": (11.9, 3.0),
    "hnr_db": (11.5, 4.0),
    "alpha_ratio_db": (-12.8, 2.5),
}

# Direction and rough size (in baseline SDs) of each cue per emotion; 0 = no consistent finding.
# Sources: Juslin & Laukka 2003 Table 7 (F0 level/variability, intensity, rate, HF energy, jitter);
# Scherer 2003 Table 2 (hot vs cold anger, sadness, fear, joy, boredom/calm); Banse & Scherer 1996.
PROTOTYPES: dict[str, dict[str, float]] = {
    "happy": {"f0_mean_st": 1.0, "f0_range_st": 1.0, "energy_db": 0.6, "rate_syl_per_s": 0.5, "alpha_ratio_db": 0.5,
              "hnr_db": 0.3},
    "angry": {"f0_mean_st": 0.7, "f0_range_st": 0.7, "energy_db": 1.3, "rate_syl_per_s": 0.6, "alpha_ratio_db": 1.3,
              "pause_fraction": -0.4, "jitter_pct": 0.3, "hnr_db": -0.3},
    "sad": {"f0_mean_st": -0.8, "f0_range_st": -0.9, "f0_slope_st_per_s": -0.5, "energy_db": -1.0, "rate_syl_per_s": -0.9,
            "alpha_ratio_db": -0.9, "pause_fraction": 0.7, "jitter_pct": 0.3},
    "afraid": {"f0_mean_st": 1.3, "f0_range_st": 0.2, "energy_db": 0.3, "rate_syl_per_s": 0.9, "jitter_pct": 0.8,
               "alpha_ratio_db": 0.4, "hnr_db": -0.5},
    "disgusted": {"f0_mean_st": -0.5, "f0_range_st": 0.4, "energy_db": -0.2, "rate_syl_per_s": -0.6, "pause_fraction": 0.3},
    "melancholic": {"f0_mean_st": -0.6, "f0_range_st": -0.6, "energy_db": -0.7, "rate_syl_per_s": -0.6,
                    "alpha_ratio_db": -0.5, "pause_fraction": 0.5, "hnr_db": -0.3},
    "surprised": {"f0_mean_st": 1.4, "f0_range_st": 1.3, "f0_slope_st_per_s": 0.8, "energy_db": 0.5,
                  "alpha_ratio_db": 0.3},
    "calm": {"f0_mean_st": -0.2, "f0_range_st": -0.3, "energy_db": -0.3, "rate_syl_per_s": -0.2, "alpha_ratio_db": -0.3,
             "hnr_db": 0.3},
}
PROTOTYPE_SHARPNESS = 1.0  # softmax temperature on squared distance (in SD units)


@dataclass(frozen=True)
class SpeechEmotion:
    """What a SER model says about one stretch of speech."""

    vector: EmotionVector
    confidence: float  # 0..1
    model: str
    cues: dict[str, float] = field(default_factory=dict)  # measured cues
    z_scores: dict[str, float] = field(default_factory=dict)  # cues relative to the baseline
    evidence: list[str] = field(default_factory=list)
    dimensions: dict[str, float] | None = None  # arousal/valence read from the cues (z units) with their confidences
    normalisation: dict | None = None  # the reference the z-scores were taken against

    def to_dict(self) -> dict:
        arousal, valence = self.vector.arousal_valence()
        return {"model": self.model, "vector": self.vector.to_dict(), "dominant": self.vector.dominant(),
                "confidence": round(self.confidence, 3), "arousal": round(arousal, 3), "valence": round(valence, 3),
                "cues": {k: round(v, 3) for k, v in self.cues.items()},
                "z_scores": {k: round(v, 2) for k, v in self.z_scores.items()}, "evidence": self.evidence,
                "dimensions": self.dimensions, "normalisation": self.normalisation}


class SpeechEmotionModel(Protocol):
    name: str

    def predict(self, audio: Audio) -> SpeechEmotion: ...


# -- speech segments -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _silero():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from silero_vad import load_silero_vad

        return load_silero_vad(onnx=True)


def speech_segments(audio: Audio, *, min_speech_s: float = 0.25, min_silence_s: float = 0.3) -> list[tuple[float, float]]:
    """(start_s, end_s) of speech found by Silero VAD (ONNX model shipped in ``silero-vad``)."""
    import torch
    from silero_vad import get_speech_timestamps

    samples = audio.resampled(ANALYSIS_RATE_HZ).samples
    if len(samples) < ANALYSIS_RATE_HZ // 10 or float(np.max(np.abs(samples), initial=0.0)) < 1e-4:
        return []
    stamps = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(samples)), _silero(), sampling_rate=ANALYSIS_RATE_HZ,
                                   min_speech_duration_ms=int(min_speech_s * 1000), min_silence_duration_ms=int(min_silence_s * 1000),
                                   return_seconds=False)
    return [(s["start"] / ANALYSIS_RATE_HZ, s["end"] / ANALYSIS_RATE_HZ) for s in stamps]


# -- cue extraction ---------------------------------------------------------------------------------
def _register_st(f0_mean_hz: float) -> float:
    """Typical F0 of a speaker in this register, in semitones re 100 Hz (Titze 1994: ~120 Hz men, ~210 Hz women).

    Without a baseline, F0 level is judged against the typical register nearest to it, so a woman's
    voice is not heard as "high-pitched, so excited".
    """
    return 12 * math.log2((120.0 if f0_mean_hz < 165.0 else 210.0) / 100.0)


def measure_cues(audio: Audio) -> dict[str, float]:
    """The prosodic and voice-quality cues of ``audio`` (see :data:`CUE_NAMES`); NaN where unmeasurable."""
    import parselmouth
    from parselmouth.praat import call

    audio = audio.resampled(ANALYSIS_RATE_HZ)
    if audio.duration_s < MIN_SPEECH_S:
        raise InputError(f"speech of {audio.duration_s:.2f} s is too short to analyse; need at least {MIN_SPEECH_S} s")
    sound = parselmouth.Sound(audio.samples.astype(np.float64), sampling_frequency=ANALYSIS_RATE_HZ)
    pitch = sound.to_pitch(time_step=0.01, pitch_floor=60.0, pitch_ceiling=600.0)
    f0 = pitch.selected_array["frequency"]
    times = pitch.xs()
    voiced = f0 > 0
    cues = dict.fromkeys(CUE_NAMES, float("nan"))
    intensity = sound.to_intensity(minimum_pitch=75.0, time_step=0.01)
    level_db = intensity.values[0]
    loud_threshold = np.max(level_db) - 25.0 if len(level_db) else 0.0
    cues["pause_fraction"] = float(np.mean(level_db < loud_threshold)) if len(level_db) else float("nan")
    if voiced.sum() >= 5:
        semitones = 12 * np.log2(f0[voiced] / 100.0)
        cues["f0_mean_st"] = float(np.mean(semitones))
        cues["f0_range_st"] = float(np.percentile(semitones, 95) - np.percentile(semitones, 5))
        cues["f0_slope_st_per_s"] = float(np.polyfit(times[voiced], semitones, 1)[0]) if np.ptp(times[voiced]) > 0.2 else 0.0
        voiced_level = np.interp(times[voiced], intensity.xs(), level_db)
        cues["energy_db"] = float(np.mean(voiced_level))
        points = call(sound, "To PointProcess (periodic, cc)", 60.0, 600.0)
        cues["jitter_pct"] = 100 * float(call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3))
        cues["shimmer_pct"] = 100 * float(call([sound, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6))
        harmonicity = sound.to_harmonicity_cc(time_step=0.01, minimum_pitch=60.0).values[0]
        cues["hnr_db"] = float(np.mean(harmonicity[harmonicity > -100])) if np.any(harmonicity > -100) else float("nan")
        cues["rate_syl_per_s"] = _syllable_rate(level_db, intensity.xs(), times[voiced], audio.duration_s)
    spectrum = np.abs(np.fft.rfft(audio.samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(audio.samples), 1 / ANALYSIS_RATE_HZ)
    low, high = spectrum[(freqs >= 50) & (freqs < 1000)].sum(), spectrum[(freqs >= 1000) & (freqs < 5000)].sum()
    if low > 0 and high > 0:
        cues["alpha_ratio_db"] = float(10 * np.log10(high / low))
    return {k: (float(v) if v is not None and math.isfinite(v) else float("nan")) for k, v in cues.items()}


@by_content(maxsize=8)
def _speaker_cues(audio: Audio) -> dict[str, float]:
    """:func:`measure_cues` of a speaker reference, kept by content (every cue's verification asks it again)."""
    return measure_cues(audio)


def _syllable_rate(level_db: np.ndarray, level_times: np.ndarray, voiced_times: np.ndarray, duration_s: float) -> float:
    """Syllable nuclei per second: voiced intensity peaks ≥ 2 dB above their surrounding dips (de Jong & Wempe 2009)."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(level_db, prominence=2.0, distance=8)
    near_voiced = [p for p in peaks if np.min(np.abs(voiced_times - level_times[p]), initial=1.0) < 0.02]
    return len(near_voiced) / max(duration_s, 1e-3)


@dataclass(frozen=True)
class Baseline:
    """Reference values of the cues for this speaker (their calm speech) or the population norms."""

    means: dict[str, float]
    spreads: dict[str, float]
    source: str  # "speaker" or "norms"

    @classmethod
    def norms(cls) -> Baseline:
        return cls({k: m for k, (m, _) in NEUTRAL_NORMS.items()}, {k: s for k, (_, s) in NEUTRAL_NORMS.items()}, "norms")

    @classmethod
    def from_speech(cls, audio: Audio) -> Baseline:
        """The speaker's own baseline: cues of their (calm or overall) speech, population spreads."""
        cues = _speaker_cues(audio)
        norms = cls.norms()
        means = {k: (cues[k] if math.isfinite(cues[k]) else norms.means[k]) for k in CUE_NAMES}
        return cls(means, norms.spreads, "speaker")

    def z_scores(self, cues: dict[str, float]) -> dict[str, float]:
        z = {}
        for name in CUE_NAMES:
            value = cues[name]
            if not math.isfinite(value):
                continue
            mean = self.means[name]
            if self.source == "norms":
                if name == "f0_mean_st":
                    mean = _register_st(100.0 * 2 ** (value / 12))
                elif name == "energy_db":
                    continue  # a recording's level says nothing without the speaker's own baseline
            z[name] = (value - mean) / self.spreads[name]
        return z


# -- models ---------------------------------------------------------------------------------------
# Arousal first: how each cue moves with activation (Juslin & Laukka 2003; Scherer 2003) — the
# dimension prosody carries best.  Valence is carried weakly (voice quality, F0 variability).
AROUSAL_WEIGHTS = {"f0_mean_st": 1.0, "f0_range_st": 0.5, "energy_db": 1.0, "rate_syl_per_s": 0.5, "alpha_ratio_db": 0.8,
                   "pause_fraction": -0.5}
VALENCE_WEIGHTS = {"f0_range_st": 0.4, "hnr_db": 0.5, "jitter_pct": -0.4, "f0_slope_st_per_s": 0.3, "alpha_ratio_db": -0.3}
AROUSAL_DECIDES_Z = 0.5  # |arousal| (z units) beyond which it chooses the high or the low group of categories
HIGH_AROUSAL = ("happy", "angry", "afraid", "surprised", "disgusted")
LOW_AROUSAL = ("sad", "melancholic", "calm", "disgusted")
FULL_CONFIDENCE_SPEECH_S = 2.0
NEAR_NEUTRAL_DISTANCE = 0.8  # RMS z below which the cues are the speaker's neutral (arousal unclear and nothing else moved)


def _weighted_z(z: dict[str, float], weights: dict[str, float]) -> float | None:
    used = [c for c in weights if c in z]
    if len(used) < 2:
        return None
    return sum(weights[c] * float(np.clip(z[c], -3, 3)) for c in used) / sum(abs(weights[c]) for c in used)


class AcousticSER:
    """Nearest-prototype SER over literature cue directions, arousal first (see module docstring)."""

    name = "acoustic"

    def __init__(self, baseline: Baseline | None = None) -> None:
        self.baseline = baseline or Baseline.norms()

    def predict(self, audio: Audio) -> SpeechEmotion:
        cues = measure_cues(audio)
        return self.classify(cues, self.baseline.z_scores(cues), speech_s=audio.duration_s, reference=self.baseline.source)

    def classify(self, cues: dict[str, float], z: dict[str, float], *, speech_s: float, reference: str,
                 reliability: float = 1.0, normalisation: dict | None = None) -> SpeechEmotion:
        """The emotion in cues already expressed as ``z`` (SD from the speaker's neutral).

        Arousal is read first, from the cues that carry it; it chooses the high or the low group of
        categories when it is clear (|z| ≥ 0.5), and the prototypes then choose within the group
        (anger: energy and spectral balance up; joy: F0 range and HNR up; fear: F0 up, range
        flat, jitter and rate up; sadness: F0, range, energy and rate down, pauses up).  When every
        cue is near the speaker's neutral, nothing is chosen: the reading leans calm, with a low
        confidence.  When arousal is unclear but other cues moved, the prototypes decide alone.
        Confidence = amount of speech × distance from the neutral × ``reliability`` (how much of
        the reference was the speaker's own speech).
        """
        if len(z) < 4:
            return SpeechEmotion(EmotionVector(), 0.0, self.name, cues, z, ["too little voiced speech to measure prosody"],
                                 normalisation=normalisation)
        distances = {e: sum((np.clip(z[c], -3, 3) - p.get(c, 0.0)) ** 2 for c in z) / len(z) for e, p in PROTOTYPES.items()}
        logits = np.array([-PROTOTYPE_SHARPNESS * distances[e] * len(z) / 2 for e in EMOTION_NAMES])
        probabilities = np.exp(logits - logits.max())
        arousal, valence = _weighted_z(z, AROUSAL_WEIGHTS), _weighted_z(z, VALENCE_WEIGHTS)
        distance = math.sqrt(sum(float(np.clip(v, -3, 3)) ** 2 for v in z.values()) / len(z))
        evidence = []
        if arousal is not None and abs(arousal) >= AROUSAL_DECIDES_Z:
            group = HIGH_AROUSAL if arousal > 0 else LOW_AROUSAL
            probabilities *= np.array([1.0 if e in group else 0.05 for e in EMOTION_NAMES])
            evidence.append(f"arousal {arousal:+.1f} SD: {'high' if arousal > 0 else 'low'}-arousal emotions")
        elif arousal is not None and distance < NEAR_NEUTRAL_DISTANCE:
            probabilities = 0.5 * probabilities / probabilities.sum() + 0.5 * np.eye(len(EMOTION_NAMES))[EMOTION_NAMES.index("calm")]
            evidence.append(f"arousal {arousal:+.1f} SD, cues {distance:.1f} SD from the speaker's neutral: no category chosen")
        probabilities /= probabilities.sum()
        vector = EmotionVector.from_list([float(p) for p in probabilities])
        amount = min(1.0, speech_s / FULL_CONFIDENCE_SPEECH_S) * min(1.0, len(z) / len(CUE_NAMES))
        confidence = amount * (1 - math.exp(-distance ** 2)) * reliability
        dimensions = None if arousal is None else {
            "arousal_z": round(arousal, 3), "arousal_confidence": round(amount * reliability * (1 - math.exp(-2 * arousal ** 2)), 3),
            "valence_z": None if valence is None else round(valence, 3),
            "valence_confidence": None if valence is None else round(0.5 * amount * reliability * (1 - math.exp(-2 * valence ** 2)), 3)}
        strongest = sorted(z, key=lambda c: abs(z[c]), reverse=True)[:3]
        evidence += [f"{c} {z[c]:+.1f} SD vs {reference}" for c in strongest]
        return SpeechEmotion(vector, confidence, self.name, cues, z, evidence, dimensions, normalisation)


def feature_vector(audio: Audio, cues: dict[str, float] | None = None, z: dict[str, float] | None = None
                   ) -> tuple[list[str], np.ndarray]:
    """Cues, the cues as z-scores against the speaker's own norms, and 13 MFCC means and SDs: the trained SER's input.

    ``z``: the cues normalised per speaker (:mod:`emodub.emotion.normalise`); without it (one clip
    on its own) they are taken against the population prior.
    """
    import librosa


    cues = cues if cues is not None else measure_cues(audio)
    if z is None:
        z = speaker_norms([cues], speech_s=0.0)[0].z_scores(cues)
    samples = audio.resampled(ANALYSIS_RATE_HZ).samples
    mfcc = librosa.feature.mfcc(y=samples, sr=ANALYSIS_RATE_HZ, n_mfcc=13)
    names = [*CUE_NAMES, *(f"z_{c}" for c in CUE_NAMES), *(f"mfcc{i}_mean" for i in range(13)), *(f"mfcc{i}_std" for i in range(13))]
    values = np.array([*(cues[c] for c in CUE_NAMES), *(z.get(c, float("nan")) for c in CUE_NAMES), *mfcc.mean(axis=1),
                       *mfcc.std(axis=1)], dtype=np.float64)
    return names, values


@dataclass
class TrainedSER:
    """Logistic regression over :func:`feature_vector`, stored as JSON (no pickle, safe to share)."""

    feature_names: list[str]
    fill: list[float]  # per-feature value used where a cue could not be measured
    mean: list[float]
    scale: list[float]
    coef: list[list[float]]
    intercept: list[float]
    classes: list[str]  # emodub emotion names
    trained_on: dict = field(default_factory=dict)
    name: str = "trained"
    FORMAT = "emodub-ser-logreg-1"

    def save(self, path: str | os.PathLike) -> None:
        data = {"format": self.FORMAT, **{k: getattr(self, k) for k in
                ("feature_names", "fill", "mean", "scale", "coef", "intercept", "classes", "trained_on")}}
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainedSER:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"SER model {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InputError(f"SER model {str(path)!r} is not an emodub SER model (JSON expected): {error}") from error
        if not isinstance(data, dict) or data.pop("format", None) != cls.FORMAT:
            raise InputError(f"SER model {str(path)!r} is not an emodub SER model ({cls.FORMAT}); make one with 'emodub train-ser'")
        for name in data["classes"]:
            canonical_emotion_name(name)
        return cls(**data)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        x = np.where(np.isfinite(features), features, np.asarray(self.fill))
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        logits = np.asarray(self.coef) @ z + np.asarray(self.intercept)
        if len(self.classes) == 2:  # sklearn's binary form: one row of coefficients
            logits = np.array([-logits[0], logits[0]])
        p = np.exp(logits - logits.max())
        return p / p.sum()

    def predict(self, audio: Audio, cues: dict[str, float] | None = None, z: dict[str, float] | None = None,
                normalisation: dict | None = None) -> SpeechEmotion:
        """The emotion of ``audio``; ``z``: its cues normalised per speaker in the media (else against the prior)."""
        names, values = feature_vector(audio, cues, z)
        if names != self.feature_names:
            raise EngineError("this SER model was trained on other features; retrain it with this emodub version")
        p = self.probabilities(values)
        weights: dict[str, float] = {}
        for label, prob in zip(self.classes, p):
            dim = canonical_emotion_name(label)
            weights[dim] = weights.get(dim, 0.0) + float(prob)
        vector = EmotionVector.from_dict(weights)
        top = int(np.argmax(p))
        n = len(CUE_NAMES)
        z_used = {c: float(v) for c, v in zip(CUE_NAMES, values[n:2 * n]) if np.isfinite(v)}
        return SpeechEmotion(vector, float(p[top]), self.name, dict(zip(CUE_NAMES, values[:n])), z_used,
                             [f"classifier: {self.classes[top]} {p[top]:.2f}"], normalisation=normalisation)


class SpeechBrainSER:
    """A SpeechBrain wav2vec2 emotion classifier from a local folder (hyperparams.yaml, custom_interface.py, *.ckpt).

    Loads with ``speechbrain.inference.interfaces.foreign_class`` exactly as the model card of
    ``speechbrain/emotion-recognition-wav2vec2-IEMOCAP`` shows, but from ``model_dir`` only.
    Its labels (neu, ang, hap, sad) map onto calm, angry, happy, sad.
    """

    name = "speechbrain"
    LABELS = {"neu": "calm", "ang": "angry", "hap": "happy", "sad": "sad", "exc": "happy", "fru": "angry"}

    def __init__(self, model_dir: str | os.PathLike) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "hyperparams.yaml").is_file():
            raise InputError(f"SER model folder {str(model_dir)!r} has no hyperparams.yaml (a SpeechBrain checkpoint folder expected)")
        try:
            from speechbrain.inference.interfaces import foreign_class
        except ImportError as error:
            raise EngineError("the speechbrain backend needs 'pip install speechbrain'") from error
        self._classifier = foreign_class(source=str(model_dir), savedir=str(model_dir), pymodule_file="custom_interface.py",
                                         classname="CustomEncoderWav2vec2Classifier")

    def predict(self, audio: Audio) -> SpeechEmotion:
        import torch

        wav = torch.from_numpy(audio.resampled(ANALYSIS_RATE_HZ).samples).unsqueeze(0)
        out_prob, score, _, labels = self._classifier.classify_batch(wav)
        probabilities = torch.softmax(out_prob[0], dim=-1).tolist()
        label_names = self._classifier.hparams.label_encoder.decode_ndim(list(range(len(probabilities))))
        weights: dict[str, float] = {}
        for label, prob in zip(label_names, probabilities):
            dim = self.LABELS.get(str(label))
            if dim is not None:
                weights[dim] = weights.get(dim, 0.0) + float(prob)
        return SpeechEmotion(EmotionVector.from_dict(weights), float(score[0]), self.name, {}, {}, [f"speechbrain: {labels[0]}"])


def load_ser(model: str | os.PathLike | None, *, baseline: Baseline | None = None) -> SpeechEmotionModel:
    """The SER named by ``--ser-model``: None ► acoustic; a .json ► trained; a folder ► SpeechBrain."""
    if model is None or str(model) == "acoustic":
        return AcousticSER(baseline)
    path = Path(model)
    if path.is_dir():
        return SpeechBrainSER(path)
    if path.suffix.lower() == ".json" or path.exists():
        return TrainedSER.load(path)
    raise InputError(f"SER model {str(model)!r} does not exist; give 'acoustic', a model .json from 'emodub train-ser', "
                     "or a SpeechBrain checkpoint folder")
