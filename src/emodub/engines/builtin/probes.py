"""The base voices' measured material: probe sentences rendered and analysed once per machine, their warped envelopes'
statistics, and the ear's verdict on a candidate's probe renders (:func:`probe_error`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emodub.audio import Audio
from emodub.ear import READ_ALONG_WINDOW_S, Ear, loss_measure, reads_along, units_lost
from emodub.engines.builtin import world
from emodub.engines.builtin.base_voice import synthesize_base
from emodub.engines.builtin.timbre import BAND_EDGE, Warped, ap_bands_of, cepstrum_stats, render_choice, voiced_values, warped
from emodub.engines.builtin.voice_profile import VoiceChoice, VoiceProfile, writing_path
from emodub.model_files import models_dir
from emodub.voice import speaker_embedding

BASE_PROBES_VERSION = 5  # bump when the probe analysis changes: the per-machine cache is rebuilt
EAR_MARGIN = 0.08  # share of probe words a candidate may lose over the clearest base voice, Whisper reading along (probe_error)
TRANSCRIBED_EAR_MARGIN = 0.05  # the same for an ear that transcribes (pocketsphinx): whole edits, not a soft count
WARP_GRID = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25)


# Warps a language's search may use (others: the whole grid).  Measured by the ear (greedy) on every grid warp of
# every clear base voice for four references (136 hearings): in Mandarin, zh-baker's character error rises from
# 0.057–0.067 at 0.85–1.0 to 0.081 at 1.05 and 0.167 at 1.25, for no gain in similarity.  English keeps 0.85: it
# lost words on average (0.050 against 0.024–0.033), but a man cloned from flite-slt needs it (the cast test).
WARP_RANGE = {"zh": (0.85, 1.05)}
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
PROBE_GAP_S = 0.5  # silence between the ear's probe sentences
STORED_BANDS_HZ = (8000.0, 11025.0, 12000.0, world.ANALYSIS_RATE_HZ / 2 / BAND_EDGE)  # references at 16, 22.05, 24 kHz, and ≥ 24.5 kHz
PROBE_PAUSE_S = 0.1  # longest pause a stored probe keeps: the search embeds its renders without a voice-activity trim
PAUSE_DB = 50.0  # a frame this far under the probe's loudest is a pause


def render_probes(profile: VoiceProfile, choice: VoiceChoice, language: str, rate_hz: int | None = 16000) -> list[Audio]:
    """A base-voice candidate's probe sentences (the per-machine store's), as the search renders them."""
    material = base_probes(choice.base_voice, language)
    band = searched_band_hz(profile.nyquist_hz)
    coded = stored_coded(choice.base_voice, language, band) if choice.warp in searched_warps(language) else {}
    renders = []
    for index, features in enumerate(material.features):
        source = Warped(features, choice.warp, coded[choice.warp, index]) if coded else warped(features, choice.warp, profile.nyquist_hz)
        renders.append(render_choice(source, profile, choice, rate_hz))
    return renders


def ear_texts(language: str) -> tuple[str, ...]:
    return PROBE_TEXTS[language] + EAR_EXTRA_TEXTS[language]


def probe_error(rendered: list[Audio], language: str, ear: Ear) -> float:
    """The share of the ear's probe sentences' words (characters) the ear would lose (:func:`emodub.ear.units_lost`), pooled.

    The sentences (:func:`ear_texts`) are joined with ``PROBE_GAP_S`` pauses into as few 30-s
    windows as they fit: Whisper reads a whole window whatever the clip's length.  Whisper reads
    the known text along (≈ 1.4 s a window on one core) rather than transcribing it (≈ 3 s with
    its beam of 5): on 160 candidates its losses ranked their errors on six new lines better than
    the transcription's (Spearman 0.51 against 0.30 in English, 0.93 against 0.87 in Mandarin;
    ``bench/builtin_engine.py ear_check``).
    """
    texts = ear_texts(language)[:len(rendered)]
    rate = rendered[0].sample_rate_hz
    gap = np.zeros(int(PROBE_GAP_S * rate), np.float32)
    windows: list[tuple[list[np.ndarray], list[str]]] = []
    filled = 0
    for audio, text in zip(rendered, texts):
        samples = audio.resampled(rate).samples
        if not windows or filled + len(samples) + len(gap) > READ_ALONG_WINDOW_S * rate:
            windows.append(([], []))
            filled = 0
        windows[-1][0].extend((samples, gap))
        windows[-1][1].append(text)
        filled += len(samples) + len(gap)
    lost = total = 0.0
    for pieces, sentences in windows:
        window_lost, window_total = units_lost(ear, Audio(np.concatenate(pieces), rate),
                                               ("" if language == "zh" else " ").join(sentences), language)
        lost, total = lost + window_lost, total + window_total
    return round(min(1.0, lost / total), 4)


def ear_margin(ear: Ear) -> float:
    """The share of probe words a candidate may lose over the clearest base voice, as this ear measures it."""
    return EAR_MARGIN if reads_along(ear) else TRANSCRIBED_EAR_MARGIN


def base_probe_error(voice: str, language: str, ear: Ear) -> float:
    """A base voice's own error on the ear's probes; it does not depend on the reference, so it is measured once per machine."""
    path = models_dir() / "base_voice_probe_errors.json"
    key = f"{loss_measure(ear)}|{voice}|{hashlib.sha1('|'.join(ear_texts(language)).encode()).hexdigest()[:12]}"
    known = json.loads(path.read_text()) if path.exists() else {}
    if key not in known:
        known[key] = probe_error([synthesize_base(voice, text) for text in ear_texts(language)], language, ear)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = writing_path(path)
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, path)
    return float(known[key])


@dataclass(frozen=True)
class BaseProbes:
    """A base voice's similarity probes analysed by WORLD, what the search needs of them, and its ear-only sentences.

    None of it depends on the reference, so it is made once per machine (``models_dir()/base-probes``,
    about 24 MB per voice, float32) and every new voice's search starts from it: the probes' GE2E
    embeddings, their band aperiodicity, and their warped envelopes' statistics for every grid
    warp in the common reference bands (``STORED_BANDS_HZ``).  The ear-only sentences are read
    from the store only for a voice the ear hears.
    """

    features: tuple[world.WorldFeatures, ...]  # PROBE_TEXTS, as read back from the store (float32)
    embeddings: np.ndarray  # (len(PROBE_TEXTS), dims): GE2E of the base voice's own probes
    ap_bands: np.ndarray  # (len(AP_BANDS_HZ),): mean band aperiodicity over the probes' voiced frames
    statistics: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]]  # (warp, band Hz) → coded mean, spread
    path: Path

    @functools.cached_property
    def extra(self) -> tuple[world.WorldFeatures, ...]:
        """The ear-only sentences (EAR_EXTRA_TEXTS), analysed."""
        with np.load(self.path) as data:
            count = len([k for k in data.files if k.startswith("extra_f0_")])
            return tuple(restored_features({k: data[f"extra_{k}_{i}"] for k in ("f0", "sp", "ap")}, int(data["rate"])) for i in range(count))


def searched_band_hz(nyquist_hz: float) -> float:
    """The reference band the search's statistics depend on: every Nyquist frequency whose cutoff is above WORLD's is the same."""
    return min(float(nyquist_hz), STORED_BANDS_HZ[-1])


def without_long_pauses(features: world.WorldFeatures) -> world.WorldFeatures:
    """``features`` with every pause (leading and trailing ones too) cut to ``PROBE_PAUSE_S``."""
    energy = features.frame_energy_db()
    silent = energy < energy.max() - PAUSE_DB
    longest = int(PROBE_PAUSE_S * 1000 / features.frame_period_ms)
    keep = np.ones(features.n_frames, bool)
    run = 0
    for i, quiet in enumerate(silent):
        run = run + 1 if quiet else 0
        keep[i] = run <= longest
    return world.WorldFeatures(features.f0_hz[keep], features.sp[keep], features.ap[keep], features.sample_rate_hz,
                               features.frame_period_ms)


def stored_arrays(features: world.WorldFeatures) -> dict[str, np.ndarray]:
    return {"f0": features.f0_hz.astype(np.float32), "sp": features.sp.astype(np.float32), "ap": features.ap.astype(np.float32)}


def restored_features(arrays: dict[str, np.ndarray], rate: int) -> world.WorldFeatures:
    return world.WorldFeatures(*(arrays[k].astype(np.float64) for k in ("f0", "sp", "ap")), rate)


def warped_statistics(probes: tuple[world.WorldFeatures, ...], warp: float, band_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Coded-envelope mean and spread over the voiced frames of ``probes`` warped by ``warp``, within ``band_hz``."""
    return cepstrum_stats(np.concatenate([voiced_values(f, warped(f, warp, band_hz).coded) for f in probes]))


