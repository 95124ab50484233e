"""Timbre adaptation to a ~5 s speaker reference, chosen by measured speaker similarity.

Estimated from the reference: log-F0 mean and spread, the mean and spread of each
coefficient of WORLD's coded (mel-cepstral) spectral envelope over voiced frames, and band
aperiodicity.  Applied to the base voice: F0 mapped onto the reference's log-F0 statistics,
the spectral envelope warped in frequency by ``warp`` (vocal-tract length: >1 shortens the
tract and raises formants), then cepstral mean-variance matching (the mean carries the
long-term envelope and tilt, the spread its dynamics; cf. the "MVN" baseline of the Voice
Conversion Challenges), and aperiodicity moved toward the reference's.  Each voiced frame's
envelope is then blended with the mean of its ``FRAME_MATCH_NEIGHBOURS`` nearest frames of the
reference itself, in the matched cepstral space (frame selection: the idea of kNN-VC, Baas et
al. 2023, on WORLD cepstra).  That brings the speaker's own spectral detail, which global
statistics cannot carry; the choice's ``frame_match`` share (default 0; a request may set
0–1) says how much: more is closer to the speaker, less is clearer.

The base voice and warp are chosen by a search that never trades words for likeness, coarse to
fine: the base voices' own probe sentences are analysed once per machine (:func:`base_probes`);
every base voice (or, pruned, the ``PRUNED_VOICES`` closest to the reference) is searched at
coarse warps, and the leading two on the fine grid (or, pruned, next to their best coarse warp),
each candidate by GE2E similarity (``emodub.voice``, averaged over three probe sentences so the
choice generalises to new text); then the ear (:mod:`emodub.ear`) hears the candidates, most
similar first, over six sentences, and stops at the first that keeps the words.  When no
searched voice does, the other base voices are searched and their best heard.  The winner is
the most similar candidate whose probe error stays within ``EAR_MARGIN`` of the clearest base
voice's own error (base voices beyond it are never shortlisted).  The default
frame-match share is 0: on real references, any share tried (0.25, 0.5) cost words.  The
result is a :class:`VoiceProfile`, cached under the reference's hash.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from emodub.audio import Audio
from emodub.ear import Ear, can_hear, default_ear, error_rate
from emodub.engines.builtin import world
from emodub.engines.builtin.base_voice import synthesize_base, voices_for
from emodub.errors import EngineError
from emodub.model_files import models_dir
from emodub.voice import cosine, speaker_embedding

PROFILE_VERSION = 9
WARP_GRID = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25)
COARSE_WARPS = (0.9, 1.05, 1.2)  # every searched base voice; the fine grid only for the leading voices
FINE_VOICES = 2
# A pruned search (the 3 closest base voices, fine warps ±1 step) is available but off: measured in
# bench/builtin_engine.py search, it saved 6.6 s of 28 on average and cost words on two of eight (voice, language) pairs.
PRUNED_VOICES: int | None = None  # base voices searched: the closest to the reference by the GE2E cosine of their own probes
FINE_STEPS: int | None = None  # fine warps tried on each side of a leading voice's best coarse warp (grid steps of 0.05)
BASE_PROBES_VERSION = 3  # bump when the probe analysis changes: the per-machine cache is rebuilt
EAR_SHORTLIST = 3  # most similar candidates the ear hears
EAR_MAX_HEARINGS = 6  # when none of those keeps the words: the best candidate of each other base voice, up to this many
EAR_MARGIN = 0.05  # probe error a candidate may add over the clearest base voice's own (pooled WER/CER)
CEPSTRUM_DIMS = 40
BAND_EDGE = 0.9
AP_BANDS_HZ = ((0, 1000), (1000, 4000), (4000, 11025))
FRAME_MATCH_NEIGHBOURS = 4
DEFAULT_FRAME_MATCH = 0.0  # 0 = statistics only; 1 = wholly from the reference frames.  On real references 0.25–0.5 cost
# words (alsa-utils voice: WER 0 % at 0, 13.5 % at 0.25 and 0.5) for +0.01–0.08 GE2E: bench/intelligibility.py shares
FRAME_STRIDE = 2  # reference frames kept for matching: every 2nd 5-ms frame (neighbours are alike)
PROBE_TEXTS = {
    "en": ("The quick brown fox jumps over the lazy dog, and then it runs away into the quiet forest.",
           "She sells fresh fish at the market every morning, rain or shine.",
           "Why would anyone want to wait so long for a bus that never comes on time?"),
    "zh": ("今天天气很好，我们一起去公园散步，然后回家吃饭。",
           "她每天早上都在市场卖新鲜的鱼，不管刮风下雨。",
           "为什么有人愿意等这么久，等一辆从来不准时的公共汽车？"),
}

EAR_EXTRA_TEXTS = {  # heard with the probes above by the ear only: more words make its verdict on a candidate less of a coin toss
    "en": ("My sister bought a yellow umbrella at the station last Thursday.",
           "How much longer do we have to drive before we reach the bridge?",
           "Nobody answered the phone, so he left a short message and went home."),
    "zh": ("我妹妹上周四在车站买了一把黄色的雨伞。",
           "我们还要开多久才能到那座桥？",
           "没有人接电话，所以他留了一条短信就回家了。"),
}


@dataclass
class VoiceChoice:
    """The base voice and warp chosen for one language, with the similarities measured."""

    base_voice: str
    warp: float
    cepstrum_mean: list[float]  # of the warped base voice, measured on the probe sentences
    cepstrum_std: list[float]
    ap_shift: list[float]
    similarity: float
    base_similarity: float
    frame_match: float = DEFAULT_FRAME_MATCH
    probe_error: float | None = None  # the ear's pooled WER/CER on the adapted probes (None: no ear for the language)
    base_probe_error: float | None = None  # the clearest candidate base voice's own probe error
    error_limit: float | None = None
    ear: str | None = None


@dataclass
class VoiceProfile:
    """What emodub learned about a reference voice.  Saved as JSON; keyed by content hash."""

    reference_hash: str
    log_f0_mean: float
    log_f0_std: float
    cepstrum_mean: list[float]
    cepstrum_std: list[float]
    ap_bands: list[float]
    nyquist_hz: float
    voiced_frames: list[list[float]]  # coded envelopes of the reference's voiced frames, for frame matching
    choices: dict[str, VoiceChoice] = field(default_factory=dict)
    version: int = PROFILE_VERSION

    @functools.cached_property
    def voiced_frames_array(self) -> np.ndarray:
        return np.asarray(self.voiced_frames, dtype=float)

    def save(self, path: str | os.PathLike) -> None:
        data = asdict(self)
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> VoiceProfile:
        data = json.loads(Path(path).read_text())
        data["choices"] = {k: VoiceChoice(**v) for k, v in data["choices"].items()}
        return cls(**data)


def reference_hash(audio: Audio) -> str:
    digest = hashlib.sha256(audio.samples.tobytes())
    digest.update(str(audio.sample_rate_hz).encode())
    return digest.hexdigest()[:24]


def cache_dir() -> Path:
    root = Path(os.environ.get("EMODUB_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emodub")
    path = root / "profiles"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _voiced(features: world.WorldFeatures, values: np.ndarray) -> np.ndarray:
    """Rows of ``values`` at voiced frames (all frames when fewer than 10 are voiced)."""
    return values[features.voiced] if features.voiced.sum() > 10 else values


def voiced_coded(features: world.WorldFeatures) -> np.ndarray:
    """The coded envelope of the voiced frames: what the statistics and the frame matching use."""
    return _voiced(features, world.encode_envelope(features, CEPSTRUM_DIMS))


def cepstrum_stats(coded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-coefficient mean and standard deviation of coded envelope rows."""
    return coded.mean(axis=0), coded.std(axis=0)


