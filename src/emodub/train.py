"""Timbre–emotion disentanglement: an emotion encoder and a speaker encoder trained with a GRL.

Each encoder maps log-mel frames to a small utterance embedding (1-D convolutions, mean and
standard-deviation pooling).  Its own head learns its task (emotion, or speaker); an
adversarial head behind a gradient reversal layer (Ganin & Lempitsky 2015) tries to read the
*other* label from the same embedding, and the reversed gradient teaches the encoder to hide
it — so the emotion embedding carries little timbre and the speaker embedding little emotion,
as IndexTTS2 does for its encoders.  λ ramps from 0 to ``grl_lambda`` with Ganin's schedule
2/(1+e^(−10p)) − 1.

Leakage is measured on a held-out split with fresh linear probes (scikit-learn) on the frozen
embeddings: emotion accuracy from the speaker embedding and speaker accuracy from the emotion
embedding, each against its chance level.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emodub.audio import Audio, load_audio
from emodub.emotion.ser_training import AUDIO_SUFFIXES, READERS
from emodub.emotion.space import EMOTION_NAMES, EmotionVector, canonical_emotion_name
from emodub.errors import InputError

FEATURE_RATE_HZ = 16000
N_MELS = 40
CHECKPOINT_FILE, CONFIG_FILE = "encoders.pt", "encoders.json"


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


def _speaker_of(path: Path, corpus: Path) -> str:
    stem = path.stem
    if "-" in stem and len(stem.split("-")) == 7:  # RAVDESS: the 7th field is the actor
        return f"ravdess-{stem.split('-')[6]}"
    if "_" in stem and len(stem.split("_")) == 4 and stem.split("_")[0].isdigit():  # CREMA-D: the 1st field
        return f"crema-{stem.split('_')[0]}"
    relative = path.relative_to(corpus).parts
    return relative[0] if len(relative) >= 3 else "unknown"  # <speaker>/<emotion>/x.wav and ESD <spk>/<Emotion>/x.wav


def read_corpus(corpus: str | Path) -> list[Clip]:
    """Clips with speaker and emotion labels: ``CORPUS/<speaker>/<emotion>/*.wav``, RAVDESS, CREMA-D or ESD names."""
    corpus = Path(corpus)
    if not corpus.is_dir():
        raise InputError(f"corpus folder {str(corpus)!r} does not exist or is not a folder")
    clips = []
    for path in sorted(p for p in corpus.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        emotion = next((label for reader in READERS.values() if (label := reader(path)) is not None), None)
        speaker = _speaker_of(path, corpus)
        if emotion is not None and speaker != "unknown":
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
    epochs: int = 60
    learning_rate: float = 3e-3
    grl_lambda: float = 1.0
    use_grl: bool = True
    adversary_steps: int = 5  # extra updates of the adversarial heads per epoch, so the encoders face a trained adversary
    seed: int = 0


class Encoders(nn.Module):
    """Emotion and speaker encoders, their heads, and the two adversarial heads behind GRLs."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        n_emotion, n_speaker = len(config.emotions), len(config.speakers)
        self.emotion_encoder, self.speaker_encoder = Encoder(config.dim), Encoder(config.dim)
        self.emotion_head, self.speaker_head = nn.Linear(config.dim, n_emotion), nn.Linear(config.dim, n_speaker)
        self.reverse = GradientReversal(0.0)
        self.speaker_from_emotion = nn.Sequential(nn.Linear(config.dim, 32), nn.ReLU(), nn.Linear(32, n_speaker))
        self.emotion_from_speaker = nn.Sequential(nn.Linear(config.dim, 32), nn.ReLU(), nn.Linear(32, n_emotion))

    def forward(self, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        e, s = self.emotion_encoder(mel), self.speaker_encoder(mel)
        return {"emotion_embedding": e, "speaker_embedding": s, "emotion": self.emotion_head(e), "speaker": self.speaker_head(s),
                "speaker_from_emotion": self.speaker_from_emotion(self.reverse(e)),
                "emotion_from_speaker": self.emotion_from_speaker(self.reverse(s))}

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{CHECKPOINT_FILE}.tmp"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, folder / CHECKPOINT_FILE)
        (folder / CONFIG_FILE).write_text(json.dumps({"format": "emodub-encoders-1", **asdict(self.config)}, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Encoders:
        folder = Path(folder)
        if not (folder / CONFIG_FILE).is_file() or not (folder / CHECKPOINT_FILE).is_file():
            raise InputError(f"{str(folder)!r} is not an emodub encoder folder (needs {CONFIG_FILE} and {CHECKPOINT_FILE}; "
                             "make one with 'emodub train-encoders')")
        data = json.loads((folder / CONFIG_FILE).read_text())
        if data.pop("format", None) != "emodub-encoders-1":
            raise InputError(f"{str(folder / CONFIG_FILE)!r} is not an emodub encoder config")
        model = cls(EncoderConfig(**data))
        model.load_state_dict(torch.load(folder / CHECKPOINT_FILE, weights_only=True))
        model.eval()
        return model

    @torch.no_grad()
    def embed(self, audio: Audio) -> tuple[np.ndarray, np.ndarray]:
        mel = torch.from_numpy(log_mel(audio))[None]
        out = self(mel)
        return out["emotion_embedding"][0].numpy(), out["speaker_embedding"][0].numpy()

    @torch.no_grad()
    def emotion_vector(self, audio: Audio) -> tuple[EmotionVector, float]:
        """The emotion head's probabilities as an EmotionVector, and the top probability."""
        mel = torch.from_numpy(log_mel(audio))[None]
        p = torch.softmax(self(mel)["emotion"][0], dim=0).numpy()
        weights = dict.fromkeys(EMOTION_NAMES, 0.0)
        for name, prob in zip(self.config.emotions, p):
            weights[name] += float(prob)
        return EmotionVector.from_dict(weights), float(p.max())


# -- training and leakage ----------------------------------------------------------------------------
def _batch(mels: list[np.ndarray]) -> torch.Tensor:
    """Crop every utterance to the shortest one (centred), so a batch is one tensor."""
    frames = min(m.shape[1] for m in mels)
    return torch.from_numpy(np.stack([m[:, (m.shape[1] - frames) // 2:(m.shape[1] - frames) // 2 + frames] for m in mels]))


def train_encoders(mels: list[np.ndarray], emotions: list[str], speakers: list[str], config: EncoderConfig,
                   progress: Callable[[int, int], None] | None = None) -> Encoders:
    """Full-batch Adam over the utterances; the adversarial losses only when ``config.use_grl``."""
    torch.manual_seed(config.seed)
    model = Encoders(config)
    x = _batch(mels)
    y_e = torch.tensor([config.emotions.index(e) for e in emotions])
    y_s = torch.tensor([config.speakers.index(s) for s in speakers])
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    adversaries = [*model.speaker_from_emotion.parameters(), *model.emotion_from_speaker.parameters()]
    adversary_optimiser = torch.optim.Adam(adversaries, lr=config.learning_rate)
    loss = nn.CrossEntropyLoss()
    for epoch in range(config.epochs):
        model.train()
        if config.use_grl:
            with torch.no_grad():
                e, s = model.emotion_encoder(x), model.speaker_encoder(x)
            for _ in range(config.adversary_steps):
                adversary_loss = loss(model.speaker_from_emotion(e), y_s) + loss(model.emotion_from_speaker(s), y_e)
                adversary_optimiser.zero_grad()
                adversary_loss.backward()
                adversary_optimiser.step()
        model.reverse.strength = ganin_schedule(epoch / max(1, config.epochs - 1), config.grl_lambda)
        out = model(x)
        total = loss(out["emotion"], y_e) + loss(out["speaker"], y_s)
        if config.use_grl:
            total = total + loss(out["speaker_from_emotion"], y_s) + loss(out["emotion_from_speaker"], y_e)
        optimiser.zero_grad()
        total.backward()
        optimiser.step()
        if progress is not None:
            progress(epoch + 1, config.epochs)
    model.eval()
    return model


def _probe_accuracy(train_x: np.ndarray, train_y: list[str], test_x: np.ndarray, test_y: list[str]) -> float:
    from sklearn.linear_model import LogisticRegression

    if len(set(train_y)) < 2:
        return float("nan")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(train_x, train_y)
    return float(np.mean(probe.predict(test_x) == np.asarray(test_y)))


def evaluate(model: Encoders, train: tuple[list[np.ndarray], list[str], list[str]], test: tuple[list[np.ndarray], list[str], list[str]]
             ) -> dict[str, float]:
    """Held-out accuracies of the heads and of fresh linear probes across the embeddings (leakage)."""
    with torch.no_grad():
        def run(mels: list[np.ndarray]) -> dict[str, np.ndarray]:
            return {k: v.numpy() for k, v in model(_batch(mels)).items()}

        tr, te = run(train[0]), run(test[0])
    emotions, speakers = model.config.emotions, model.config.speakers
    emotion_accuracy = float(np.mean([emotions[i] for i in te["emotion"].argmax(1)] == np.asarray(test[1])))
    speaker_accuracy = float(np.mean([speakers[i] for i in te["speaker"].argmax(1)] == np.asarray(test[2])))
    return {
        "emotion_accuracy": round(emotion_accuracy, 4),
        "speaker_accuracy": round(speaker_accuracy, 4),
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


def train_and_report(clips: list[Clip], out_dir: str | Path, *, epochs: int = 60, grl_lambda: float = 1.0, seed: int = 0,
                     progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Train with and without the GRL on the same split; save the GRL model; return the report."""
    speakers, emotions = sorted({c.speaker for c in clips}), sorted({c.emotion for c in clips})
    if len(speakers) < 2 or len(emotions) < 2:
        raise InputError(f"the corpus has {len(speakers)} speaker(s) and {len(emotions)} emotion(s) with labels; "
                         "training needs at least 2 of each")
    mels = []
    for index, clip in enumerate(clips):
        mels.append(log_mel(load_audio(clip.path)))
        if progress is not None:
            progress("features", index + 1, len(clips))
    train_idx, test_idx = split(clips, seed=seed)
    if not test_idx:
        raise InputError("the corpus is too small for a held-out split: give at least 2 clips per speaker and emotion")

    def part(indices: list[int]) -> tuple[list[np.ndarray], list[str], list[str]]:
        return [mels[i] for i in indices], [clips[i].emotion for i in indices], [clips[i].speaker for i in indices]

    report: dict = {"clips": len(clips), "train": len(train_idx), "test": len(test_idx), "speakers": speakers, "emotions": emotions,
                    "epochs": epochs, "grl_lambda": grl_lambda, "seed": seed}
    saved = None
    for key, use_grl in (("without_grl", False), ("with_grl", True)):
        config = EncoderConfig(emotions, speakers, epochs=epochs, grl_lambda=grl_lambda, use_grl=use_grl, seed=seed)
        model = train_encoders(*part(train_idx), config, None if progress is None else lambda d, t, k=key: progress(k, d, t))
        report[key] = evaluate(model, part(train_idx), part(test_idx))
        if use_grl:
            saved = model.save(out_dir)
    report["saved"] = str(saved)
    return report


class EncoderSER:
    """SER through a trained emotion encoder's head (``analyze --emotion-encoder DIR``)."""

    name = "emotion-encoder"

    def __init__(self, folder: str | Path) -> None:
        self.model = Encoders.load(folder)

    def predict(self, audio: Audio):
        from emodub.emotion.speech import SpeechEmotion

        vector, confidence = self.model.emotion_vector(audio)
        return SpeechEmotion(vector, confidence, self.name, {}, {}, [f"emotion encoder: {vector.dominant()} {confidence:.2f}"])