@functools.lru_cache(maxsize=32)
def base_probes(voice: str, language: str) -> BaseProbes:
    texts, extra_texts = PROBE_TEXTS[language], EAR_EXTRA_TEXTS[language]
    digest = hashlib.sha1("|".join((str(BASE_PROBES_VERSION), voice, language, *texts, *extra_texts)).encode()).hexdigest()[:12]
    path = models_dir() / "base-probes" / f"{voice}-{language}-{digest}.npz"
    if not path.exists():
        bases = [synthesize_base(voice, text) for text in texts]
        # Stored as float32: everything below is computed from what a search will read back.
        probes = tuple(restored_features(stored_arrays(without_long_pauses(world.analyze(base))), world.ANALYSIS_RATE_HZ) for base in bases)
        arrays: dict[str, np.ndarray] = {"embeddings": np.stack([speaker_embedding(b) for b in bases]),
                                         "rate": np.array(world.ANALYSIS_RATE_HZ),  # WORLD's analysis rate, not the voice's
                                         "ap_bands": np.mean([ap_bands_of(f) for f in probes], axis=0)}
        for i, features in enumerate(probes):
            arrays.update({f"{key}_{i}": value for key, value in stored_arrays(features).items()})
        for i, text in enumerate(extra_texts):
            arrays.update({f"extra_{key}_{i}": value for key, value in stored_arrays(world.analyze(synthesize_base(voice, text))).items()})
        statistics = [[warped_statistics(probes, warp, band) for warp in WARP_GRID] for band in STORED_BANDS_HZ]
        arrays["statistics_mean"] = np.array([[m for m, _ in row] for row in statistics])  # (bands, warps, CEPSTRUM_DIMS)
        arrays["statistics_std"] = np.array([[d for _, d in row] for row in statistics])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = writing_path(path)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        for stale in path.parent.glob(f"{voice}-{language}-*.npz"):  # earlier versions' material for this voice
            if stale != path and ".tmp." not in stale.name:
                stale.unlink(missing_ok=True)
    with np.load(path) as data:  # read back even when just made: every search sees the same stored values
        rate = int(data["rate"])
        features = tuple(restored_features({k: data[f"{k}_{i}"] for k in ("f0", "sp", "ap")}, rate) for i in range(len(texts)))
        statistics = {(warp, band): (data["statistics_mean"][b, w], data["statistics_std"][b, w])
                      for b, band in enumerate(STORED_BANDS_HZ) for w, warp in enumerate(WARP_GRID)}
        return BaseProbes(features, data["embeddings"], data["ap_bands"], statistics, path)


