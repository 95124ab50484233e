"""Naturalness: how much each base voice, each processing stage and each clone of a real voice sounds like a person.

Two judges, so nothing is tuned to one: DistillMOS (the project's judge, emodub.naturalness) and
DNSMOS P.835 OVRL (speechmos, the dev extras).  The ear (Whisper base) gives WER / CER, GE2E the
similarity to the reference.  Real references: the alsa-utils voice and the two pyannote sample
speakers (bench/human_references.py); every line is a sentence the voice search never heard.

    .venv/bin/python bench/naturalness.py [voices] [stages] [clones]     (all three by default)

voices: every base voice raw, espeak-ng and real people; stages: the MOS each step of the builtin
chain costs per base voice (WORLD alone, F0 mapping, envelope warp, cepstral matching, frame
matching, emotion prosody, length fit); clones: each real voice cloned by the chain before this
work (the WORLD search alone) and by today's default, on new lines, neutral and emotional.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("EMODUB_CACHE_DIR", tempfile.mkdtemp(prefix="emodub-bench-naturalness-"))  # a cold profile cache

from emodub.audio import Audio  # noqa: E402
from emodub.ear import default_ear, error_rate  # noqa: E402
from emodub.emotion.space import EmotionVector, VoiceQualities  # noqa: E402
from emodub.engines.base import SynthesisRequest  # noqa: E402
from emodub.engines.builtin import kokoro, kokoro_search, probes, render, timbre, timbre_search, voice_profile, voice_search, world  # noqa: E402
from emodub.engines.builtin.base_voice import synthesize_base, voices_for  # noqa: E402
from emodub.engines.builtin.engine import BuiltinEngine  # noqa: E402
from emodub.naturalness import DNSMOS, default_judge  # noqa: E402
from emodub.threads import limit_threads  # noqa: E402
from emodub.timing import DurationPlan, find_pauses, plan_time_map  # noqa: E402
from emodub.voice import cosine, speaker_embedding  # noqa: E402
from human_references import human_references  # noqa: E402  (bench/human_references.py)
from tables import table  # noqa: E402  (bench/tables.py)

NEW_LINES = {
    "en": ("Please leave the parcel at the door, I will collect it tonight.",
           "The museum opens at nine, but the queue starts much earlier.",
           "Could you tell me where the nearest pharmacy is?",
           "We walked along the river until the sun went down."),
    "zh": ("请把包裹放在门口，我今晚去取。", "博物馆九点开门，但是排队的人来得更早。",
           "你能告诉我最近的药店在哪里吗？", "我们沿着河边一直走到太阳下山。"),
}
EMOTIONS = (("angry", 0.8), ("sad", 0.8))


def judges() -> list:
    found = [default_judge()]
    try:
        found.append(DNSMOS())
    except Exception as error:  # noqa: BLE001 - the second judge is optional here
        print(f"DNSMOS not available ({error}); only DistillMOS is reported", file=sys.stderr)
    return [j for j in found if j is not None]


def mos(judge, clips: list[Audio]) -> float:
    scores = [s for s in judge.score_many(clips) if np.isfinite(s)]
    return float(np.mean(scores)) if scores else float("nan")


def heard(clips: list[Audio], texts: tuple[str, ...], language: str) -> float:
    ear = default_ear()
    return float(np.mean([error_rate(t, ear.transcribe(c, language), language) for c, t in zip(clips, texts)]))


def bench_voices(references: dict[str, Audio], found: list) -> None:
    rows = []
    for language in ("en", "zh"):
        for voice in voices_for(language):
            clips = [synthesize_base(voice, text) for text in NEW_LINES[language]]
            rows.append([language, voice, *(mos(j, clips) for j in found), heard(clips, NEW_LINES[language], language)])
        for pack in kokoro.PACKS:
            clips = [kokoro.synthesize(text, language, kokoro.KokoroStyle({pack: 1.0})) for text in NEW_LINES[language]]
            rows.append([language, f"kokoro pack {pack}", *(mos(j, clips) for j in found), heard(clips, NEW_LINES[language], language)])
    for name, audio in references.items():
        rows.append(["—", f"person: {name}", *(mos(j, [audio]) for j in found), "—"])
    table("Base voices raw, on four new lines (people: their own recording)", ["lang", "voice", *(j.name for j in found), "WER/CER"], rows)


def _stage_renders(voice: str, profile: voice_profile.VoiceProfile, language: str) -> dict[str, list[Audio]]:
    """Each stage of the builtin chain applied cumulatively to the voice's new lines."""
    if voice == "kokoro":
        raws = [kokoro.synthesize(t, language) for t in NEW_LINES[language]]
        choice = kokoro_search.style_choice(kokoro.DEFAULT_STYLE, profile, [world.analyze(a) for a in raws])
    else:
        raws = [synthesize_base(voice, t) for t in NEW_LINES[language]]
        choice = probes.choice_for(profile, voice, language, 1.0, 0.0)
    features = [world.analyze(a) for a in raws]
    stages: dict[str, list[Audio]] = {"raw": raws, "WORLD analysis + resynthesis": [world.synthesize(f) for f in features]}

    def adapted(**changes) -> list[world.WorldFeatures]:
        step = voice_profile.VoiceChoice(**{**choice.__dict__, "ap_shift": [0.0] * 3, "envelope_match": 0.0, "f0_match": False, **changes})
        if "warp" in changes and voice != "kokoro":
            mean, std = probes.probe_statistics(voice, language, changes["warp"], profile.nyquist_hz)
            step.cepstrum_mean, step.cepstrum_std = mean.tolist(), std.tolist()
        return [timbre.adapt(f, profile, step) for f in features]

    steps = {"+ F0 mapped to the speaker": dict(f0_match=True),
             "+ envelope warp 0.9": dict(f0_match=True, warp=0.9),
             "+ cepstral matching, half": dict(f0_match=True, envelope_match=0.5),
             "+ cepstral matching, full": dict(f0_match=True, envelope_match=1.0),
             "+ frame matching 0.5": dict(f0_match=True, envelope_match=1.0, frame_match=0.5)}
    for name, changes in steps.items():
        stages[name] = [world.synthesize(f) for f in adapted(**changes)]
    base = adapted(f0_match=True)
    for emotion, intensity in EMOTIONS:
        shape = render.shape_for(EmotionVector.preset(emotion, intensity), VoiceQualities())
        stages[f"F0 mapped + {emotion} {intensity}"] = [world.synthesize(render.apply_contours(render.apply_static(f, shape), shape))
                                                         for f in base]
    for ratio in (0.8, 1.2):
        renders = []
        for f in base:
            spans = find_pauses(f.frame_energy_db())
            positions = plan_time_map(spans, f.n_frames * ratio, smoothness=0.5, natural_lengths=[s.length for s in spans])
            renders.append(world.synthesize(f.resampled_in_time(positions)))
        stages[f"F0 mapped + length × {ratio}"] = renders
    return stages


