"""``emodub train-ser``: read a labelled emotional-speech corpus and train :class:`TrainedSER`.

Layouts read (``--format auto`` tries them in this order, per file):

- RAVDESS: ``03-01-05-01-02-01-12.wav`` — the 3rd field is the emotion (01 neutral, 02 calm,
  03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised);
- CREMA-D: ``1001_DFA_ANG_XX.wav`` — the 3rd field (ANG DIS FEA HAP NEU SAD);
- ESD: ``0011/Angry/0011_000351.wav`` — the parent folder (Angry Happy Neutral Sad Surprise);
- folders: ``<emotion>/<anything>.wav`` where the folder is any emotion name emodub knows
  (English, Chinese or a synonym).

Labels map onto emodub's 8 dimensions (neutral ► calm, fearful ► afraid).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emodub.audio import load_audio
from emodub.emotion.normalise import speaker_norms
from emodub.emotion.space import canonical_emotion_name
from emodub.emotion.speech import TrainedSER, feature_vector, measure_cues
from emodub.errors import InputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
FORMATS = ("auto", "ravdess", "crema-d", "esd", "folders")
RAVDESS_CODES = {"01": "calm", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "afraid",
                 "07": "disgusted", "08": "surprised"}
CREMA_CODES = {"ANG": "angry", "DIS": "disgusted", "FEA": "afraid", "HAP": "happy", "NEU": "calm", "SAD": "sad"}
ESD_FOLDERS = {"Angry": "angry", "Happy": "happy", "Neutral": "calm", "Sad": "sad", "Surprise": "surprised"}
_RAVDESS = re.compile(r"^\d{2}-\d{2}-(\d{2})-\d{2}-\d{2}-\d{2}-\d{2}$")
_CREMA = re.compile(r"^\d{4}_[A-Z]{3}_([A-Z]{3})_[A-Z]{2}$")


@dataclass(frozen=True)
class LabelledClip:
    path: Path
    emotion: str  # one of emodub's 8 names
    speaker: str | None = None  # whose voice (None: unknown, the corpus is one group): per-speaker normalisation groups by it


def speaker_of(path: Path, corpus_dir: Path) -> str | None:
    """The speaker of a corpus file: RAVDESS actor (7th field), CREMA-D actor (1st field), else the top folder of
    ``<speaker>/<emotion>/x.wav`` (and ESD ``0011/Angry/x.wav``); None when the layout does not say."""
    stem = path.stem
    if _RAVDESS.match(stem):
        return f"ravdess-{stem.split('-')[6]}"
    if _CREMA.match(stem):
        return f"crema-{stem.split('_')[0]}"
    relative = path.relative_to(corpus_dir).parts
    return relative[0] if len(relative) >= 3 else None


def _label_ravdess(path: Path) -> str | None:
    match = _RAVDESS.match(path.stem)
    return RAVDESS_CODES.get(match.group(1)) if match else None


def _label_crema(path: Path) -> str | None:
    match = _CREMA.match(path.stem)
    return CREMA_CODES.get(match.group(1)) if match else None


def _label_esd(path: Path) -> str | None:
    return ESD_FOLDERS.get(path.parent.name)


def _label_folder(path: Path) -> str | None:
    try:
        return canonical_emotion_name(path.parent.name)
    except InputError:
        return None


READERS: dict[str, Callable[[Path], str | None]] = {
    "ravdess": _label_ravdess, "crema-d": _label_crema, "esd": _label_esd, "folders": _label_folder,
}


def read_corpus(corpus_dir: str | Path, corpus_format: str = "auto") -> tuple[list[LabelledClip], list[Path]]:
    """Labelled clips under ``corpus_dir``, and the audio files whose label could not be read."""
    corpus_dir = Path(corpus_dir)
    if corpus_format not in FORMATS:
        raise InputError(f"corpus format {corpus_format!r} is not known; allowed: {', '.join(FORMATS)}")
    if not corpus_dir.is_dir():
        raise InputError(f"corpus folder {str(corpus_dir)!r} does not exist or is not a folder")
    readers = list(READERS.values()) if corpus_format == "auto" else [READERS[corpus_format]]
    clips, unlabelled = [], []
    for path in sorted(p for p in corpus_dir.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        label = next((lab for reader in readers if (lab := reader(path)) is not None), None)
        if label is None:
            unlabelled.append(path)
        else:
            clips.append(LabelledClip(path, label, speaker_of(path, corpus_dir)))
    return clips, unlabelled


@dataclass(frozen=True)
class TrainingResult:
    model: TrainedSER
    n_clips: int
    counts: dict[str, int]
    cv_accuracy: float | None  # k-fold accuracy when every class has ≥ k clips
    skipped: list[str]


def train_ser(clips: list[LabelledClip], *, progress: Callable[[int, int], None] | None = None, folds: int = 5) -> TrainingResult:
    """Measure features of every clip and fit a standardised logistic regression (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    measured, labels, skipped = [], [], []
    for index, clip in enumerate(clips):
        try:
            audio = load_audio(clip.path)
            measured.append((clip, audio, measure_cues(audio)))
        except InputError as error:  # too short, unreadable: reported, not fatal
            skipped.append(f"{clip.path}: {error}")
            continue
        finally:
            if progress is not None:
                progress(index + 1, len(clips))
    norms = {}  # each speaker's cues against their own distribution over the corpus
    for speaker in {clip.speaker for clip, _, _ in measured}:
        mine = [(audio, cues) for clip, audio, cues in measured if clip.speaker == speaker]
        norms[speaker] = speaker_norms([cues for _, cues in mine], sum(audio.duration_s for audio, _ in mine))[0]
    rows, names = [], []
    for clip, audio, cues in measured:
        names, values = feature_vector(audio, cues, norms[clip.speaker].z_scores(cues))
        rows.append(values)
        labels.append(clip.emotion)
    counts = Counter(labels)
    if len(counts) < 2:
        raise InputError(f"the corpus has {len(counts)} usable emotion class(es) ({', '.join(counts) or 'none'}); "
                         "training needs at least 2")
    x = np.array(rows)
    fill = np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0)
    fill = np.where(np.isfinite(fill), fill, 0.0)
    x = np.where(np.isfinite(x), x, fill)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, class_weight="balanced"))
    cv_accuracy = None
    if min(counts.values()) >= folds:
        cv_accuracy = float(np.mean(cross_val_score(pipeline, x, labels, cv=folds)))
    pipeline.fit(x, labels)
    scaler, regression = pipeline[0], pipeline[1]
    model = TrainedSER(
        feature_names=list(names), fill=fill.tolist(), mean=scaler.mean_.tolist(),
        scale=np.where(scaler.scale_ > 0, scaler.scale_, 1.0).tolist(),
        coef=regression.coef_.tolist(), intercept=regression.intercept_.tolist(), classes=[str(c) for c in regression.classes_],
        trained_on={"clips": len(labels), "counts": dict(counts), "cv_accuracy": cv_accuracy,
                    "speakers": len(norms), "normalisation": "per speaker (median/MAD, emodub.emotion.normalise)"},
    )
    return TrainingResult(model, len(labels), dict(counts), cv_accuracy, skipped)