def _ap_bands(features: world.WorldFeatures) -> np.ndarray:
    freqs = features.frequencies_hz
    frames = _voiced(features, features.ap)
    return np.array([float(np.mean(frames[:, (freqs >= lo) & (freqs < hi)])) for lo, hi in AP_BANDS_HZ])


def band_cutoff_hz(nyquist_hz: float) -> float:
    """Top of the band a reference describes: a little under its Nyquist frequency (anti-alias roll-off)."""
    return BAND_EDGE * nyquist_hz


def band_limited(features: world.WorldFeatures, nyquist_hz: float) -> world.WorldFeatures:
    """The envelope above the reference's band replaced by a −12 dB/octave continuation.

    A 16-kHz reference has no energy above 8 kHz; coded as it is, that cliff would dominate the
    cepstral statistics and the matching would paint ripples and hiss into the whole spectrum.
    Base voices are limited the same way, so both sides of the mapping describe the same band.
    """
    cutoff = band_cutoff_hz(nyquist_hz)
    freqs = features.frequencies_hz
    if cutoff >= freqs[-1]:
        return features
    edge = int(np.searchsorted(freqs, cutoff))
    sp = features.sp.copy()
    sp[:, edge:] = sp[:, edge - 1:edge] * (freqs[edge:] / freqs[edge - 1])[None, :] ** -4.0
    return features.with_(sp=sp)


