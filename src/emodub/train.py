"""Timbre–emotion disentanglement: an emotion encoder and a speaker encoder trained with a GRL.

Each encoder maps log-mel frames to a small utterance embedding (1-D convolutions, mean and
standard-deviation pooling).  Its own head learns its task (emotion, or speaker); an
adversarial head behind a gradient reversal layer (Ganin & Lempitsky 2015) tries to read the
*other* label from the same embedding, and the reversed gradient teaches the encoder to hide
it — so the emotion embedding carries little timbre and the speaker embedding little emotion,
as IndexTTS2 does for its encoders.  λ ramps from 0 to ``grl_lambda`` with Ganin's schedule
2/(1+e^(−10p)) − 1.

Two details decide whether the reversal removes information or only hides it from one head:

- the adversaries standardise the embedding first (batch norm without affine terms), as the
  leakage probe does; an adversary on the raw embedding is beaten by shrinking the informative
  directions, which a standardising probe undoes;
- the adversaries are updated ``adversary_steps`` times per batch on the frozen embeddings, so
  the encoders always face a trained adversary (Elazar & Goldberg 2018 show that a weak
  adversary leaves the attribute readable by a fresh probe).

Training uses mini-batches of random ``crop_frames`` crops (1 s by default); evaluation embeds
whole utterances.  Leakage is measured on a held-out split with fresh linear probes
(scikit-learn) on the frozen embeddings: emotion accuracy from the speaker embedding and
speaker accuracy from the emotion embedding, each against its chance level.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emodub.audio import Audio, load_audio
from emodub.emotion.ser_training import AUDIO_SUFFIXES, READERS, speaker_of
from emodub.emotion.space import EMOTION_NAMES, EmotionVector, canonical_emotion_name
from emodub.emotion.speech import SpeechEmotion
from emodub.errors import InputError
from emodub.progress import Progress, StepProgress

FEATURE_RATE_HZ = 16000
N_MELS = 40
CHECKPOINT_FILE, CONFIG_FILE = "encoders.pt", "encoders.json"
FORMAT = "emodub-encoders-2"


# -- the gradient reversal layer ------------------------------------------------------------------
class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, strength: float) -> torch.Tensor:
        ctx.strength = strength
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.strength * grad, None


class GradientReversal(nn.Module):
    """Identity forward; multiplies the gradient by −λ backward."""

    def __init__(self, strength: float = 1.0) -> None:
        super().__init__()
        self.strength = strength

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReverseGradient.apply(x, self.strength)


def ganin_schedule(progress: float, final: float) -> float:
    """λ(p) = final · (2 / (1 + e^(−10p)) − 1), p the fraction of training done."""
    return final * (2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0)


# -- features and corpus ----------------------------------------------------------------------------
def log_mel(audio: Audio) -> np.ndarray:
    """(N_MELS, frames) log-mel spectrogram, 25-ms windows every 10 ms."""
    import librosa

    samples = audio.resampled(FEATURE_RATE_HZ).samples
    mel = librosa.feature.melspectrogram(y=samples, sr=FEATURE_RATE_HZ, n_fft=400, hop_length=160, n_mels=N_MELS)
    return np.log(mel + 1e-6).astype(np.float32)


@dataclass(frozen=True)
class Clip:
    path: Path
    speaker: str
    emotion: str


def read_corpus(corpus: str | Path) -> list[Clip]:
    """Clips with speaker and emotion labels: ``CORPUS/<speaker>/<emotion>/*.wav``, RAVDESS, CREMA-D or ESD names."""
    corpus = Path(corpus)
    if not corpus.is_dir():
        raise InputError(f"corpus folder {str(corpus)!r} does not exist or is not a folder")
    clips = []
    for path in sorted(p for p in corpus.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        emotion = next((label for reader in READERS.values() if (label := reader(path)) is not None), None)
        speaker = speaker_of(path, corpus)
        if emotion is not None and speaker is not None:
            clips.append(Clip(path, speaker, canonical_emotion_name(emotion)))
    return clips


# -- the encoders ------------------------------------------------------------------------------------
class Encoder(nn.Module):
    """log-mel frames ► embedding: two 1-D convolutions, mean + std pooling, a linear projection."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(N_MELS, 64, 5, padding=2), nn.ReLU(), nn.Conv1d(64, 64, 5, padding=2), nn.ReLU())
        self.project = nn.Linear(128, dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.conv(mel)
        return self.project(torch.cat([h.mean(dim=2), h.std(dim=2)], dim=1))


@dataclass
class EncoderConfig:
    emotions: list[str]
    speakers: list[str]
    dim: int = 32
    epochs: int = 150
    batch_size: int = 32
    crop_frames: int = 100  # 1 s of 10-ms frames per training crop
    learning_rate: float = 3e-3
    grl_lambda: float = 1.0
    use_grl: bool = True
    adversary_steps: int = 10  # updates of the adversarial heads per batch, on the frozen embeddings
    seed: int = 0
    mel_warp: float = 0.0  # vocal-tract length perturbation: each crop's mel axis stretched by up to ± this share


def _adversary(dim: int, classes: int) -> nn.Module:
    """Standardise, then a one-hidden-layer classifier (see the module docstring for why)."""
    return nn.Sequential(nn.BatchNorm1d(dim, affine=False), nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, classes))


class Encoders(nn.Module):
    """Emotion and speaker encoders, their heads, and the two adversarial heads behind GRLs."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        n_emotion, n_speaker = len(config.emotions), len(config.speakers)
        self.emotion_encoder, self.speaker_encoder = Encoder(config.dim), Encoder(config.dim)
        self.emotion_head, self.speaker_head = nn.Linear(config.dim, n_emotion), nn.Linear(config.dim, n_speaker)
        self.reverse = GradientReversal(0.0)
        self.speaker_from_emotion = _adversary(config.dim, n_speaker)
        self.emotion_from_speaker = _adversary(config.dim, n_emotion)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{CHECKPOINT_FILE}.tmp"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, folder / CHECKPOINT_FILE)
        (folder / CONFIG_FILE).write_text(json.dumps({"format": FORMAT, **asdict(self.config)}, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Encoders:
        folder = Path(folder)
        if not (folder / CONFIG_FILE).is_file() or not (folder / CHECKPOINT_FILE).is_file():
            raise InputError(f"{str(folder)!r} is not an emodub encoder folder (needs {CONFIG_FILE} and {CHECKPOINT_FILE}; "
                             "make one with 'emodub train-encoders')")
        data = json.loads((folder / CONFIG_FILE).read_text())
        if data.pop("format", None) != FORMAT:
            raise InputError(f"{str(folder / CONFIG_FILE)!r} is not an {FORMAT} config; retrain with 'emodub train-encoders'")
        model = cls(EncoderConfig(**data))
        model.load_state_dict(torch.load(folder / CHECKPOINT_FILE, weights_only=True))
        model.eval()
        return model

    @torch.no_grad()
    def emotion_vector(self, audio: Audio) -> tuple[EmotionVector, float]:
        """The emotion head's probabilities as an EmotionVector, and the top probability."""
        mel = torch.from_numpy(log_mel(audio))[None]
        p = torch.softmax(self.emotion_head(self.emotion_encoder(mel))[0], dim=0).numpy()
        weights = dict.fromkeys(EMOTION_NAMES, 0.0)
        for name, prob in zip(self.config.emotions, p):
            weights[name] += float(prob)
        return EmotionVector.from_dict(weights), float(p.max())


# -- training and leakage ----------------------------------------------------------------------------
def _warped(mel: np.ndarray, factor: float) -> np.ndarray:
    """The mel axis stretched by ``factor`` (>1 moves energy up: a shorter vocal tract)."""
    source = np.clip(np.arange(mel.shape[0]) / factor, 0, mel.shape[0] - 1)
    low = np.minimum(np.floor(source).astype(int), mel.shape[0] - 2)
    weight = (source - low)[:, None]
    return ((1 - weight) * mel[low] + weight * mel[low + 1]).astype(np.float32)


def _random_crops(mels: list[np.ndarray], frames: int, rng: np.random.Generator, mel_warp: float = 0.0) -> torch.Tensor:
    """One random ``frames``-long crop of each utterance (all at least that long), stacked into a batch."""
    starts = [int(rng.integers(0, m.shape[1] - frames + 1)) for m in mels]
    crops = [m[:, start:start + frames] for m, start in zip(mels, starts)]
    if mel_warp > 0:
        crops = [_warped(c, float(rng.uniform(1 - mel_warp, 1 + mel_warp))) for c in crops]
    return torch.from_numpy(np.stack(crops))


def train_encoders(mels: list[np.ndarray], emotions: list[str], speakers: list[str], config: EncoderConfig,
                   progress: StepProgress | None = None) -> Encoders:
    """Adam over mini-batches of random crops; the adversarial losses only when ``config.use_grl``.

    Each batch: the adversaries take ``adversary_steps`` steps on the frozen embeddings, then
    encoders and heads take one step on their own losses plus the adversaries' losses through the
    GRL (so the encoders climb what the adversaries descend).
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = Encoders(config)
    y_e = torch.tensor([config.emotions.index(e) for e in emotions])
    y_s = torch.tensor([config.speakers.index(s) for s in speakers])
    adversaries = [*model.speaker_from_emotion.parameters(), *model.emotion_from_speaker.parameters()]
    encoders_and_heads = [p for name, p in model.named_parameters() if not name.startswith(("speaker_from_", "emotion_from_"))]
    optimiser = torch.optim.Adam(encoders_and_heads, lr=config.learning_rate)
    adversary_optimiser = torch.optim.Adam(adversaries, lr=config.learning_rate)
    loss = nn.CrossEntropyLoss()
    batches_per_epoch = max(1, len(mels) // config.batch_size)
    total_steps = config.epochs * batches_per_epoch
    model.train()
    for epoch in range(config.epochs):
        order = rng.permutation(len(mels))
        for number in range(batches_per_epoch):
            index = order[number * config.batch_size:(number + 1) * config.batch_size]
            frames = min(config.crop_frames, *(mels[i].shape[1] for i in index))
            x = _random_crops([mels[i] for i in index], frames, rng, config.mel_warp)
            e, s = model.emotion_encoder(x), model.speaker_encoder(x)
            if config.use_grl:
                frozen_e, frozen_s = e.detach(), s.detach()
                for _ in range(config.adversary_steps):
                    adversary_loss = (loss(model.speaker_from_emotion(frozen_e), y_s[index])
                                      + loss(model.emotion_from_speaker(frozen_s), y_e[index]))
                    adversary_optimiser.zero_grad()
                    adversary_loss.backward()
                    adversary_optimiser.step()
            model.reverse.strength = ganin_schedule((epoch * batches_per_epoch + number) / max(1, total_steps - 1), config.grl_lambda)
            total = loss(model.emotion_head(e), y_e[index]) + loss(model.speaker_head(s), y_s[index])
            if config.use_grl:
                total = (total + loss(model.speaker_from_emotion(model.reverse(e)), y_s[index])
                         + loss(model.emotion_from_speaker(model.reverse(s)), y_e[index]))
            optimiser.zero_grad()
            total.backward()
            optimiser.step()
        if progress is not None:
            progress(epoch + 1, config.epochs)
    model.eval()
    return model


@torch.no_grad()
def _embed_all(model: Encoders, mels: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Embeddings and head logits of whole utterances, one at a time (lengths differ)."""
    rows = []
    for mel in mels:
        x = torch.from_numpy(mel)[None]
        e, s = model.emotion_encoder(x), model.speaker_encoder(x)
        rows.append({"emotion_embedding": e[0], "speaker_embedding": s[0], "emotion": model.emotion_head(e)[0],
                     "speaker": model.speaker_head(s)[0]})
    return {key: torch.stack([row[key] for row in rows]).numpy() for key in rows[0]}


def _probe_accuracy(train_x: np.ndarray, train_y: list[str], test_x: np.ndarray, test_y: list[str]) -> float:
    from sklearn.linear_model import LogisticRegression

    if len(set(train_y)) < 2:
        return float("nan")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(train_x, train_y)
    return float(np.mean(probe.predict(test_x) == np.asarray(test_y)))


def _head_accuracy(logits: np.ndarray, names: list[str], truth: list[str]) -> float:
    return round(float(np.mean(np.asarray(names)[logits.argmax(1)] == np.asarray(truth))), 4)


def evaluate(model: Encoders, train: tuple[list[np.ndarray], list[str], list[str]], test: tuple[list[np.ndarray], list[str], list[str]]
             ) -> dict[str, float]:
    """Held-out accuracies of the heads and of fresh linear probes across the embeddings (leakage)."""
    tr, te = _embed_all(model, train[0]), _embed_all(model, test[0])
    return {
        "emotion_accuracy": _head_accuracy(te["emotion"], model.config.emotions, test[1]),
        "speaker_accuracy": _head_accuracy(te["speaker"], model.config.speakers, test[2]),
        "emotion_leakage": round(_probe_accuracy(tr["speaker_embedding"], train[1], te["speaker_embedding"], test[1]), 4),
        "speaker_leakage": round(_probe_accuracy(tr["emotion_embedding"], train[2], te["emotion_embedding"], test[2]), 4),
        "emotion_chance": round(max(Counter(test[1]).values()) / len(test[1]), 4),
        "speaker_chance": round(max(Counter(test[2]).values()) / len(test[2]), 4),
    }


def split(clips: list[Clip], test_share: float = 0.3, seed: int = 0) -> tuple[list[int], list[int]]:
    """Stratified by (speaker, emotion): every pair keeps at least one clip in training."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[int]] = {}
    for index, clip in enumerate(clips):
        groups.setdefault((clip.speaker, clip.emotion), []).append(index)
    train, test = [], []
    for members in groups.values():
        members = list(rng.permutation(members))
        n_test = int(round(len(members) * test_share)) if len(members) > 1 else 0
        test += members[:n_test]
        train += members[n_test:]
    return sorted(train), sorted(test)


def train_and_report(clips: list[Clip], out_dir: str | Path, *, epochs: int = 150, grl_lambda: float = 1.0, seed: int = 0,
                     held_out_speakers: tuple[str, ...] = (), mel_warp: float = 0.0, progress: Progress | None = None) -> dict:
    """Train with and without the GRL on the same split; save the GRL model; return the report.

    ``held_out_speakers`` are left out of training entirely; each run's emotion head is then scored
    on them (``unseen_speaker_emotion_accuracy``), the test that matters for a real corpus.
    """
    known_speakers = {c.speaker for c in clips}
    if missing := sorted(set(held_out_speakers) - known_speakers):
        raise InputError(f"held-out speaker(s) {', '.join(map(repr, missing))} are not in the corpus; "
                         f"its speakers are: {', '.join(sorted(known_speakers))}")
    unseen = [c for c in clips if c.speaker in held_out_speakers]
    clips = [c for c in clips if c.speaker not in held_out_speakers]
    speakers, emotions = sorted({c.speaker for c in clips}), sorted({c.emotion for c in clips})
    unseen = [c for c in unseen if c.emotion in emotions]  # the head can only name emotions it was trained on
    if len(speakers) < 2 or len(emotions) < 2:
        raise InputError(f"the corpus has {len(speakers)} speaker(s) and {len(emotions)} emotion(s) with labels; "
                         "training needs at least 2 of each")
    mels = []
    for index, clip in enumerate(clips + unseen):
        mels.append(log_mel(load_audio(clip.path)))
        if progress is not None:
            progress("features", index + 1, len(clips) + len(unseen))
    mels, unseen_mels = mels[:len(clips)], mels[len(clips):]
    train_idx, test_idx = split(clips, seed=seed)
    if not test_idx:
        raise InputError("the corpus is too small for a held-out split: give at least 2 clips per speaker and emotion")

    def part(indices: list[int]) -> tuple[list[np.ndarray], list[str], list[str]]:
        return [mels[i] for i in indices], [clips[i].emotion for i in indices], [clips[i].speaker for i in indices]

    report: dict = {"clips": len(clips), "train": len(train_idx), "test": len(test_idx), "speakers": speakers, "emotions": emotions,
                    "epochs": epochs, "grl_lambda": grl_lambda, "seed": seed, "mel_warp": mel_warp,
                    "held_out_speakers": sorted(held_out_speakers), "unseen_speaker_clips": len(unseen)}
    saved = None
    for key, use_grl in (("without_grl", False), ("with_grl", True)):
        config = EncoderConfig(emotions, speakers, epochs=epochs, grl_lambda=grl_lambda, use_grl=use_grl, seed=seed,
                               mel_warp=mel_warp)
        model = train_encoders(*part(train_idx), config, None if progress is None else lambda d, t, k=key: progress(k, d, t))
        report[key] = evaluate(model, part(train_idx), part(test_idx))
        if unseen:
            logits = _embed_all(model, unseen_mels)["emotion"]
            report[key]["unseen_speaker_emotion_accuracy"] = _head_accuracy(logits, emotions, [c.emotion for c in unseen])
        if use_grl:
            saved = model.save(out_dir)
    report["saved"] = str(saved)
    return report


@functools.lru_cache(maxsize=4)
def _load_cached(folder: Path, modified_ns: int) -> Encoders:
    return Encoders.load(folder)


def load_encoders(folder: str | Path) -> Encoders:
    """``Encoders.load``, kept for the next call on the same, unchanged folder (a job reads it once per round)."""
    folder = Path(folder).resolve()
    config = folder / CONFIG_FILE
    return _load_cached(folder, config.stat().st_mtime_ns if config.is_file() else 0)


class EncoderSER:
    """SER through a trained emotion encoder's head (``--emotion-encoder`` / ``--judge-encoder``)."""

    name = "emotion-encoder"

    def __init__(self, folder: str | Path) -> None:
        self.model = load_encoders(folder)

    def predict(self, audio: Audio):
        vector, confidence = self.model.emotion_vector(audio)
        return SpeechEmotion(vector, confidence, self.name, {}, {}, [f"emotion encoder: {vector.dominant()} {confidence:.2f}"])
