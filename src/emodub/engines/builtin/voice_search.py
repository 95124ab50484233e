"""A new voice's choice: words first, then a human sound, then the voice.

Two searches offer a candidate each: :func:`timbre_search.choose_voice` (the WORLD base voices, flite, joe,
zh-baker, espeak-ng, reshaped by warp and cepstral matching; bounded by the ear) and
:func:`kokoro_search.choose_kokoro_voice` (Kokoro's style vector moved toward the speaker; bounded
by the ear and the judge).  The naturalness judge (:mod:`emodub.naturalness`) scores each on its
rendered probe sentences.  A candidate is acceptable when it keeps the words (its ear limit) and
scores no lower than the most natural of the searched base voices, said in its own voice, less
``margin`` (``DEFAULT_NATURALNESS_MARGIN`` MOS); the most similar acceptable one wins.  Kokoro is
searched by default only in the languages of ``KOKORO_BY_DEFAULT``.  When none is
acceptable the most natural wins, and the choice says so in its notes (the report's warnings).
Without a judge (DistillMOS not installed) the most similar candidate that keeps the words wins.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from emodub.audio import Audio
from emodub.ear import Ear, can_hear, default_ear
from emodub.engines.builtin import kokoro, kokoro_search, probes, timbre_search, voice_profile
from emodub.engines.builtin.base_voice import synthesize_base, voices_for
from emodub.errors import EngineError
from emodub.licences import commercial_base_voice
from emodub.model_files import models_dir
from emodub.naturalness import NaturalnessJudge, default_judge, mean_score
from emodub.progress import StepProgress
from emodub.voice import cosine, speaker_embedding

DEFAULT_NATURALNESS_MARGIN = 0.3  # MOS a clone may lose against the most natural base voice of its language
# Languages whose default search includes Kokoro.  Mandarin does not: its Japanese style packs lose characters on new lines
# (Whisper base CER 0.09-0.47 by pack against zh-baker's 0.05; bench/naturalness.py voices), which the probes' read-along
# loss does not show, so words first keeps zh-baker; base_voice "kokoro" asks for it (licence-clean, more natural).
KOKORO_BY_DEFAULT = ("en",)
WORLD_ENVELOPE_SHARES = (1.0, 0.5, 0.0)  # the WORLD winner's cepstral matching, in full and lighter (world_frontier)
NATURALNESS_VERSION = 1


def base_naturalness(voice: str, language: str, judge: NaturalnessJudge) -> float:
    """A base voice's own MOS on the probe sentences (Kokoro: the average of its packs); once per machine and judge."""
    path = models_dir() / "base_voice_naturalness.json"
    texts = probes.PROBE_TEXTS[language]
    key = f"{NATURALNESS_VERSION}|{judge.name}|{voice}|{hashlib.sha1('|'.join(texts).encode()).hexdigest()[:12]}"
    known = json.loads(path.read_text()) if path.exists() else {}
    if key not in known:
        known[key] = mean_score(judge, [synthesize_base(voice, text) for text in texts])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = voice_profile.writing_path(path)
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, path)
    return float(known[key])


def _acceptable(choice: voice_profile.VoiceChoice) -> bool:
    words = choice.probe_error is None or choice.error_limit is None or choice.probe_error <= choice.error_limit
    sound = choice.naturalness is None or choice.naturalness_limit is None or choice.naturalness >= choice.naturalness_limit
    return words and sound