def describe_reference(reference: Audio) -> VoiceProfile:
    """Measure the reference: F0 statistics, cepstral statistics, band aperiodicity."""
    features = world.analyze(reference)
    mean, std = world.log_f0_stats(features)
    coded = voiced_coded(band_limited(features, reference.sample_rate_hz / 2))  # encoded once: statistics and frames
    cep_mean, cep_std = cepstrum_stats(coded)
    frames = coded[::FRAME_STRIDE]
    return VoiceProfile(
        reference_hash=reference_hash(reference),
        log_f0_mean=mean,
        log_f0_std=std,
        cepstrum_mean=cep_mean.round(5).tolist(),
        cepstrum_std=cep_std.round(5).tolist(),
        ap_bands=_ap_bands(features).round(4).tolist(),
        nyquist_hz=reference.sample_rate_hz / 2,
        voiced_frames=frames.round(4).tolist(),
    )


def warp_envelope(sp: np.ndarray, warp: float) -> np.ndarray:
    """Frequency-warp the envelope: the value at f moves to warp·f (linear in log power)."""
    if warp == 1.0:
        return sp
    bins = np.arange(sp.shape[1])
    source = np.clip(bins / warp, 0, sp.shape[1] - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, sp.shape[1] - 1)
    w = source - lo
    log_sp = np.log(sp + 1e-16)
    return np.exp((1 - w) * log_sp[:, lo] + w * log_sp[:, hi])


def map_f0(features: world.WorldFeatures, profile: VoiceProfile) -> world.WorldFeatures:
    """Map log-F0 onto the reference's mean and spread (z-score transform)."""
    mean, std = world.log_f0_stats(features)
    if std == 0.0 or profile.log_f0_std == 0.0:
        return features
    f0 = features.f0_hz.copy()
    v = features.voiced
    f0[v] = np.exp(profile.log_f0_mean + (np.log(f0[v]) - mean) * (profile.log_f0_std / std))
    return features.with_(f0_hz=f0)


def match_cepstrum(features: world.WorldFeatures, profile: VoiceProfile, choice: VoiceChoice) -> world.WorldFeatures:
    """Move each envelope coefficient of voiced frames from the base voice's mean/spread to the reference's.

    Coefficient 0 (overall level) is kept: loudness is set later, by BS.1770.  Above the
    reference's band the base voice keeps its own envelope shape, joined level-matched at the
    band edge (the reference says nothing about it).
    """
    coded = world.encode_envelope(band_limited(features, profile.nyquist_hz), CEPSTRUM_DIMS)
    scale = np.asarray(profile.cepstrum_std) / np.maximum(np.asarray(choice.cepstrum_std), 1e-6)
    mapped = coded.copy()  # unvoiced frames (fricatives, silence) keep their envelope: the statistics are of voiced speech
    v = features.voiced
    mapped[v] = np.asarray(profile.cepstrum_mean) + (coded[v] - np.asarray(choice.cepstrum_mean)) * scale
    share = choice.frame_match
    if share > 0 and profile.voiced_frames and v.any():
        mapped[v] = (1 - share) * mapped[v] + share * nearest_frames_mean(mapped[v], profile.voiced_frames_array)
    mapped[:, 0] = coded[:, 0]
    matched = world.decode_envelope(features, mapped)
    edge = int(np.searchsorted(features.frequencies_hz, band_cutoff_hz(profile.nyquist_hz)))
    if edge >= features.sp.shape[1]:
        return matched
    sp = matched.sp.copy()
    sp[:, edge:] = features.sp[:, edge:] * (matched.sp[:, edge - 1] / np.maximum(features.sp[:, edge - 1], 1e-16))[:, None]
    return matched.with_(sp=sp)


def nearest_frames_mean(queries: np.ndarray, frames: np.ndarray, k: int = FRAME_MATCH_NEIGHBOURS) -> np.ndarray:
    """For each query row, the mean of its ``k`` nearest ``frames`` rows (Euclidean over coefficients 1…; c0 is level)."""
    q, f = queries[:, 1:], frames[:, 1:]
    distances = (q ** 2).sum(1)[:, None] + (f ** 2).sum(1)[None, :] - 2 * q @ f.T
    k = min(k, len(frames))
    nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
    return frames[nearest].mean(axis=1)


