"""Who speaks when in a recording (diarisation), and one clean reference per speaker, from the media itself.

The libraries: Silero VAD (``silero-vad``, MIT, ONNX weights in the package) finds speech;
resemblyzer's GE2E encoder (Apache-2.0, weights in the package; the same one that scores speaker
similarity) embeds 1.5-s windows of it; scikit-learn's agglomerative clustering (average
linkage, cosine distance) groups the windows into speakers, with a distance threshold when the
number of speakers is not given.  pyannote.audio's pipeline is the field's reference, but its
weights are gated on the Hugging Face hub, which emodub cannot reach: these three install from
the registry and run offline.

Each speaker gets **one fixed reference** for every line (a reference per line makes a voice
drift between lines): the speaker's cleanest 6–15 s — windows whose embedding sits close to
the speaker's centroid (no second voice in them) and whose speech stands well above the floor
between words (best SNR, nothing loud such as music under it) — joined in time order, with
their source spans named.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from emodub.audio import Audio, atomic_output, save_audio
from emodub.emotion.speech import speech_segments
from emodub.errors import InputError
from emodub.progress import StepProgress
from emodub.voice import embed_many

WINDOW_S = 1.5
HOP_S = 0.5
FRAME_S = 0.1  # timeline resolution of the labels
MIN_WINDOW_S = 0.6  # speech segments shorter than this are labelled by their neighbours' speaker, not embedded
DISTANCE_THRESHOLD = 0.29  # average-linkage cosine distance; 0.28–0.30 tell the real scenes of bench/dubbing.py apart
MIN_SPEAKER_S = 2.5  # without a given count, a cluster with less speech than this is merged into its nearest speaker
REFERENCE_MIN_S = 6.0
REFERENCE_MAX_S = 15.0
RATE_HZ = 16000



@dataclass
class Speaker:
    """One voice found in the media: when it speaks, and its reference."""

    label: str  # SPEAKER_1, SPEAKER_2, … in order of first appearance
    speaking_time_s: float
    turns: list[tuple[float, float]]
    reference_spans: list[tuple[float, float]]
    reference_s: float
    reference_snr_db: float
    reference_consistency: float  # mean cosine of the reference's windows to the speaker's centroid
    warnings: list[str] = field(default_factory=list)
    reference: Audio | None = field(default=None, repr=False)
    reference_file: str | None = None  # where save_cast wrote the reference

    def talk_within(self, start_s: float, end_s: float) -> float:
        """Seconds this speaker talks within ``start_s``–``end_s``."""
        return sum(max(0.0, min(end_s, b) - max(start_s, a)) for a, b in self.turns)

    def to_dict(self) -> dict:
        record = asdict(self)
        record.pop("reference")
        record["turns"] = [[round(a, 3), round(b, 3)] for a, b in self.turns]
        record["reference_spans"] = [[round(a, 3), round(b, 3)] for a, b in self.reference_spans]
        return record


@dataclass
class Cast:
    speakers: list[Speaker]
    duration_s: float

    def speaker(self, label: str) -> Speaker | None:
        return next((s for s in self.speakers if s.label.casefold() == label.casefold()), None)

    def dominant(self, start_s: float, end_s: float) -> Speaker | None:
        """The speaker who talks most within ``start_s``–``end_s`` (None if nobody does)."""
        best, best_s = None, 0.0
        for speaker in self.speakers:
            talk = speaker.talk_within(start_s, end_s)
            if talk > best_s:
                best, best_s = speaker, talk
        return best

    def labels_of(self, spans: list[tuple[float, float]]) -> list[str | None]:
        """The dominant speaker's label in each span (None where nobody speaks)."""
        return [None if (speaker := self.dominant(a, b)) is None else speaker.label for a, b in spans]

    def to_dict(self) -> dict:
        return {"duration_s": round(self.duration_s, 3), "speakers": [s.to_dict() for s in self.speakers]}


def _windows(segments: list[tuple[float, float]]) -> list[tuple[float, float]]:
    windows = []
    for start, end in segments:
        if end - start < MIN_WINDOW_S:
            continue
        if end - start <= WINDOW_S:
            windows.append((start, end))
            continue
        t = start
        while t + WINDOW_S <= end + 1e-9:
            windows.append((t, t + WINDOW_S))
            t += HOP_S
        if windows[-1][1] < end - HOP_S / 2:
            windows.append((end - WINDOW_S, end))
    return windows