def choose(reference: Audio, profile: voice_profile.VoiceProfile, language: str, *, base_voice: str | None = None,
           frame_match: float | None = None, margin: float = DEFAULT_NATURALNESS_MARGIN,
           progress: StepProgress | None = None, judge: NaturalnessJudge | None = None, ear: Ear | None = None,
           commercial: bool = False) -> voice_profile.VoiceChoice:
    """The voice for ``language``: the closest acceptable candidate of both searches (see the module docstring).

    ``base_voice`` limits the search to that base voice ("kokoro": the style search only); a WORLD base
    voice asked for by name keeps its full cepstral matching (the judge scores it, the bound does
    not lighten it: that matching is what makes it this speaker rather than the base voice).
    """
    judge = judge if judge is not None else default_judge()
    ear = ear if ear is not None else default_ear()
    hears = ear is not None and can_hear(ear, language)
    available = [v for v in voices_for(language) if not commercial or commercial_base_voice(v)]  # --commercial: no joe, zh-baker
    world_voices = [v for v in available if v != "kokoro"] if base_voice is None else [base_voice] if base_voice != "kokoro" else []
    use_kokoro = "kokoro" in available and (base_voice == "kokoro" or (base_voice is None and language in KOKORO_BY_DEFAULT))
    searched = [*world_voices, *(["kokoro"] if use_kokoro else [])]
    if not world_voices and not use_kokoro:
        raise EngineError(f"no base voice for language {language!r} is installed (need espeak-ng / flite, or Kokoro)")
    floor = limit = None
    if judge is not None:
        floor = max(base_naturalness(v, language, judge) for v in searched)
        limit = round(floor - margin, 4)
    error_floor = error_limit = None
    if hears and use_kokoro:
        assert ear is not None
        error_floor = min(probes.base_probe_error(v, language, ear) for v in available)
        error_limit = round(error_floor + probes.ear_margin(ear), 4)

    steps_done = 0
    world_total = [0]

    def world_tick(done: int, total: int) -> None:
        world_total[0] = total
        if progress is not None:
            progress(done, total + kokoro_steps)

    kokoro_steps = (kokoro_search.WALK_STEPS + len(kokoro_search.FRONTIER) + 2) if use_kokoro else 0

    def kokoro_tick() -> None:
        nonlocal steps_done
        steps_done += 1
        if progress is not None:
            progress(world_total[0] + min(steps_done, kokoro_steps), world_total[0] + kokoro_steps)

    candidates: list[voice_profile.VoiceChoice] = []
    if world_voices:
        choice = timbre_search.choose_voice(reference, profile, language, candidates=world_voices,
                                     frame_match=frame_match, progress=world_tick, ear=ear)
        if judge is not None and base_voice is None:
            choice = world_frontier(choice, reference, profile, language, judge, limit)
        elif judge is not None:  # a base voice asked for by name keeps its full matching: its naturalness is reported
            choice.naturalness = mean_score(judge, probes.render_probes(profile, choice, language))
        candidates.append(choice)
    if use_kokoro:
        choice = kokoro_search.choose_kokoro_voice(reference, profile, language, judge=judge, naturalness_limit=limit,
                                                   ear=ear if hears else None, error_limit=error_limit, tick=kokoro_tick)
        choice.base_probe_error = error_floor
        candidates.append(choice)
    for candidate in candidates:
        candidate.naturalness_floor, candidate.naturalness_limit = floor, limit
        candidate.judge = None if judge is None else judge.name
    acceptable = [c for c in candidates if _acceptable(c)]
    if acceptable:
        best = max(acceptable, key=lambda c: c.similarity)
    else:
        best = max(candidates, key=lambda c: (c.naturalness if c.naturalness is not None else 0.0, c.similarity))
        best.notes = [*best.notes, _given_up(candidates, best)]
    best.base_similarity = round(max(c.base_similarity for c in candidates), 4)
    if progress is not None:  # the last step of the same total, so a progress bar never runs backwards
        final = world_total[0] + kokoro_steps
        progress(final, final)
    return best