def adapt(features: world.WorldFeatures, profile: VoiceProfile, choice: VoiceChoice) -> world.WorldFeatures:
    """Apply F0 mapping, envelope warp, cepstral matching and aperiodicity shift."""
    features = map_f0(features, profile)
    features = match_cepstrum(features.with_(sp=warp_envelope(features.sp, choice.warp)), profile, choice)
    ap = features.ap.copy()
    freqs = features.frequencies_hz
    v = features.voiced
    for (lo, hi), shift in zip(AP_BANDS_HZ, choice.ap_shift):
        band = (freqs >= lo) & (freqs < hi)
        ap[np.ix_(v, band)] = np.clip(ap[np.ix_(v, band)] + shift, 0.0, 1.0)
    return features.with_(ap=ap)


def _choice_for(probes: list[world.WorldFeatures], profile: VoiceProfile, base_voice: str, warp: float,
                frame_match: float) -> VoiceChoice:
    warped = [band_limited(f.with_(sp=warp_envelope(f.sp, warp)), profile.nyquist_hz) for f in probes]
    mean, std = cepstrum_stats(np.concatenate([voiced_coded(f) for f in warped]))
    ap_shift = 0.5 * (np.asarray(profile.ap_bands) - np.mean([_ap_bands(f) for f in probes], axis=0))
    return VoiceChoice(base_voice, warp, mean.round(5).tolist(), std.round(5).tolist(), ap_shift.round(4).tolist(), 0.0, 0.0,
                       frame_match)


SearchProgress = Callable[[int, int], None]


def _probe_similarity(probes: list[world.WorldFeatures], profile: VoiceProfile, choice: VoiceChoice,
                      ref_embedding: np.ndarray) -> tuple[float, list[Audio]]:
    rendered = [world.synthesize(adapt(f, profile, choice)) for f in probes]
    return round(float(np.mean([cosine(speaker_embedding(r), ref_embedding) for r in rendered])), 4), rendered


def ear_texts(language: str) -> tuple[str, ...]:
    return PROBE_TEXTS[language] + EAR_EXTRA_TEXTS[language]


def probe_error(rendered: list[Audio], language: str, ear: Ear) -> float:
    """The ear's error rate over the ear's probe sentences (:func:`ear_texts`), heard as one recording.

    Whisper reads a 30-s window whatever the clip's length, so the probes are joined with
    0.5-s pauses and heard once (≈ 2–3 s on one core instead of ≈ 2 s per sentence); edits over
    the joined text pooled this way equal the per-sentence sum up to the joins, capped at 1.0.
    """
    rate = rendered[0].sample_rate_hz
    gap = np.zeros(int(0.5 * rate), np.float32)
    joined = Audio(np.concatenate([piece for r in rendered for piece in (r.resampled(rate).samples, gap)]), rate)
    return round(error_rate(" ".join(ear_texts(language)[:len(rendered)]), ear.transcribe(joined, language), language), 4)


def base_probe_error(voice: str, language: str, ear: Ear) -> float:
    """A base voice's own error on the ear's probes; it does not depend on the reference, so it is measured once per machine."""
    path = models_dir() / "base_voice_probe_errors.json"
    key = f"{ear.name}|{voice}|{hashlib.sha1('|'.join(ear_texts(language)).encode()).hexdigest()[:12]}"
    known = json.loads(path.read_text()) if path.exists() else {}
    if key not in known:
        known[key] = probe_error([synthesize_base(voice, text) for text in ear_texts(language)], language, ear)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, path)
    return float(known[key])


@dataclass(frozen=True)
class BaseProbes:
    """A base voice's similarity probes analysed by WORLD, their GE2E embeddings, and its ear-only sentences.

    None of it depends on the reference, so it is made once per machine (``models_dir()/base-probes``,
    about 12 MB per voice, float32) and every new voice's search starts from it.
    The ear-only sentences are kept as audio and analysed only for a voice the ear hears.
    """

    features: tuple[world.WorldFeatures, ...]  # PROBE_TEXTS, as read back from the store (float32)
    embeddings: np.ndarray  # (len(PROBE_TEXTS), dims): GE2E of the base voice's own probes
    extra_audio: tuple[Audio, ...]  # EAR_EXTRA_TEXTS

    @functools.cached_property
    def extra(self) -> tuple[world.WorldFeatures, ...]:
        return tuple(world.analyze(audio) for audio in self.extra_audio)