def bench_stages(references: dict[str, Audio], found: list) -> None:
    name, reference = next(iter(references.items()))
    profile = voice_profile.describe_reference(reference)
    for language, voices in (("en", ["kokoro", "joe", "flite-slt"]), ("zh", ["kokoro", "zh-baker"])):
        rows = []
        for voice in [v for v in voices if v in voices_for(language)]:
            stages = _stage_renders(voice, profile, language)
            raw = [mos(j, stages["raw"]) for j in found]
            for stage, clips in stages.items():
                scores = [mos(j, clips) for j in found]
                rows.append([voice, stage, *scores, *(s - r for s, r in zip(scores, raw))])
        table(f"What each stage costs, {language} ({name} as the reference; four new lines)",
              ["base voice", "stage", *(j.name for j in found), *(f"Δ {j.name}" for j in found)], rows)


def _lines(reference: Audio, language: str, base_voice: str | None) -> tuple[list[Audio], list[Audio], list[dict]]:
    engine = BuiltinEngine()
    neutral, emotional, applied = [], [], []
    for text in NEW_LINES[language]:
        synthesis = engine.synthesize(SynthesisRequest(text, reference, language=language, base_voice=base_voice))
        neutral.append(synthesis.audio)
        applied.append(synthesis.applied)
    for (emotion, intensity), text in zip(EMOTIONS, NEW_LINES[language]):
        emotional.append(engine.synthesize(SynthesisRequest(text, reference, language=language, base_voice=base_voice,
                                                            emotion=EmotionVector.preset(emotion, intensity),
                                                            duration=DurationPlan())).audio)
    return neutral, emotional, applied


def bench_clones(references: dict[str, Audio], found: list) -> None:
    rows = []
    cases = [(name, audio, "en") for name, audio in references.items()] + [(next(iter(references)), next(iter(references.values())), "zh")]
    for name, reference, language in cases:
        ref_embedding = speaker_embedding(reference)
        started = time.perf_counter()
        profile = voice_search.load_or_build_profile(reference, language)
        profile_s = time.perf_counter() - started
        auto = profile.choices[voice_profile.choice_key(language, None, None)]
        world_choice = timbre_search.choose_voice(reference, profile, language, candidates=[v for v in voices_for(language) if v != "kokoro"])
        world_key = voice_profile.choice_key(language, world_choice.base_voice, None)
        if world_key not in profile.choices:
            profile.choices[world_key] = world_choice
            profile.save(voice_profile.cache_dir() / f"{profile.reference_hash}.json")
        for label, base_voice in ((f"before: WORLD search ({world_choice.base_voice})", world_choice.base_voice),
                                  (f"now: {auto.base_voice}", None)):
            neutral, emotional, _ = _lines(reference, language, base_voice)
            similarity = float(np.mean([cosine(speaker_embedding(a), ref_embedding) for a in neutral]))
            rows.append([name, language, label, *(mos(j, neutral) for j in found), *(mos(j, emotional) for j in found),
                         heard(neutral, NEW_LINES[language], language), similarity,
                         f"{profile_s:.1f}" if base_voice is None else "—"])
        nearest = max(kokoro.PACKS, key=lambda p: cosine(kokoro_search.pack_material(language)[p].embedding, ref_embedding))
        raw = [kokoro.synthesize(t, language, kokoro.KokoroStyle({nearest: 1.0})) for t in NEW_LINES[language]]
        rows.append([name, language, f"raw Kokoro, nearest pack ({nearest})", *(mos(j, raw) for j in found), *("—" for _ in found),
                     heard(raw, NEW_LINES[language], language), float(np.mean([cosine(speaker_embedding(a), ref_embedding) for a in raw])),
                     "—"])
    table("Clones of real voices on four new lines (neutral) and two emotional ones (angry 0.8, sad 0.8)",
          ["reference", "lang", "chain", *(f"{j.name} neutral" for j in found), *(f"{j.name} emotional" for j in found),
           "WER/CER", "GE2E similarity", "new voice s"], rows)


def main(parts: list[str]) -> None:
    limit_threads()
    found = judges()
    references = human_references(Path(tempfile.gettempdir()) / "emodub-human-references")
    if not references:
        sys.exit("no real reference could be fetched (alsa-utils, pyannote.audio wheel)")
    for part in parts or ["voices", "stages", "clones"]:
        {"voices": bench_voices, "stages": bench_stages, "clones": bench_clones}[part](references, found)


if __name__ == "__main__":
    main(sys.argv[1:])