def searched_warps(language: str) -> list[float]:
    """The grid warps a search in ``language`` may try (``WARP_RANGE``)."""
    low, high = WARP_RANGE.get(language, (WARP_GRID[0], WARP_GRID[-1]))
    return [w for w in WARP_GRID if low - 1e-9 <= w <= high + 1e-9]


@functools.lru_cache(maxsize=16)
def stored_coded(voice: str, language: str, band_hz: float) -> dict[tuple[float, int], np.ndarray]:
    """A base voice's probe and ear-only sentences warped by each searched warp and coded within ``band_hz``.

    The renders' costly reference-independent half (:func:`warped`: about a quarter of a
    candidate's render), kept per machine beside :func:`base_probes` for each reference band
    met (4–9 MB a voice and band, float32); a band's first search makes it (0.6–1.6 s a voice).
    Keyed by (warp, sentence index): the probes first, then the ear-only sentences.
    """
    material = base_probes(voice, language)
    path = material.path.with_name(f"{material.path.stem}-coded-{band_hz:g}.npz")
    sentences = material.features + material.extra
    if not path.exists():
        arrays = {f"{warp:g}_{i}": warped(features, warp, band_hz).coded.astype(np.float32)
                  for warp in searched_warps(language) for i, features in enumerate(sentences)}
        tmp = writing_path(path)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    with np.load(path) as data:
        return {(warp, i): data[f"{warp:g}_{i}"].astype(np.float64) for warp in searched_warps(language) for i in range(len(sentences))}


@functools.lru_cache(maxsize=256)
def unstored_statistics(voice: str, language: str, warp: float, band_hz: float) -> tuple[np.ndarray, np.ndarray]:
    return warped_statistics(base_probes(voice, language).features, warp, band_hz)


def probe_statistics(voice: str, language: str, warp: float, nyquist_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """A base voice's warped probe statistics for a reference band: from the store, or computed once per process."""
    band = searched_band_hz(nyquist_hz)
    stored = base_probes(voice, language).statistics.get((warp, band))
    return stored if stored is not None else unstored_statistics(voice, language, warp, band)


def choice_for(profile: VoiceProfile, voice: str, language: str, warp: float, frame_match: float) -> VoiceChoice:
    """A base voice at ``warp`` as a candidate for this reference: its probe statistics and aperiodicity shift, not yet scored."""
    mean, std = probe_statistics(voice, language, warp, profile.nyquist_hz)
    ap_shift = 0.5 * (np.asarray(profile.ap_bands) - base_probes(voice, language).ap_bands)
    return VoiceChoice(voice, warp, mean.round(5).tolist(), std.round(5).tolist(), ap_shift.round(4).tolist(), 0.0, 0.0,
                       frame_match)