def _stored(features: world.WorldFeatures) -> dict[str, np.ndarray]:
    return {"f0": features.f0_hz.astype(np.float32), "sp": features.sp.astype(np.float32), "ap": features.ap.astype(np.float32)}


def _restored(arrays: dict[str, np.ndarray], rate: int) -> world.WorldFeatures:
    return world.WorldFeatures(*(arrays[k].astype(np.float64) for k in ("f0", "sp", "ap")), rate)


@functools.lru_cache(maxsize=32)
def base_probes(voice: str, language: str) -> BaseProbes:
    texts, extra_texts = PROBE_TEXTS[language], EAR_EXTRA_TEXTS[language]
    digest = hashlib.sha1("|".join((str(BASE_PROBES_VERSION), voice, language, *texts, *extra_texts)).encode()).hexdigest()[:12]
    path = models_dir() / "base-probes" / f"{voice}-{language}-{digest}.npz"
    if not path.exists():
        bases = [synthesize_base(voice, text) for text in texts]
        analysed = [world.analyze(base) for base in bases]
        arrays: dict[str, np.ndarray] = {"embeddings": np.stack([speaker_embedding(b) for b in bases]),
                                         "rate": np.array(analysed[0].sample_rate_hz)}  # WORLD's analysis rate, not the voice's
        for i, features in enumerate(analysed):
            arrays.update({f"{key}_{i}": value for key, value in _stored(features).items()})
        for i, text in enumerate(extra_texts):
            extra = synthesize_base(voice, text)
            arrays.update({f"extra_{i}": extra.samples, f"extra_rate_{i}": np.array(extra.sample_rate_hz)})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    with np.load(path) as data:  # read back even when just made: every search sees the same stored values
        rate = int(data["rate"])
        features = tuple(_restored({k: data[f"{k}_{i}"] for k in ("f0", "sp", "ap")}, rate) for i in range(len(texts)))
        extra = tuple(Audio(data[f"extra_{i}"], int(data[f"extra_rate_{i}"])) for i in range(len(extra_texts)))
        return BaseProbes(features, data["embeddings"], extra)


def choose_voice(reference: Audio, profile: VoiceProfile, language: str, *, candidates: list[str] | None = None,
                 frame_match: float | None = None, progress: SearchProgress | None = None, ear: Ear | None = None,
                 pruned_voices: int | None = PRUNED_VOICES, fine_steps: int | None = FINE_STEPS) -> VoiceChoice:
    """Search base voices × warps for the most similar voice that keeps the words, at ``frame_match`` (None: the default share).

    See the module docstring.  ``pruned_voices``: search only that many base voices, the closest to
    the reference (GE2E of their own probes); ``fine_steps``: the leaders' fine warps only that many
    grid steps around their best coarse warp.  None (the default): every voice, every warp.  When no
    searched voice keeps the words, the other base voices are searched too.  ``ear`` defaults to :func:`emodub.ear.default_ear`; without
    an ear for ``language`` the most similar candidate wins and ``probe_error`` stays None.
    """
    ref_embedding = speaker_embedding(reference)
    candidates = candidates or voices_for(language)
    if not candidates:
        raise EngineError(f"no base voice for language {language!r} is installed (need espeak-ng / flite)")
    share = DEFAULT_FRAME_MATCH if frame_match is None else frame_match
    ear = ear if ear is not None else default_ear()
    hears = ear is not None and can_hear(ear, language)
    material = {voice: base_probes(voice, language) for voice in candidates}
    closeness = {voice: float(np.mean([cosine(e, ref_embedding) for e in material[voice].embeddings])) for voice in candidates}
    by_closeness = sorted(candidates, key=lambda v: -closeness[v])
    searched = by_closeness[:pruned_voices] if pruned_voices else by_closeness

    def fine_warps(best_coarse: float) -> list[float]:
        return [w for w in WARP_GRID if w not in COARSE_WARPS and (fine_steps is None or abs(w - best_coarse) <= 0.05 * fine_steps + 1e-9)]

    fine_count = min(FINE_VOICES, len(searched)) * len(fine_warps(COARSE_WARPS[1]))
    total = len(searched) * len(COARSE_WARPS) + fine_count + (EAR_SHORTLIST if hears else 0)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, max(total, done))

    scored: list[VoiceChoice] = []

    def score(voice: str, warp: float) -> None:
        probes = list(material[voice].features)
        choice = _choice_for(probes, profile, voice, warp, share)
        choice.similarity, _ = _probe_similarity(probes, profile, choice, ref_embedding)
        scored.append(choice)
        tick()

    def search(voices: list[str]) -> None:
        for voice in voices:
            for warp in COARSE_WARPS:
                score(voice, warp)
        best_of = {v: max((c for c in scored if c.base_voice == v), key=lambda c: c.similarity) for v in voices}
        for voice in sorted(voices, key=lambda v: -best_of[v].similarity)[:FINE_VOICES]:
            for warp in fine_warps(best_of[voice].warp):
                score(voice, warp)

    search(searched)
    if not hears:
        best = max(scored, key=lambda c: c.similarity)
    else:
        assert ear is not None
        base_errors = {voice: base_probe_error(voice, language, ear) for voice in candidates}
        floor = min(base_errors.values())
        limit = round(floor + EAR_MARGIN, 4)
        clear_voices = {v for v, e in base_errors.items() if e <= limit}  # a voice unclear on its own cannot become clear
        heard: list[VoiceChoice] = []

        def hear(order: list[VoiceChoice]) -> VoiceChoice | None:
            """The first candidate (the most similar left) whose words stay within the limit; every one heard is kept."""
            for choice in order:
                probes = material[choice.base_voice]
                rendered = [world.synthesize(adapt(f, profile, choice)) for f in (*probes.features, *probes.extra)]
                choice.probe_error, choice.base_probe_error, choice.error_limit, choice.ear = (
                    probe_error(rendered, language, ear), floor, limit, ear.name)
                heard.append(choice)
                tick()
                if choice.probe_error <= limit:
                    return choice
            return None

        best = hear(_hearing_order(sorted(scored, key=lambda c: -c.similarity), clear_voices))
        others = [v for v in by_closeness if v not in searched and v in clear_voices]
        if best is None and others:  # no searched voice keeps the words: the others' best candidates, one each
            search(others)
            fresh = [c for c in sorted(scored, key=lambda c: -c.similarity) if c.base_voice in others]
            best = hear([next(c for c in fresh if c.base_voice == v) for v in dict.fromkeys(c.base_voice for c in fresh)]
                        [:max(0, EAR_MAX_HEARINGS - len(heard))])
        if best is None:  # nothing kept the words: the clearest candidate heard
            best = min(heard, key=lambda c: (c.probe_error, -c.similarity))
    best.base_similarity = round(max(closeness.values()), 4)
    return best