def world_frontier(choice: voice_profile.VoiceChoice, reference: Audio, profile: voice_profile.VoiceProfile, language: str,
                   judge: NaturalnessJudge, limit: float | None) -> voice_profile.VoiceChoice:
    """The WORLD search's winner at each envelope share of ``WORLD_ENVELOPE_SHARES``: the most similar inside the bound, else the most natural.

    The cepstral matching that brings a base voice toward the speaker is what costs it naturalness
    (zh-baker: MOS 4.1 raw, 2.9 matched in full); a smaller share is closer to the base voice, so its
    words are no harder to hear than the share the ear passed.
    """
    reference_embedding = speaker_embedding(reference)
    points = []
    for share in WORLD_ENVELOPE_SHARES:
        point = dataclasses.replace(choice, envelope_match=share, notes=list(choice.notes))
        renders = probes.render_probes(profile, point, language)
        point.naturalness = mean_score(judge, renders)
        point.similarity = round(float(np.mean([cosine(speaker_embedding(r, trim_silence=False), reference_embedding) for r in renders])), 4)
        points.append(point)
    inside = [p for p in points if limit is None or p.naturalness >= limit]
    return max(inside, key=lambda p: p.similarity) if inside else max(points, key=lambda p: p.naturalness)


def _given_up(candidates: list[voice_profile.VoiceChoice], best: voice_profile.VoiceChoice) -> str:
    """In words: no candidate held both bounds, and what the chosen one gives up."""
    parts = []
    for c in candidates:
        sound = "" if c.naturalness is None else f"naturalness {c.naturalness:.2f} (limit {c.naturalness_limit:.2f})"
        words = "" if c.probe_error is None else f"probe words lost {c.probe_error:.2f} (limit {c.error_limit:.2f})"
        parts.append(f"{c.base_voice}: " + ", ".join(p for p in (sound, words) if p))
    words_missed = all(c.probe_error is not None and c.error_limit is not None and c.probe_error > c.error_limit for c in candidates)
    hint = " Is the reference clean speech of one person, without music under it?" if words_missed else ""
    return (f"no voice reached the naturalness limit while keeping the words ({'; '.join(parts)}): {best.base_voice}, "
            f"the most natural, was used; it sounds less like a person than the base voice does.{hint}")


@functools.lru_cache(maxsize=8)
def _load_cached(path: Path, modified_ns: int) -> voice_profile.VoiceProfile:
    """A profile read once per file version (a dub or a job reads it for every line and round)."""
    return voice_profile.VoiceProfile.load(path)


def load_or_build_profile(reference: Audio, language: str, *, base_voice: str | None = None, frame_match: float | None = None,
                          naturalness_margin: float | None = None, progress: StepProgress | None = None,
                          commercial: bool = False) -> voice_profile.VoiceProfile:
    """The cached profile for this reference, with a choice for ``language`` (searched if missing)."""
    path = voice_profile.cache_dir() / f"{voice_profile.reference_hash(reference)}.json"
    profile = None
    if path.exists():
        try:
            profile = _load_cached(path, path.stat().st_mtime_ns)
        except (ValueError, TypeError, KeyError):
            profile = None  # an old or damaged cache entry is rebuilt
        if profile is not None and profile.version != voice_profile.PROFILE_VERSION:
            profile = None
    if profile is None:
        profile = voice_profile.describe_reference(reference)
    base_voice = commercial_default(language, base_voice, commercial)
    wanted = voice_profile.choice_key(language, base_voice, frame_match, naturalness_margin, commercial)
    if wanted not in profile.choices:
        margin = DEFAULT_NATURALNESS_MARGIN if naturalness_margin is None else naturalness_margin
        profile.choices[wanted] = choose(reference, profile, language, base_voice=base_voice, frame_match=frame_match,
                                         margin=margin, progress=progress, commercial=commercial)
        profile.save(path)
    return profile


def commercial_default(language: str, base_voice: str | None, commercial: bool) -> str | None:
    """The base voice asked for; with ``commercial`` and none asked, Mandarin in Kokoro (zh-baker's weights are non-commercial)."""
    return "kokoro" if commercial and base_voice is None and language == "zh" else base_voice


def kokoro_style(choice: voice_profile.VoiceChoice) -> kokoro.KokoroStyle:
    """The style a Kokoro choice renders with (the average of the packs for a choice without one)."""
    return kokoro.KokoroStyle.from_dict(choice.style) if choice.style else kokoro.DEFAULT_STYLE


__all__ = ["DEFAULT_NATURALNESS_MARGIN", "base_naturalness", "choose", "commercial_default", "kokoro_style", "load_or_build_profile"]
