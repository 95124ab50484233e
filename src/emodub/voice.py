"""Speaker embeddings and similarity.

Uses resemblyzer's GE2E speaker encoder, whose weights (``pretrained.pt``, Apache-2.0) ship
inside the ``resemblyzer`` package, so it runs offline.  Similarity is the cosine of the two
256-dim utterance embeddings (resemblyzer's embeddings are L2-normalised).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from emodub.audio import Audio
from emodub.memo import by_content
from emodub.threads import size_torch

ENCODER_RATE_HZ = 16000


@functools.lru_cache(maxsize=1)
def load_encoder():
    """The GE2E encoder, loaded once per process."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder


        size_torch()  # one thread: 46× faster than two on a busy 2-core machine (bench/intelligibility.py threads)
        return VoiceEncoder("cpu", verbose=False)


def speaker_embedding(audio: Audio, *, trim_silence: bool = True) -> np.ndarray:
    """256-dim, unit-norm GE2E embedding of the voice in ``audio``.

    ``trim_silence=False`` skips resemblyzer's voice-activity trim, for speech known to hold no
    long pause (the profile search's probes, trimmed once per machine).  The last few embeddings
    are kept by content, so a reference compared with many outputs (one per cue, one per
    verification round) is embedded once.
    """
    return _embed(audio, trim_silence).copy()


@by_content(maxsize=8)
def _embed(audio: Audio, trim_silence: bool) -> np.ndarray:
    with warnings.catch_warnings():  # webrtcvad imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        from resemblyzer import preprocess_wav

    samples = at_level(audio.resampled(ENCODER_RATE_HZ).samples.astype(np.float32))
    wav = preprocess_wav(samples, source_sr=ENCODER_RATE_HZ) if trim_silence else samples
    if len(wav) < ENCODER_RATE_HZ // 4:  # VAD trimmed almost everything: embed the raw signal
        wav = samples
    return load_encoder().embed_utterance(wav)


def embed_many(clips: list[np.ndarray], batch: int = 64) -> np.ndarray:
    """GE2E embeddings of many 16-kHz clips (levelled, no VAD trim) with their partials in a few batched passes.

    The same as one ``embed_utterance`` call per clip, without a model call per clip: the cast
    step embeds about 80 overlapping 1.5-s windows a minute of speech.
    """
    import torch
    from resemblyzer import audio as mel_audio

    encoder = load_encoder()
    mels, owners = [], []
    for number, clip in enumerate(clips):
        wav = at_level(clip.astype(np.float32))
        wav_slices, mel_slices = encoder.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
        if wav_slices[-1].stop >= len(wav):
            wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)))
        mel = mel_audio.wav_to_mel_spectrogram(wav)
        mels += [mel[piece] for piece in mel_slices]
        owners += [number] * len(mel_slices)
    if not mels:
        return np.zeros((0, 256), np.float32)
    with torch.no_grad():
        partials = np.concatenate([encoder(torch.from_numpy(np.array(mels[i:i + batch]))).numpy() for i in range(0, len(mels), batch)])
    owners_arr = np.array(owners)
    sums = np.stack([partials[owners_arr == number].mean(axis=0) for number in range(len(clips))])
    return (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)


EMBEDDING_LEVEL_DBFS = -30.0  # resemblyzer's own normalisation target


def at_level(samples: np.ndarray) -> np.ndarray:
    """The clip at a fixed RMS level, so similarity does not depend on loudness.

    resemblyzer only ever raises the level (``increase_only``), and GE2E's log-mel input is not
    level-invariant: the same line 8 dB quieter scored 0.05 lower against its reference.
    """
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    if rms < 1e-6:
        return samples
    scaled = samples * (10 ** (EMBEDDING_LEVEL_DBFS / 20) / rms)
    return np.clip(scaled, -1.0, 1.0).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def speaker_similarity(a: Audio, b: Audio) -> float:
    """Cosine similarity of the speaker embeddings of two recordings (−1..1; same voice ≈ 0.8+)."""
    return cosine(speaker_embedding(a), speaker_embedding(b))
