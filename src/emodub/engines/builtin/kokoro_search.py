"""The Kokoro voice search: a style vector moved toward the target speaker, inside the ear's and the judge's bounds.

KVoiceWalk (RobViren/kvoicewalk) walks Kokoro's style tensor at random for thousands of
syntheses, scored by a speaker embedding.  Here a new voice must be ready in well under a minute
on one core, and a walk scored by one embedding overfits it, so the search is short and checks
what it did not optimise:

1. **Packs**: each shipped pack's GE2E embedding and speaking rate on a short screening sentence,
   and its error on the probe sentences by the ear, are made once per machine; packs the ear finds
   unclear are left out (:func:`clear_packs`).
2. **Start**: the closest clear pack and blends of the two closest (plain averages of packs stay
   natural), scored by GE2E on the screening sentence; the most similar that the judge finds
   natural enough.  Kokoro's speed is then set to the speaker's rate (:func:`matched_speed`).
3. **Walk**: a (1+1) evolution strategy on an offset to the timbre half of the style (its first
   128 dimensions), steps in units of the packs' own spread per dimension, the 1/5 success rule for
   the step size, the offset kept within ``MAX_OFFSET_SPREADS`` of the blend; a step counts only
   when the judge finds it natural enough.
4. **Check**: the start and the walked style on the three probe sentences, never walked on; the
   walk is kept only when it wins there too.
5. **Frontier**: the style's probes as Kokoro says them, and through WORLD with the speaker's F0
   (not in Mandarin, whose tones it bends) and, by degrees, the reference's cepstral statistics
   (``FRONTIER``): imposing that detail brings similarity and costs naturalness, so each point is
   scored by both and the most similar point inside the naturalness bound wins (:func:`frontier`);
   the ear then reads the probes along with it.

The result is a :class:`~emodub.engines.builtin.timbre.VoiceChoice` whose ``style`` and ``speed``
the engine renders with; emotion goes through the same WORLD stages as every base voice.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emodub.audio import Audio
from emodub.ear import Ear, error_rate, loss_measure
from emodub.engines.builtin import kokoro, probes, timbre, transfer, voice_profile, world
from emodub.model_files import models_dir
from emodub.naturalness import NaturalnessJudge, mean_score
from emodub.voice import cosine, speaker_embedding

SCREEN_TEXTS = {"en": "She sells fresh fish at the market.", "zh": "她每天早上都在市场卖鱼。"}  # what the walk is scored on (~2 s)
WALK_STEPS = 12
WALK_NATURALNESS_SLACK = 0.05  # a walk step may cost this much MOS against its start when the start is under the limit
WALK_DIMS = 128  # the timbre half of the style vector
FIRST_STEP_SPREADS = 0.6  # the walk's first step, in packs' spreads per dimension
MAX_OFFSET_SPREADS = 2.0
SUCCESS_GROWTH, FAILURE_SHRINK = 1.5, 1.5 ** -0.25  # the 1/5 success rule: the step holds when 1 step in 5 succeeds
# Frontier points (F0 mapped onto the speaker's, share of the reference's cepstral statistics); (False, 0.0) is Kokoro as it
# speaks, which the engine renders without WORLD (alsa-utils voice: MOS 4.20 raw, 3.93 after WORLD alone, 3.75 with its F0 mapped)
FRONTIER = ((False, 0.0), (False, 0.25), (False, 0.5), (True, 0.0), (True, 0.25), (True, 0.5))
PACKS_VERSION = 2
SPEED_MATCH_RANGE = {"en": (0.9, 1.25), "zh": (0.9, 1.1)}  # Kokoro reads slowly; its speed follows the speaker's within this
# range (Mandarin less: jm_kumo at 1.2 lost half of a line's characters, against an eighth at 1.0)
PACK_ERROR_MARGIN = 0.05

Tick = Callable[[], None]


@dataclass(frozen=True)
class Point:
    """One candidate on the naturalness/similarity frontier: the style's voice at an envelope share, scored."""

    choice: voice_profile.VoiceChoice  # envelope_match, similarity and naturalness filled in
    renders: tuple[Audio, ...]  # the probe sentences as this candidate says them


@functools.lru_cache(maxsize=4)
def probe_phonemes(language: str) -> tuple[str, ...]:
    """The probe sentences (PROBE_TEXTS) in Kokoro's phones, phonemised once per process."""
    return tuple(kokoro.phonemes(text, language) for text in probes.PROBE_TEXTS[language])


