"""Choosing a base voice and warp for a reference, by measured speaker similarity, bounded by the ear.

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
fine. What does not depend on the reference is made once per machine (:func:`base_probes`): the
base voices' probe sentences analysed, and their warped envelopes' statistics. Base voices the
ear finds unclear on their own (own loss over the clearest's plus ``EAR_MARGIN``) are not
searched. Each remaining voice is tried at the coarse warps and the leading voices at fine ones
(within the language's ``WARP_RANGE``: warps the ear found costly are not tried),
each candidate scored by the GE2E similarity of its renders to the reference (``emodub.voice``).
The default plan (:data:`QUICK_SEARCH`) tries fine warps only next to the leading voices' best
coarse one, scores a candidate on one probe sentence rendered at GE2E's 16 kHz, and only each
stage's best three on all three probes, so the choice still generalises to new text;
:data:`EXHAUSTIVE_SEARCH` scores every fine warp and every candidate on all three. Then the ear
(:mod:`emodub.ear`) hears the candidates, most similar first, reading six sentences along
(:func:`probe_error`), and stops at the first that loses at most ``EAR_MARGIN`` of their words
more than the clearest base voice does; when none does, the clearest heard wins. The default
frame-match share is 0: on real references, any share tried (0.25, 0.5) cost words. The result
is a :class:`VoiceProfile`, cached under the reference's hash.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emodub.audio import Audio
from emodub.ear import Ear, can_hear, default_ear, loss_measure
from emodub.engines.builtin.base_voice import voices_for
from emodub.engines.builtin.probes import (
    PROBE_TEXTS,
    base_probe_error,
    base_probes,
    choice_for,
    ear_margin,
    ear_texts,
    probe_error,
    searched_band_hz,
    searched_warps,
    stored_coded,
)
from emodub.engines.builtin.timbre import Warped, render_choice
from emodub.engines.builtin.voice_profile import DEFAULT_FRAME_MATCH, VoiceChoice, VoiceProfile
from emodub.errors import EngineError
from emodub.progress import StepProgress
from emodub.voice import cosine, speaker_embedding

COARSE_WARPS = (0.9, 1.05, 1.2)  # every searched base voice; the fine grid only for the leading voices
FINE_AROUND = 1  # a leading voice's fine warps lie next to its best coarse warp
EAR_SHORTLIST = 3  # most similar candidates the ear hears
EAR_MAX_HEARINGS = 6  # when none of those keeps the words: the best candidate of each other base voice, up to this many


@dataclass(frozen=True)
class SearchPlan:
    """How much of base voices × warps the profile search renders and embeds.

    ``screen_probes``: a candidate is first scored on that many probe sentences, and only the
    best ``finalists`` of each stage (coarse warps, then fine) on all of them (None: every
    candidate on all); ``fine_voices``: how many leading voices the fine stage tries;
    ``fine_steps``: their fine warps lie within that many grid steps of their ``FINE_AROUND``
    best coarse warps (None: every fine warp); ``pruned_voices``: only the base voices closest
    to the reference are searched first (None: all); ``render_rate_hz``: the rate candidates are
    rendered at for GE2E and the ear (None: WORLD's own, as a line is).
    """

    screen_probes: int | None = None
    finalists: int = 0
    fine_voices: int = 2
    fine_steps: int | None = None
    pruned_voices: int | None = None
    render_rate_hz: int | None = None


EXHAUSTIVE_SEARCH = SearchPlan()
QUICK_SEARCH = SearchPlan(screen_probes=1, finalists=3, fine_steps=1, render_rate_hz=16000)
DEFAULT_SEARCH = QUICK_SEARCH


def choose_voice(reference: Audio, profile: VoiceProfile, language: str, *, candidates: list[str] | None = None,
                 frame_match: float | None = None, progress: StepProgress | None = None, ear: Ear | None = None,
                 plan: SearchPlan = DEFAULT_SEARCH) -> VoiceChoice:
    """Search base voices × warps for the most similar voice that keeps the words, at ``frame_match`` (None: the default share).

    See the module docstring; ``plan`` says how much is rendered (:class:`SearchPlan`).  Base voices
    the ear finds unclear on their own are not searched: no warp makes them clear.  When no
    searched voice keeps the words, the other base voices are searched too.  ``ear`` defaults to
    :func:`emodub.ear.default_ear`; without an ear for ``language`` every base voice is searched,
    the most similar candidate wins and ``probe_error`` stays None.
    """
    ref_embedding = speaker_embedding(reference)
    candidates = candidates or [v for v in voices_for(language) if v != "kokoro"]  # Kokoro has its own search (kokoro_search)
    if not candidates:
        raise EngineError(f"no base voice for language {language!r} is installed (need espeak-ng / flite)")
    share = DEFAULT_FRAME_MATCH if frame_match is None else frame_match
    ear = ear if ear is not None else default_ear()
    hears = ear is not None and can_hear(ear, language)
    if hears:
        assert ear is not None
        base_errors = {voice: base_probe_error(voice, language, ear) for voice in candidates}
        floor = min(base_errors.values())
        limit = round(floor + ear_margin(ear), 4)
        candidates = [v for v in candidates if base_errors[v] <= limit]  # a voice unclear on its own cannot become clear
    material = {voice: base_probes(voice, language) for voice in candidates}
    closeness = {voice: float(np.mean([cosine(e, ref_embedding) for e in material[voice].embeddings])) for voice in candidates}
    by_closeness = sorted(candidates, key=lambda v: -closeness[v])
    searched = by_closeness[:plan.pruned_voices] if plan.pruned_voices else by_closeness
    probe_count = len(PROBE_TEXTS[language])
    screen = min(plan.screen_probes or probe_count, probe_count)

    coarse_warps = [w for w in COARSE_WARPS if w in searched_warps(language)]

    def fine_warps(around: list[float]) -> list[float]:
        return [w for w in searched_warps(language) if w not in COARSE_WARPS
                and (plan.fine_steps is None or any(abs(w - a) <= 0.05 * plan.fine_steps + 1e-9 for a in around))]

    coarse_count = len(searched) * len(coarse_warps)
    fine_count = min(plan.fine_voices, len(searched)) * len(fine_warps([coarse_warps[len(coarse_warps) // 2]]))
    final_count = 0 if screen == probe_count else 2 * plan.finalists
    total = coarse_count + fine_count + final_count + (EAR_SHORTLIST if hears else 0)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, max(total, done))

    choices: dict[tuple[str, float], VoiceChoice] = {}
    similarities: dict[tuple[str, float], list[float]] = {}
    renders: dict[tuple[str, float, int], Audio] = {}  # the ear hears the probes GE2E was given, not new renders of them
    band = searched_band_hz(profile.nyquist_hz)

    def render(key: tuple[str, float], index: int) -> Audio:
        """Candidate ``key`` reading sentence ``index`` of the probes followed by the ear-only sentences."""
        voice, warp = key
        if (voice, warp, index) not in renders:
            features = (material[voice].features + material[voice].extra if index >= probe_count else material[voice].features)[index]
            source = Warped(features, warp, stored_coded(voice, language, band)[warp, index])
            renders[voice, warp, index] = render_choice(source, profile, choices[key], plan.render_rate_hz)
        return renders[voice, warp, index]

    def score(key: tuple[str, float], probes_upto: int) -> None:
        """GE2E similarity to the reference of the candidate ``key`` rendered on probes up to ``probes_upto``."""
        voice, warp = key
        if key not in choices:
            choices[key] = choice_for(profile, voice, language, warp, share)
        sims = similarities.setdefault(key, [])
        for index in range(len(sims), probes_upto):
            sims.append(cosine(speaker_embedding(render(key, index), trim_silence=False), ref_embedding))
        choices[key].similarity = round(float(np.mean(sims)), 4)
        tick()

    def scored_stage(keys: list[tuple[str, float]]) -> None:
        """Every candidate on the screening probes, then the best ``finalists`` on all of them."""
        for key in keys:
            score(key, screen)
        if screen < probe_count:
            for key in sorted(keys, key=lambda k: -choices[k].similarity)[:plan.finalists]:
                score(key, probe_count)

    def finished() -> list[VoiceChoice]:
        """Candidates scored on every probe, the most similar first."""
        return sorted((choices[k] for k, sims in similarities.items() if len(sims) == probe_count), key=lambda c: -c.similarity)

    def ranked() -> list[VoiceChoice]:
        """Every candidate scored, screened ones by their screening probes, the most similar first."""
        return sorted(choices.values(), key=lambda c: -c.similarity)

    def search(voices: list[str]) -> None:
        scored_stage([(voice, warp) for voice in voices for warp in coarse_warps])
        leading = [c for c in finished() if c.base_voice in voices]
        leaders = list(dict.fromkeys(c.base_voice for c in leading))[:plan.fine_voices]
        scored_stage([(voice, warp) for voice in leaders
                      for warp in fine_warps([c.warp for c in leading if c.base_voice == voice][:FINE_AROUND])])

    search(searched)
    if not hears:
        best = finished()[0]
    else:
        assert ear is not None
        heard: list[VoiceChoice] = []

        def hear(order: list[VoiceChoice]) -> VoiceChoice | None:
            """The first candidate (the most similar left) whose words stay within the limit; every one heard is kept."""
            for choice in order:
                key = (choice.base_voice, choice.warp)
                if len(similarities[key]) < probe_count:  # a screened candidate: its probes are rendered for the ear anyway
                    score(key, probe_count)
                rendered = [render(key, index) for index in range(len(ear_texts(language)))]
                choice.probe_error, choice.base_probe_error, choice.error_limit, choice.ear = (
                    probe_error(rendered, language, ear), floor, limit, loss_measure(ear))
                heard.append(choice)
                tick()
                if choice.probe_error <= limit:
                    return choice
            return None

        best = hear(hearing_order(finished(), ranked()))
        others = [v for v in by_closeness if v not in searched]
        if best is None and others:  # no searched voice keeps the words: the others' best candidates, one each
            search(others)
            fresh = [c for c in ranked() if c.base_voice in others]
            best = hear([next(c for c in fresh if c.base_voice == v) for v in dict.fromkeys(c.base_voice for c in fresh)]
                        [:max(0, EAR_MAX_HEARINGS - len(heard))])
        if best is None:  # nothing kept the words: the clearest candidate heard
            best = min(heard, key=lambda c: (c.probe_error, -c.similarity))
        best.hearings = len(heard)
    best.base_similarity = round(max(closeness.values()), 4)
    return best


def hearing_order(finished: list[VoiceChoice], ranked: list[VoiceChoice]) -> list[VoiceChoice]:
    """Candidates for the ear: the most similar on every probe first; after that shortlist, the best of each base voice not
    heard yet, screened candidates included (``ranked``: everything scored, most similar first)."""
    order = finished[:EAR_SHORTLIST]
    for candidate in ranked:
        if len(order) >= EAR_MAX_HEARINGS:
            break
        if candidate.base_voice not in {c.base_voice for c in order}:
            order.append(candidate)
    return order