def _hearing_order(ranked: list[VoiceChoice], clear_voices: set[str]) -> list[VoiceChoice]:
    """Candidates for the ear: the most similar first; after the shortlist, one per base voice not heard yet."""
    clear = [c for c in ranked if c.base_voice in clear_voices]
    order = clear[:EAR_SHORTLIST]
    for candidate in clear[EAR_SHORTLIST:]:
        if len(order) >= EAR_MAX_HEARINGS:
            break
        if candidate.base_voice not in {c.base_voice for c in order}:
            order.append(candidate)
    return order


@functools.lru_cache(maxsize=8)
def _load_cached(path: Path, modified_ns: int) -> VoiceProfile:
    """A profile read once per file version (a dub or a job reads it for every line and round)."""
    return VoiceProfile.load(path)


def choice_key(language: str, base_voice: str | None, frame_match: float | None) -> str:
    """Where a profile keeps the choice for this language, base voice (or auto) and frame-match share (None: the default)."""
    return f"{language}:{base_voice or 'auto'}:{DEFAULT_FRAME_MATCH if frame_match is None else frame_match:g}"


def load_or_build_profile(reference: Audio, language: str, *, base_voice: str | None = None,
                          frame_match: float | None = None, progress: SearchProgress | None = None) -> VoiceProfile:
    """The cached profile for this reference, with a choice for ``language`` (searched if missing)."""
    key = reference_hash(reference)
    path = cache_dir() / f"{key}.json"
    profile = None
    if path.exists():
        try:
            profile = _load_cached(path, path.stat().st_mtime_ns)
        except (ValueError, TypeError, KeyError):
            profile = None  # an old or damaged cache entry is rebuilt
        if profile is not None and profile.version != PROFILE_VERSION:
            profile = None
    if profile is None:
        profile = describe_reference(reference)
    wanted = choice_key(language, base_voice, frame_match)
    if wanted not in profile.choices:
        candidates = [base_voice] if base_voice else None
        profile.choices[wanted] = choose_voice(reference, profile, language, candidates=candidates, frame_match=frame_match,
                                               progress=progress)
        profile.save(path)
    return profile