@functools.lru_cache(maxsize=4)
def screen_phonemes(language: str) -> str:
    """The screening sentence in Kokoro's phones."""
    return kokoro.phonemes(SCREEN_TEXTS[language], language)


@dataclass(frozen=True)
class PackMaterial:
    """What the search needs of one pack on the screening sentence: its GE2E embedding and its speaking rate."""

    embedding: np.ndarray
    syllable_rate_hz: float


@functools.lru_cache(maxsize=4)
def pack_material(language: str) -> dict[str, PackMaterial]:
    """Each pack's :class:`PackMaterial`: made once per machine (5 renders of the screening sentence), then read."""
    phones = screen_phonemes(language)
    digest = hashlib.sha1(f"{PACKS_VERSION}|{phones}".encode()).hexdigest()[:12]
    path = models_dir() / "kokoro" / f"pack-material-{language}-{digest}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for name in kokoro.PACKS:
            audio = kokoro.synthesize_phonemes(phones, kokoro.KokoroStyle({name: 1.0}))
            arrays[f"embedding_{name}"], arrays[f"rate_{name}"] = speaker_embedding(audio), np.array(syllable_rate_hz(audio))
        tmp = voice_profile.writing_path(path)
        np.savez(tmp, **arrays)
        tmp.replace(path)
    with np.load(path) as data:
        return {name: PackMaterial(data[f"embedding_{name}"], float(data[f"rate_{name}"])) for name in kokoro.PACKS}


def syllable_rate_hz(audio: Audio) -> float:
    """Syllables a second of speech (energy peaks over the active time; :func:`transfer.measure`)."""
    return float(transfer.measure(audio).measured["syllable_rate_hz"])


def matched_speed(reference: Audio, style: kokoro.KokoroStyle, language: str) -> float:
    """The Kokoro speed at which ``style`` speaks about as fast as the reference speaker, within ``SPEED_MATCH_RANGE``."""
    material = pack_material(language)
    total = sum(style.weights.values()) or 1.0
    kokoro_rate = sum(material[name].syllable_rate_hz * weight / total for name, weight in style.weights.items())
    speed = syllable_rate_hz(reference) / max(kokoro_rate, 1e-3)
    return round(float(np.clip(speed, *SPEED_MATCH_RANGE[language])), 3)


@functools.lru_cache(maxsize=1)
def pack_spread() -> np.ndarray:
    """Per dimension, the spread of the packs' mean style rows: the walk's unit step."""
    means = np.stack([pack.mean(axis=0) for pack in kokoro.style_packs().values()])
    return means.std(axis=0).astype(np.float32)


def _similarity(audio: Audio, reference_embedding: np.ndarray) -> float:
    return cosine(speaker_embedding(audio), reference_embedding)


def clear_packs(language: str, ear: Ear | None) -> list[str]:
    """The packs whose own probe renders the ear transcribes with at most ``PACK_ERROR_MARGIN`` more errors than the clearest pack's.

    In Mandarin some of the five Japanese packs lose much of a line (new lines, CER by Whisper
    base: jf_alpha 0.47, jm_kumo 0.18, against 0.11 for jf_nezumi); a walk from them cannot make
    them clear, and Whisper's read-along loss, which the profile search uses, hardly tells them
    apart (0.11–0.19), so packs are judged by transcription, once per machine and ear
    (:func:`pack_error_rate`).  Without an ear every pack is clear.
    """
    if ear is None:
        return list(kokoro.PACKS)
    errors = {name: pack_error_rate(name, language, ear) for name in kokoro.PACKS}
    floor = min(errors.values())
    return [name for name in kokoro.PACKS if errors[name] <= floor + PACK_ERROR_MARGIN]


def pack_error_rate(pack: str, language: str, ear: Ear) -> float:
    """A pack's mean WER (English) or CER (Mandarin) on the probe sentences, as the ear transcribes them; once per machine and ear."""
    path = models_dir() / "kokoro" / "pack_error_rates.json"
    texts = probes.PROBE_TEXTS[language]
    key = f"{PACKS_VERSION}|{type(ear).__name__}|{pack}|{hashlib.sha1('|'.join(texts).encode()).hexdigest()[:12]}"
    known = json.loads(path.read_text()) if path.exists() else {}
    if key not in known:
        style = kokoro.KokoroStyle({pack: 1.0})
        known[key] = round(float(np.mean([error_rate(text, ear.transcribe(kokoro.synthesize_phonemes(phones, style), language), language)
                                          for text, phones in zip(texts, probe_phonemes(language))])), 4)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = voice_profile.writing_path(path)
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, path)
    return float(known[key])


