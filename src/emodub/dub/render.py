"""Rendering jobs: the voice profiles, one cue synthesised and checked, and the pool that runs many cues at once."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from emodub import watermark
from emodub.audio import Audio
from emodub.dub.inputs import ANALYSIS_RATE_HZ
from emodub.dub.plan import CueJob, PartJob, part_targets
from emodub.engines.base import SynthesisRequest, detect_language, get_engine, natural_length_s, prepare_voice
from emodub.errors import EmodubError
from emodub.progress import Progress
from emodub.timing import RATIO_MAX, RATIO_MIN, DurationPlan
from emodub.verify import Thresholds, synthesize_verified
from emodub.workers import forget, warm_pool

if TYPE_CHECKING:
    from emodub.dub.session import DubSession


DEFAULT_PROSODY_ALPHA = 0.7  # how much of the original delivery's contour the new line takes
PROFILE_STEPS = 100  # the voice-profile step counts in hundredths of each voice it matches
DUB_THRESHOLDS = Thresholds(require_arousal_match=False)  # a cue's emotion comes from the original performance; words and length decide


Synthesizer = Callable[[list[CueJob], int, Progress], tuple[dict[int, "RenderedCue"], dict[int, str]]]  # jobs, workers, progress ► results, failures


@dataclass
class RenderedCue:
    index: int
    audio: Audio | None
    status: str
    free_s: float
    ratio_needed: float
    ratio_used: float | None
    target_s: float | None
    warnings: list[str]
    part_audio: list[Audio] = field(default_factory=list)
    intelligibility: list[dict[str, Any] | None] = field(default_factory=list)
    rounds: int | None = None
    naturalness: list[float | None] = field(default_factory=list)  # each part's MOS, as its verification scored it
    base_voices: list[str] = field(default_factory=list)  # each part's base voice (the report's models and licences)


def synthesize_cue(job: CueJob) -> RenderedCue:
    """Every part's natural length from the engine's plan (no render), then one controlled render each, as the policy picks."""
    engine = get_engine("builtin")

    def request(part: PartJob, plan: DurationPlan) -> SynthesisRequest:
        reference = None if part.reference_samples is None else Audio(part.reference_samples, ANALYSIS_RATE_HZ)
        return SynthesisRequest(text=part.text, speaker_reference=Audio(part.voice_samples, part.voice_rate_hz), emotion=part.vector,
                                qualities=part.qualities, emotion_reference=reference,
                                emotion_alpha=DEFAULT_PROSODY_ALPHA if reference is not None else 1.0,
                                duration=plan, seed=job.seed, base_voice=job.base_voice, frame_match=job.frame_match,
                                naturalness_margin=job.naturalness_margin, commercial=job.commercial)

    free = [natural_length_s(engine, request(part, DurationPlan("free"))) for part in job.parts]  # planned, not rendered
    free_total = sum(free)

    def verified(plans: list[DurationPlan], status: str, ratio: float, note: str | None = None) -> RenderedCue:
        """The controlled passes, each heard by the ear and retried on a miss (see :mod:`emodub.verify`), joined."""
        audios, heard, natural, warnings, rounds_used, target_total, bases = [], [], [], [], 0, 0.0, []
        for number, (part, plan) in enumerate(zip(job.parts, plans), 1):
            result, checked, rounds = synthesize_verified(engine, request(part, plan), thresholds=DUB_THRESHOLDS, max_rounds=job.max_rounds)
            where = f"part {number}: " if len(job.parts) > 1 else ""
            warnings += [where + w for w in result.warnings]
            kept = next(r for r in rounds if r["kept"])
            if kept["round"] > 1:
                warnings.append(f"{where}verification kept round {kept['round']} of {len(rounds)}: {kept['change']}")
            if not checked.passed:
                warnings.append(f"{where}verification: {', '.join(checked.failed)} missed after {len(rounds)} round(s); the best round is kept")
            audios.append(result.audio.resampled(job.rate_hz))
            heard.append(checked.intelligibility)
            natural.append(checked.value("naturalness"))
            bases.append(str(result.applied.get("base_voice", "")))
            rounds_used = max(rounds_used, len(rounds))
            target_total += result.target_duration_s or 0.0
        warnings += [note] if note else []
        joined = Audio(np.concatenate([a.samples for a in audios]), job.rate_hz)
        if job.watermark:
            joined = watermark.mark(joined)  # the finished line (its length fitted); the mix only scales it, the bed is never marked
        return RenderedCue(job.index, joined, status, free_total, needed, ratio, target_total, warnings, audios, heard, rounds_used,
                           natural, bases)

    needed = job.span_s / free_total
    if RATIO_MIN <= needed <= RATIO_MAX:
        targets = part_targets(free, job.span_s, job.rate_hz)
        return verified([DurationPlan("controlled", target_duration_s=t) for t in targets], "dubbed", needed)
    out_of_range = f"needs ratio {needed:.2f} to fit {job.span_s:.2f} s (allowed {RATIO_MIN}–{RATIO_MAX})"
    if job.sync == "strict":
        return RenderedCue(job.index, None, "not-dubbed", free_total, needed, None, None,
                           [f"not dubbed (sync policy strict), rewrite the line: it {out_of_range}"])
    if needed > RATIO_MAX:
        quiet = job.span_s - RATIO_MAX * free_total
        return verified([DurationPlan("controlled", ratio=RATIO_MAX)] * len(job.parts), "short-of-shot", RATIO_MAX,
                        f"the line is short for its shot: {out_of_range}; spoken at {RATIO_MAX} and the last {quiet:.2f} s of the shot stay quiet")
    longest = RATIO_MIN * free_total
    if longest <= job.room_s:
        return verified([DurationPlan("controlled", ratio=RATIO_MIN)] * len(job.parts), "ran-into-silence", RATIO_MIN,
                        f"the line is long for its shot: {out_of_range}; spoken at {RATIO_MIN}, it runs {longest - job.span_s:.2f} s "
                        "into the following silence")
    return RenderedCue(job.index, None, "not-dubbed", free_total, needed, None, None,
                       [f"not dubbed, rewrite the line: it {out_of_range} and even at {RATIO_MIN} it takes {longest:.2f} s, "
                        f"more than the {job.room_s:.2f} s before the next cue"])


def run_jobs(jobs: list[CueJob], workers: int, notify: Progress) -> tuple[dict[int, RenderedCue], dict[int, str]]:
    """Synthesise every cue, in a process pool when ``workers`` > 1; results and failures by cue number."""
    results: dict[int, RenderedCue] = {}
    failures: dict[int, str] = {}

    def collect(index: int, run: Callable[[], RenderedCue], done: int) -> None:
        try:
            results[index] = run()
        except EmodubError as error:  # one failed line does not lose the others
            failures[index] = str(error)
        notify("synthesise", done, len(jobs))

    if workers == 1 or len(jobs) <= 1:
        for done, job in enumerate(jobs, 1):
            collect(job.index, lambda job=job: synthesize_cue(job), done)
        return results, failures
    # spawn, not fork: the workers' verification runs the GE2E encoder and the ear, and a forked child
    # that runs torch after its parent has can deadlock in the OpenMP pool.  The pool is the process's
    # warm one (emodub.workers): its workers loaded their models once, with cores // workers threads each.
    pool = warm_pool(workers)
    try:
        futures = [(job.index, pool.submit(synthesize_cue, job)) for job in jobs]
        for done, (index, future) in enumerate(futures, 1):
            collect(index, future.result, done)
    except BrokenProcessPool:
        forget(workers)
        raise
    return results, failures


def build_profiles(session: DubSession, notify: Progress) -> None:
    """Each (voice, language) profile once, before the workers start (they load it from the cache)."""
    needed: dict[tuple[str, str], str] = {}  # (voice key, language) ► a line of it
    for cue, row in zip(session.cues, session.assigned):
        for part, (_, key) in zip(cue.parts, row):
            needed.setdefault((key, detect_language(part.text)), part.text)
    total = PROFILE_STEPS * len(needed)  # one total for the whole step, known before it starts: a bar never runs backwards

    def tick(number: int):
        return lambda done, steps: notify("voice profile", number * PROFILE_STEPS + (PROFILE_STEPS * done) // max(1, steps), total)

    engine, options = get_engine("builtin"), session.options
    for number, ((key, language), text) in enumerate(sorted(needed.items())):
        request = SynthesisRequest(text=text, speaker_reference=session.references[key], language=language, base_voice=options.base_voice,
                                   frame_match=options.frame_match, naturalness_margin=options.naturalness_margin,
                                   commercial=options.commercial)
        prepare_voice(engine, request, tick(number))
    if needed:
        notify("voice profile", total, total)