def _cluster(embeddings: np.ndarray, n_speakers: int | None) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    if len(embeddings) == 1:
        return np.zeros(1, int)
    if n_speakers is not None:
        model = AgglomerativeClustering(n_clusters=min(n_speakers, len(embeddings)), metric="cosine", linkage="average")
    else:
        model = AgglomerativeClustering(n_clusters=None, distance_threshold=DISTANCE_THRESHOLD, metric="cosine", linkage="average")
    return model.fit_predict(embeddings)


def _runs(frames: np.ndarray, value: int) -> list[tuple[float, float]]:
    """(start_s, end_s) of the runs of ``frames == value``."""
    mask = np.concatenate([[False], frames == value, [False]])
    edges = np.flatnonzero(np.diff(mask.astype(int)))
    return [(a * FRAME_S, b * FRAME_S) for a, b in zip(edges[::2], edges[1::2])]


def _snr_db(samples: np.ndarray) -> float:
    """Speech level over the floor between words: 95th over 10th percentile of 20-ms frame energies."""
    frame = RATE_HZ // 50
    n = len(samples) // frame
    if n < 5:
        return 0.0
    energy = np.mean(samples[:n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1) + 1e-12
    return float(10 * np.log10(np.percentile(energy, 95) / np.percentile(energy, 10)))


def diarize(audio: Audio, *, n_speakers: int | None = None, progress: StepProgress | None = None) -> Cast:
    """Speakers of ``audio`` with their turns and one reference each (see the module's notes)."""
    if n_speakers is not None and n_speakers < 1:
        raise InputError(f"number of speakers {n_speakers!r} is not allowed; it must be ≥ 1")
    track = audio.resampled(RATE_HZ)
    segments = speech_segments(track)
    windows = _windows(segments)
    if not windows:
        raise InputError("no stretch of speech long enough to tell voices apart (≥ 0.6 s) was found in the media")
    embeddings_arr = embed_many([track.samples[int(start * RATE_HZ):int(end * RATE_HZ)] for start, end in windows])
    if progress:
        progress(len(windows), len(windows))
    labels = _cluster(embeddings_arr, n_speakers)
    n_frames = int(np.ceil(track.duration_s / FRAME_S))
    votes = np.zeros((n_frames, labels.max() + 1))
    for (start, end), label in zip(windows, labels):
        centre, half = (start + end) / 2, (end - start) / 2
        for f in range(int(start / FRAME_S), min(n_frames, int(np.ceil(end / FRAME_S)))):
            votes[f, label] += 1.0 - abs((f + 0.5) * FRAME_S - centre) / (half + FRAME_S)  # the window's middle counts most
    frames = np.full(n_frames, -1)
    in_speech = np.zeros(n_frames, bool)
    for start, end in segments:
        in_speech[int(start / FRAME_S):int(np.ceil(end / FRAME_S))] = True
    voted = votes.sum(axis=1) > 0
    frames[voted & in_speech] = np.argmax(votes[voted & in_speech], axis=1)
    for start, end in segments:  # short segments with no window of their own: the nearest labelled frame's speaker
        lo, hi = int(start / FRAME_S), min(n_frames, int(np.ceil(end / FRAME_S)))
        if lo < hi and np.all(frames[lo:hi] < 0):
            labelled = np.flatnonzero(frames >= 0)
            if len(labelled):
                frames[lo:hi] = frames[labelled[np.argmin(np.abs(labelled - (lo + hi) / 2))]]
    if n_speakers is None:
        frames = _merge_small(frames, embeddings_arr, labels)
    frames = _snap_changes(frames, track)
    order = [int(v) for v in dict.fromkeys(frames[frames >= 0])]
    speakers = []
    for number, label in enumerate(order, 1):
        mine = [i for i, lab in enumerate(labels) if lab == label]
        speakers.append(_speaker(f"SPEAKER_{number}", track, frames, label, [windows[i] for i in mine], embeddings_arr[mine]))
    return Cast(speakers, track.duration_s)


SNAP_S = 0.5  # a change of speaker moves to the quietest 100-ms frame within this distance


def _snap_changes(frames: np.ndarray, track: Audio) -> np.ndarray:
    """Move each change of speaker to the quietest frame near it: people take turns at pauses, and 1.5-s
    windows place the change only to within about half a window."""
    step = int(FRAME_S * RATE_HZ)
    n = min(len(frames), len(track.samples) // step)
    energy = np.mean(track.samples[:n * step].reshape(n, step).astype(np.float64) ** 2, axis=1)
    frames = frames.copy()
    reach = int(round(SNAP_S / FRAME_S))
    for i in range(1, n):
        before, after = frames[i - 1], frames[i]
        if before < 0 or after < 0 or before == after:
            continue
        lo, hi = max(1, i - reach), min(n - 1, i + reach)
        inside = [j for j in range(lo, hi + 1) if frames[j] in (before, after) and frames[j - 1] in (before, after)]
        j = min(inside, key=lambda k: energy[k]) if inside else i
        if j < i:
            frames[j:i] = after
        elif j > i:
            frames[i:j] = before
    return frames


def _merge_small(frames: np.ndarray, embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Clusters with under MIN_SPEAKER_S of speech are a stray window, not a person: give them to the nearest speaker."""
    frames = frames.copy()
    talk = {int(v): float(np.sum(frames == v)) * FRAME_S for v in np.unique(frames[frames >= 0])}
    big = [v for v, s in talk.items() if s >= MIN_SPEAKER_S]
    if not big:
        return frames
    centroids = {v: embeddings[labels == v].mean(axis=0) for v in np.unique(labels)}
    for small in (v for v, s in talk.items() if s < MIN_SPEAKER_S):
        nearest = max(big, key=lambda v: float(np.dot(centroids[v], centroids[small])))
        frames[frames == small] = nearest
    return frames


def _speaker(label: str, track: Audio, frames: np.ndarray, value: int, windows: list[tuple[float, float]],
             embeddings: np.ndarray) -> Speaker:
    turns = _runs(frames, value)
    centroid = embeddings.mean(axis=0)
    centroid /= np.linalg.norm(centroid) + 1e-12
    # candidate windows: wholly inside one of this speaker's turns (no other voice labelled there)
    scored = []
    for (start, end), emb in zip(windows, embeddings):
        if not any(a - 1e-6 <= start and end <= b + 1e-6 for a, b in turns):
            continue
        piece = track.samples[int(start * RATE_HZ):int(end * RATE_HZ)]
        consistency = float(np.dot(emb, centroid))
        scored.append((consistency + _snr_db(piece) / 60.0, start, end, consistency))
    warnings = []
    if not scored:  # every window touches another voice: take the best windows anyway
        scored = [(float(np.dot(e, centroid)), a, b, float(np.dot(e, centroid))) for (a, b), e in zip(windows, embeddings)]
        warnings.append("no stretch of this voice without another voice next to it; its reference may hold traces of others")
    chosen: list[tuple[float, float, float]] = []
    total = 0.0
    for _, start, end, consistency in sorted(scored, reverse=True):
        if total >= REFERENCE_MIN_S:
            break
        new = [(start, end)]
        for a, b, _ in chosen:  # keep only the part not already taken
            new = [piece for s, e in new for piece in ((s, min(e, a)), (max(s, b), e)) if piece[1] - piece[0] > 0.05]
        for s, e in new:
            take = min(e - s, REFERENCE_MAX_S - total)
            if take > 0.05:
                chosen.append((s, s + take, consistency))
                total += take
    spans = _merged(sorted((a, b) for a, b, _ in chosen))
    if total < REFERENCE_MIN_S:
        warnings.append(f"only {total:.1f} s of clean speech (6–15 s is best); the cloned voice may be less close")
    pieces = [track.samples[int(a * RATE_HZ):int(b * RATE_HZ)] for a, b in spans]
    gap = np.zeros(int(0.15 * RATE_HZ), np.float32)
    samples = np.concatenate([part for piece in pieces for part in (piece, gap)][:-1]) if pieces else np.zeros(0, np.float32)
    consistency = float(np.mean([c for _, _, c in chosen])) if chosen else 0.0
    return Speaker(label, round(sum(b - a for a, b in turns), 3), turns, spans, round(sum(b - a for a, b in spans), 3),
                   round(_snr_db(samples), 1), round(consistency, 3), warnings, Audio(samples, RATE_HZ))


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in spans:
        if out and a <= out[-1][1] + 1e-6:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def save_cast(cast: Cast, folder: Path, *, prefix: str = "") -> dict[str, Path]:
    """Write each speaker's reference as ``<prefix>SPEAKER_n.wav`` and the cast as ``<prefix>cast.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for speaker in cast.speakers:
        if speaker.reference is not None and len(speaker.reference.samples):
            paths[speaker.label] = save_audio(speaker.reference, folder / f"{prefix}{speaker.label}.wav")
            speaker.reference_file = str(paths[speaker.label])
    record = cast.to_dict()
    with atomic_output(folder / f"{prefix}cast.json") as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    return paths