def start_styles(reference_embedding: np.ndarray, language: str, packs: list[str] | None = None) -> list[kokoro.KokoroStyle]:
    """The closest of ``packs`` (default: all) and blends of the two closest, to render and compare."""
    closeness = {name: cosine(material.embedding, reference_embedding) for name, material in pack_material(language).items()
                 if packs is None or name in packs}
    ranked = sorted(closeness, key=lambda name: -closeness[name])
    if len(ranked) == 1:
        return [kokoro.KokoroStyle({ranked[0]: 1.0})]
    first, second = ranked[:2]
    return [kokoro.KokoroStyle({first: 1.0}), kokoro.KokoroStyle({first: 0.75, second: 0.25}),
            kokoro.KokoroStyle({first: 0.5, second: 0.5})]


def frontier_points(language: str) -> tuple[tuple[bool, float], ...]:
    """The frontier's points for ``language``: in Mandarin without WORLD's F0 mapping, which bends the lexical tones."""
    return tuple(point for point in FRONTIER if not (language == "zh" and point[0]))


def walk(start: kokoro.KokoroStyle, start_score: float, score: Callable[[kokoro.KokoroStyle], float], *, steps: int = WALK_STEPS,
         seed: int = 0, tick: Tick | None = None) -> tuple[kokoro.KokoroStyle, float, int]:
    """A (1+1) evolution strategy on ``start``'s timbre offset; returns the best style, its score and the steps that won."""
    rng = np.random.default_rng(seed)
    spread = pack_spread()
    best, best_score = start, start_score
    step = FIRST_STEP_SPREADS
    wins = 0
    for _ in range(steps):
        offset = np.asarray(best.offset, np.float32).copy()
        offset[:WALK_DIMS] += step * spread[:WALK_DIMS] * rng.standard_normal(WALK_DIMS).astype(np.float32)
        offset = np.clip(offset, -MAX_OFFSET_SPREADS * spread, MAX_OFFSET_SPREADS * spread)
        candidate = kokoro.KokoroStyle(dict(best.weights), offset.tolist())
        candidate_score = score(candidate)
        if candidate_score > best_score:
            best, best_score, wins, step = candidate, candidate_score, wins + 1, step * SUCCESS_GROWTH
        else:
            step *= FAILURE_SHRINK
        if tick is not None:
            tick()
    return best, best_score, wins


def frontier(style: kokoro.KokoroStyle, raw: list[Audio], profile: voice_profile.VoiceProfile, reference_embedding: np.ndarray,
             judge: NaturalnessJudge | None, *, points: tuple[tuple[bool, float], ...] = FRONTIER, tick: Tick | None = None
             ) -> list[Point]:
    """The style's probe sentences (``raw``, as Kokoro says them) at each frontier point, scored by GE2E and by the judge."""
    analysed = [world.analyze(audio) for audio in raw]
    template = style_choice(style, profile, analysed)
    scored = []
    for f0_match, share in points:
        choice = dataclasses.replace(template, f0_match=f0_match, envelope_match=share, notes=[])
        renders = tuple(raw) if timbre.imposes_nothing(choice) else tuple(
            timbre.render_adapted(features, profile, choice) for features in analysed)
        choice.similarity = round(float(np.mean([_similarity(r, reference_embedding) for r in renders])), 4)
        choice.naturalness = mean_score(judge, list(renders)) if judge is not None else None
        scored.append(Point(choice, renders))
        if tick is not None:
            tick()
    return scored


def style_choice(style: kokoro.KokoroStyle, profile: voice_profile.VoiceProfile, analysed: list[world.WorldFeatures]) -> voice_profile.VoiceChoice:
    """A VoiceChoice for a Kokoro style: its own probe statistics (for partial envelope matching), no warp, no aperiodicity shift."""
    coded = [timbre.voiced_coded(timbre.band_limited(f, profile.nyquist_hz)) for f in analysed]
    mean, std = timbre.cepstrum_stats(np.concatenate(coded))
    return voice_profile.VoiceChoice("kokoro", 1.0, mean.round(5).tolist(), std.round(5).tolist(), [0.0] * len(timbre.AP_BANDS_HZ),
                              0.0, 0.0, frame_match=0.0, envelope_match=1.0, style=style.to_dict())


def _natural_enough(choice: voice_profile.VoiceChoice, limit: float | None) -> bool:
    return limit is None or choice.naturalness is None or not np.isfinite(choice.naturalness) or choice.naturalness >= limit


def choose_kokoro_voice(reference: Audio, profile: voice_profile.VoiceProfile, language: str, *, judge: NaturalnessJudge | None,
                        naturalness_limit: float | None, ear: Ear | None, error_limit: float | None, steps: int = WALK_STEPS,
                        tick: Tick | None = None) -> voice_profile.VoiceChoice:
    """The Kokoro style and frontier point closest to the reference within the bounds (see the module docstring).

    A walk step is taken only when the judge finds it natural enough (the limit, or, for a start
    already under it, the start's own score less ``WALK_NATURALNESS_SLACK``).  Among the frontier's
    points inside the naturalness bound, the most similar first, the ear hears up to two on the
    probe sentences; the first that keeps the words wins.  With no point inside the bound, the most
    natural is offered (:mod:`voice_search` then says so in the report).
    """
    reference_embedding = speaker_embedding(reference)
    probe_phones, screening = probe_phonemes(language), screen_phonemes(language)
    spoken: dict[tuple[int, int], Audio] = {}
    kept: list[kokoro.KokoroStyle] = []  # keeps the styles alive, so their ids key ``spoken``

    def on_probes(style: kokoro.KokoroStyle) -> list[Audio]:
        kept.append(style)
        for i, phones in enumerate(probe_phones):
            if (id(style), i) not in spoken:
                spoken[id(style), i] = kokoro.synthesize_phonemes(phones, style, speed=speed)
        return [spoken[id(style), i] for i in range(len(probe_phones))]

    def similarity_on_probes(style: kokoro.KokoroStyle) -> float:
        return float(np.mean([_similarity(audio, reference_embedding) for audio in on_probes(style)]))

    def screened(style: kokoro.KokoroStyle) -> tuple[float, float | None]:
        audio = kokoro.synthesize_phonemes(screening, style, speed=speed)
        return _similarity(audio, reference_embedding), None if judge is None else judge.score_many([audio])[0]

    speed = 1.0
    packs = clear_packs(language, ear)
    starts = [(screened(style), style) for style in start_styles(reference_embedding, language, packs)]
    natural_starts = [item for item in starts if naturalness_limit is None or item[0][1] is None or item[0][1] >= naturalness_limit]
    (start_similarity, start_naturalness), start = (max(natural_starts, key=lambda item: item[0][0]) if natural_starts
                                                    else max(starts, key=lambda item: item[0][1] or 0.0))
    speed = matched_speed(reference, start, language)
    if speed != 1.0:
        start_similarity, start_naturalness = screened(start)
    floor = None
    if naturalness_limit is not None and start_naturalness is not None and np.isfinite(start_naturalness):
        floor = min(naturalness_limit, start_naturalness - WALK_NATURALNESS_SLACK)

    def walk_score(style: kokoro.KokoroStyle) -> float:
        similarity, naturalness = screened(style)
        return -np.inf if floor is not None and naturalness is not None and naturalness < floor else similarity

    walked, _, wins = walk(start, start_similarity, walk_score, steps=steps, tick=tick)
    style = start
    if wins and similarity_on_probes(walked) > similarity_on_probes(start):  # else the walk overfit its sentence: the blend stays
        style = walked
    points = frontier(style, on_probes(style), profile, reference_embedding, judge, points=frontier_points(language), tick=tick)
    inside = [p for p in points if _natural_enough(p.choice, naturalness_limit)]
    # with no point inside, the most natural is offered: voice_search says in the report what it gives up
    order = sorted(inside, key=lambda p: -p.choice.similarity) if inside else sorted(points, key=lambda p: -(p.choice.naturalness or 0.0))
    choice = order[0].choice
    if ear is not None:
        for heard, point in enumerate(order[:2], start=1):
            choice = point.choice
            choice.probe_error = probes.probe_error(list(point.renders), language, ear)
            choice.ear, choice.error_limit, choice.hearings = loss_measure(ear), error_limit, heard
            if tick is not None:
                tick()
            if error_limit is None or choice.probe_error <= error_limit:
                break
    choice.speed = speed
    choice.base_similarity = round(max(cosine(m.embedding, reference_embedding) for m in pack_material(language).values()), 4)
    return choice
