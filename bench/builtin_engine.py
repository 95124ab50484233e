"""Measure the builtin engine: duration error, real-time factor and memory, speaker similarity,
emotion rendering directions, prosody transfer, intelligibility (WER).

Run: ``OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/builtin_engine.py`` (one core).
Every figure is measured here; nothing is hard-coded.  Inputs are made offline with flite and
espeak-ng, plus the human recordings of ``bench/human_references.py`` (fetched from the Debian and
PyPI registries into ``EMODUB_BENCH_CACHE``, default ``~/.cache/emodub-bench``).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("EMODUB_CACHE_DIR", tempfile.mkdtemp(prefix="emodub-bench-"))

from emodub.audio import Audio, load_audio  # noqa: E402
from emodub.ear import default_ear, edit_distance, tokens_for  # noqa: E402
from emodub.emotion.space import EMOTION_NAMES, EmotionVector  # noqa: E402
from emodub.engines.base import SynthesisRequest, get_engine  # noqa: E402
from emodub.engines.builtin import probes, timbre, timbre_search, transfer, voice_profile, world  # noqa: E402
from emodub.engines.builtin.base_voice import synthesize_base, voices_for  # noqa: E402
from emodub.timing import DurationPlan  # noqa: E402
from emodub.voice import cosine, speaker_embedding  # noqa: E402
from human_references import human_references  # noqa: E402  (bench/human_references.py)
from tables import table  # noqa: E402  (bench/tables.py)

REF_TEXT = ("Hello, I am reading a few sentences for this recording. It should be enough to learn "
            "what my voice sounds like, more or less.")
LINES_EN = [
    "Open the door.",
    "I never thought you would come back here today.",
    "We have to leave before the storm reaches the valley, so pack only what you can carry.",
    "Listen to me carefully. The train leaves at seven, and if we miss it there is no other way out of "
    "this town until next week, so we cannot be late.",
]
LINE_ZH = "你怎么敢这样对我，我一直都相信你。"
NEW_LINES = {  # a chosen voice's test: six lines each, none of them a probe sentence (about 90 words / 100 characters)
    "en": [*LINES_EN[1:], "The children were playing in the garden when the rain started.",
           "Please send me the report before the meeting on Friday afternoon.",
           "He turned off the lights, locked the door, and walked slowly down the stairs."],
    "zh": [LINE_ZH, "明天早上七点我们在车站见面，别迟到。", "这件事情我已经想了很久，现在终于明白了。", "孩子们在花园里玩的时候，突然下起了雨。",
           "请在星期五下午开会之前把报告发给我。", "他关上灯，锁好门，慢慢地走下楼梯。"],
}
ENGINE = get_engine("builtin")
HUMAN_CACHE = Path(os.environ.get("EMODUB_BENCH_CACHE", Path.home() / ".cache" / "emodub-bench"))


def make_reference(kind: str, voice: str, tmp: Path) -> Audio:
    path = tmp / f"{kind}-{voice}.wav"
    if kind == "flite":
        subprocess.run(["flite", "-voice", voice, "-t", REF_TEXT, "-o", str(path)], check=True)
    else:
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), REF_TEXT], check=True)
    return load_audio(path)


def synth(reference: Audio, text: str, **kwargs) -> tuple[object, float]:
    started = time.perf_counter()
    result = ENGINE.synthesize(SynthesisRequest(text=text, speaker_reference=reference, **kwargs))
    return result, time.perf_counter() - started


def bench_duration(reference: Audio) -> None:
    rows = []
    for language, text in (("en", LINES_EN[1]), ("zh", LINE_ZH)):
        errors = []
        for ratio in np.arange(0.75, 1.2501, 0.05):
            result, _ = synth(reference, text, duration=DurationPlan("controlled", ratio=round(float(ratio), 2)))
            target = result.free_duration_s * round(float(ratio), 2)
            errors.append(abs(result.audio.duration_s - target) * 1000)
        free_s = synth(reference, text)[0].free_duration_s
        for seconds in (round(free_s * factor, 1) for factor in (0.6, 0.9, 1.3, 1.8)):
            result, _ = synth(reference, text, duration=DurationPlan("controlled", target_duration_s=seconds))
            errors.append(abs(result.audio.duration_s - seconds) * 1000)
        rows.append([language, len(errors), float(np.mean(errors)), float(np.max(errors))])
    table("Duration error (ratios 0.75–1.25 step 0.05, targets 0.6/0.9/1.3/1.8 × free length, rounded to 0.1 s)",
          ["language", "requests", "mean |error| ms", "max |error| ms"], rows)


def bench_speed(reference: Audio) -> None:
    rows = []
    for base_voice in ("flite-slt", "joe"):
        synth(reference, "Warm up.", base_voice=base_voice)  # builds the cached voice profile
        for text in LINES_EN:
            result, seconds = synth(reference, text, base_voice=base_voice, emotion=EmotionVector.preset("angry", 0.7))
            rows.append([base_voice, result.audio.duration_s, seconds, seconds / result.audio.duration_s])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table("Real-time factor, cached voice profile (processing s / audio s)",
          ["base voice", "audio s", "processing s", "RTF"], rows)
    print(f"\npeak resident memory of this process: {peak_mb:.0f} MB")


def bench_similarity(tmp: Path) -> None:
    references = {
        "flite kal16": (make_reference("flite", "kal16", tmp), {"flite-kal16"}),
        "flite awb": (make_reference("flite", "awb", tmp), {"flite-awb"}),
        "espeak en-us+f3": (make_reference("espeak", "en-us+f3", tmp), {"espeak-en"}),
        "espeak en-gb+m4": (make_reference("espeak", "en-gb+m4", tmp), {"espeak-en"}),
    }
    humans = human_references(HUMAN_CACHE)  # real people: no base voice is theirs
    references.update({name: (audio, set()) for name, audio in humans.items()})
    rows, outputs = [], {}
    texts = LINES_EN[1:]  # new sentences, none of them a probe sentence
    for name, (reference, own_voices) in references.items():
        candidates = [v for v in voices_for("en") if v not in own_voices]  # leave the reference's own voice out
        ref_embedding = speaker_embedding(reference)
        base_best = max(np.mean([cosine(speaker_embedding(synthesize_base(v, t)), ref_embedding) for t in texts]) for v in candidates)
        profile = voice_profile.describe_reference(reference)
        choice = timbre_search.choose_voice(reference, profile, "en", candidates=candidates)
        embeddings = [speaker_embedding(world.synthesize(timbre.adapt(world.analyze(synthesize_base(choice.base_voice, t)), profile, choice)))
                      for t in texts]
        outputs[name] = np.mean(embeddings, axis=0)
        similarity = float(np.mean([cosine(e, ref_embedding) for e in embeddings]))
        rows.append([name, choice.base_voice, choice.warp, float(base_best), similarity, similarity - float(base_best)])
    ref_embeddings = {name: speaker_embedding(ref) for name, (ref, _) in references.items()}
    correct = 0
    for name, rows_row in zip(outputs, rows):
        guess = max(ref_embeddings, key=lambda r: cosine(outputs[name], ref_embeddings[r]))
        correct += guess == name
        rows_row.append(guess)
    table("Speaker similarity (GE2E cosine), mean over three new sentences; the reference's own voice left out of the candidates",
          ["reference", "chosen base", "warp", "best stock voice", "adapted", "gain", "identified as"], rows)
    gains = [r[5] for r in rows]
    synthetic = [r[5] for r in rows if r[0] not in humans]
    human = [r[5] for r in rows if r[0] in humans]
    print(f"\nmean gain {np.mean(gains):+.3f} (synthetic references {np.mean(synthetic):+.3f}"
          + (f", human references {np.mean(human):+.3f}" if human else ", no human reference could be fetched") + ")"
          + f"; identification {correct}/{len(rows)}")


def _prosody(audio: Audio) -> dict[str, float]:
    f = world.analyze(audio)
    voiced = f.f0_hz[f.voiced]
    semitones = 12 * np.log2(voiced)
    freqs = f.frequencies_hz
    power = np.mean(f.sp[f.voiced], axis=0)
    tilt = 10 * np.log10(power[freqs >= 2000].sum() / power[(freqs >= 100) & (freqs < 1000)].sum())
    return {
        "f0_st": float(np.mean(semitones)), "range_st": float(np.percentile(semitones, 95) - np.percentile(semitones, 5)),
        "energy_db": audio.rms_dbfs, "duration_s": audio.duration_s, "tilt_db": float(tilt),
        "voiced": float(f.voiced.mean()),
    }


# Expected directions relative to calm (Juslin & Laukka 2003; Scherer 2003): +1 up, -1 down, 0 not checked.
EXPECTED = {
    "happy": {"f0_st": 1, "range_st": 1, "energy_db": 1, "duration_s": -1, "tilt_db": 1},
    "angry": {"f0_st": 1, "range_st": 1, "energy_db": 1, "duration_s": -1, "tilt_db": 1},
    "sad": {"f0_st": -1, "range_st": -1, "energy_db": -1, "duration_s": 1, "tilt_db": -1},
    "afraid": {"f0_st": 1, "energy_db": 1, "duration_s": -1},
    "disgusted": {"f0_st": -1, "duration_s": 1},
    "melancholic": {"f0_st": -1, "range_st": -1, "energy_db": -1, "duration_s": 1, "tilt_db": -1},
    "surprised": {"f0_st": 1, "range_st": 1, "energy_db": 1},
}


def bench_emotion(reference: Audio) -> None:
    text = LINES_EN[2]
    calm = _prosody(synth(reference, text, base_voice="flite-slt", emotion=EmotionVector.preset("calm"))[0].audio)
    rows, right, total = [], 0, 0
    for name in EMOTION_NAMES[:-1]:
        p = _prosody(synth(reference, text, base_voice="flite-slt", emotion=EmotionVector.preset(name))[0].audio)
        cells = [name]
        for key in ("f0_st", "range_st", "energy_db", "duration_s", "tilt_db"):
            delta = p[key] - calm[key] if key != "duration_s" else p[key] / calm[key]
            sign = np.sign(delta - (1.0 if key == "duration_s" else 0.0))
            expected = EXPECTED[name].get(key, 0)
            ok = "" if expected == 0 else (" ✓" if sign == expected else " ✗")
            right += ok == " ✓"
            total += expected != 0
            cells.append(f"{delta:+.2f}{ok}" if key != "duration_s" else f"×{delta:.2f}{ok}")
        cells.append(f"{p['voiced'] - calm['voiced']:+.2f}")
        rows.append(cells)
    table("Emotion rendering relative to calm (same text; F0/range in semitones, energy/tilt in dB)",
          ["preset", "F0 mean", "F0 range", "energy", "duration", "HF tilt", "voicing"], rows)
    print(f"\ndirections right: {right}/{total}")


def bench_transfer(reference: Audio, tmp: Path) -> None:
    rows = []
    for name in ("sad", "surprised", "angry"):
        emotion_ref = synth(make_reference("flite", "awb", tmp), LINES_EN[1], base_voice="flite-rms",
                            emotion=EmotionVector.preset(name))[0].audio
        ref_contour = transfer.f0_contour_z(world.analyze(emotion_ref))
        for alpha in (0.0, 1.0):
            out = synth(reference, LINES_EN[2], base_voice="flite-slt", emotion_reference=emotion_ref,
                        emotion_alpha=alpha)[0].audio
            correlation = float(np.corrcoef(transfer.f0_contour_z(world.analyze(out)), ref_contour)[0, 1])
            rows.append([name, alpha, correlation])
    table("Prosody transfer: correlation of time-normalised F0 contours, output vs emotion reference",
          ["reference emotion", "alpha", "correlation"], rows)


def _heard(reference: Audio, base_voice: str, **kwargs) -> tuple[int, float, float] | None:
    """Words, WER (by the ear, Whisper base) and mean GE2E similarity to the reference over the new sentences; None without an ear."""
    words = errors = 0.0
    similarities = []
    ref_embedding = speaker_embedding(reference)
    ear = default_ear()
    if ear is None:
        print("\nno ear installed (faster-whisper): WER not measured")
        return None
    for text in LINES_EN[1:]:
        audio = synth(reference, text, base_voice=base_voice, **kwargs)[0].audio
        truth = tokens_for(text, "en")
        errors += min(len(truth), edit_distance(truth, tokens_for(ear.transcribe(audio, "en"), "en")))
        words += len(truth)
        similarities.append(cosine(speaker_embedding(audio), ref_embedding))
    return int(words), errors / words, float(np.mean(similarities))


def bench_wer(reference: Audio) -> None:
    rows = []
    for base_voice in ("joe", "flite-slt"):
        if (heard := _heard(reference, base_voice)) is None:
            return
        rows.append([base_voice, heard[0], heard[1]])
    table("Intelligibility: word error rate by the ear (Whisper base)",
          ["base voice", "words", "WER"], rows)


def bench_frame_match(reference: Audio) -> None:
    """The trade-off ``frame_match`` sets: similarity to the reference against intelligibility."""
    rows = []
    for base_voice in ("joe", "flite-slt"):
        for share in (0.0, 0.25, 0.5, 0.75, 1.0):
            if (heard := _heard(reference, base_voice, frame_match=share)) is None:
                return
            rows.append([base_voice, share, heard[2], heard[1]])
    table("frame_match: GE2E similarity to the reference and WER (same 57 words)",
          ["base voice", "frame_match", "similarity", "WER"], rows)


def _rendered_lines(reference: Audio, profile: voice_profile.VoiceProfile, choice: voice_profile.VoiceChoice, language: str) -> dict[str, float]:
    """The chosen voice on six new lines (none a probe sentence): GE2E similarity to the reference and the ear's error."""
    lines = NEW_LINES[language]
    ear, ref_embedding = default_ear(), speaker_embedding(reference)
    errors = units = 0
    similarities = []
    for text in lines:
        audio = world.synthesize(timbre.adapt(world.analyze(synthesize_base(choice.base_voice, text)), profile, choice))
        similarities.append(cosine(speaker_embedding(audio), ref_embedding))
        truth = tokens_for(text, language)
        errors += min(len(truth), edit_distance(truth, tokens_for(ear.transcribe(audio, language), language)))
        units += len(truth)
    return {"similarity": float(np.mean(similarities)), "error": errors / units}


class TranscribingEar:
    """Whisper made to transcribe (beam 5) where the search reads along: the check the search used before."""

    def __init__(self, ear) -> None:
        self._ear, self.name, self.languages = ear, f"{ear.name}, transcribing", ear.languages

    def transcribe(self, audio: Audio, language: str) -> str:
        return self._ear.transcribe(audio, language)


def bench_search(tmp: Path, searches: list[str] | None = None) -> None:
    """A new voice on one core: the profile search's time, and how alike and how clear its choice is on new lines.

    ``quick`` (the default :data:`timbre_search.QUICK_SEARCH`: screened on one probe, fine warps next to the
    best coarse one, rendered at 16 kHz) against ``exhaustive`` (every clear base voice, every warp
    of the leading voices, three probes each), both with the ear reading along, and against
    ``transcribed`` (the exhaustive plan with the ear transcribing: the search before the
    read-along).  The per-machine material they start from (base voices' probes analysed, their
    statistics and coded warped envelopes, their own losses by the ear) is made first and timed apart.
    """
    references = {"flite kal16": make_reference("flite", "kal16", tmp), **human_references(HUMAN_CACHE)}
    ear = default_ear()
    plans = {"transcribed": (timbre_search.EXHAUSTIVE_SEARCH, TranscribingEar(ear)), "exhaustive": (timbre_search.EXHAUSTIVE_SEARCH, ear),
             "quick": (timbre_search.QUICK_SEARCH, ear)}
    plans = {mode: plans[mode] for mode in searches or plans}
    languages = ("en", "zh")
    started = time.perf_counter()
    for language in languages:
        for voice in voices_for(language):
            probes.base_probes(voice, language)
            for _, checker in plans.values():
                probes.base_probe_error(voice, language, checker)
            for band in {probes.searched_band_hz(r.sample_rate_hz / 2) for r in references.values()}:
                probes.stored_coded(voice, language, band)
    machine_s = time.perf_counter() - started
    warm = next(iter(references.values()))  # the models' first calls (≈ 5 s) are not part of any search
    speaker_embedding(warm)
    ear.transcribe(warm, "en")
    rows = []
    for language in languages:
        for name, reference in references.items():
            for mode, (plan, checker) in plans.items():
                started = time.perf_counter()
                profile = voice_profile.describe_reference(reference)
                choice = timbre_search.choose_voice(reference, profile, language, plan=plan, ear=checker)
                seconds = time.perf_counter() - started
                lines = _rendered_lines(reference, profile, choice, language)
                rows.append([language, name, mode, round(seconds, 1), choice.hearings,
                             f"{choice.base_voice} {choice.warp}", lines["similarity"], lines["error"]])
    table("A new voice's profile search on one core (seconds), and its choice on six new lines",
          ["language", "reference", "search", "search s", "hearings", "chosen", "similarity", "WER / CER"], rows)
    for mode in plans:
        picked = [r for r in rows if r[2] == mode]
        print(f"{mode}: search {np.mean([r[3] for r in picked]):.1f} s mean, {np.median([r[3] for r in picked]):.1f} s median, "
              f"{max(r[3] for r in picked):.1f} s worst; {np.mean([r[4] for r in picked]):.2f} hearings; "
              f"similarity {np.mean([r[6] for r in picked]):.3f}; error {np.mean([r[7] for r in picked]):.3f}")
    print(f"per-machine material (base probes, their statistics, coded warps and losses, {', '.join(languages)}), once: "
          f"{machine_s:.1f} s")


def bench_ear_check(tmp: Path) -> None:
    """How well the search's check of a candidate predicts its words on new lines: read along or transcribed.

    Every base voice × every other grid warp (Mandarin: its ``WARP_RANGE``) for the four
    references: the share of the probe sentences' words lost, measured both ways on the same
    renders (``probes.probe_error``), against the error of six new lines heard one by one
    (``_rendered_lines``, as in the search table).  Spearman's rank correlation, the new lines'
    error of the candidates each check passes and fails at the search's limit, and the time per check.
    """
    from scipy.stats import spearmanr

    references = {"flite kal16": make_reference("flite", "kal16", tmp), **human_references(HUMAN_CACHE)}
    ears = {"read along": default_ear()}
    ears["transcribed"] = TranscribingEar(ears["read along"])
    rows = []
    for language in ("en", "zh"):
        voices = voices_for(language)
        base = {name: {v: probes.base_probe_error(v, language, ear) for v in voices} for name, ear in ears.items()}
        limits = {name: min(errors.values()) + probes.ear_margin(ears[name]) for name, errors in base.items()}
        warps = probes.searched_warps(language)[::2 if language == "en" else 1]
        found = []
        for reference in references.values():
            profile = voice_profile.describe_reference(reference)
            for voice in voices:
                material = probes.base_probes(voice, language)
                for warp in warps:
                    choice = probes.choice_for(profile, voice, language, warp, 0.0)
                    rendered = [timbre.render_choice(timbre.warped(f, warp, profile.nyquist_hz), profile, choice, 16000)
                                for f in (*material.features, *material.extra)]
                    checks = {}
                    for name, ear in ears.items():
                        started = time.perf_counter()
                        checks[name] = (probes.probe_error(rendered, language, ear), time.perf_counter() - started)
                    found.append((checks, _rendered_lines(reference, profile, choice, language)["error"]))
        truth = np.array([new for _, new in found])
        for name in ears:
            lost = np.array([checks[name][0] for checks, _ in found])
            passed = lost <= limits[name] + 1e-9
            rows.append([language, name, len(found), round(float(spearmanr(lost, truth).statistic), 2),
                         int(passed.sum()), float(truth[passed].mean()) if passed.any() else None,
                         float(truth[~passed].mean()) if (~passed).any() else None,
                         round(float(np.mean([checks[name][1] for checks, _ in found])), 2)])
    table("The search's check of a candidate against its error on six new lines (base voices × warps × four references)",
          ["language", "check", "candidates", "Spearman ρ", "passed", "new-line error, passed", "new-line error, failed",
           "s per check"], rows)


def main() -> None:
    parts = set(sys.argv[1:]) or {"duration", "speed", "similarity", "emotion", "transfer", "wer", "frame_match", "search",
                                  "ear_check"}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        reference = make_reference("flite", "kal16", tmp)
        print(f"# builtin engine bench — reference: flite kal16, {reference.duration_s:.1f} s; "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
        if "duration" in parts:
            bench_duration(reference)
        if "speed" in parts:
            bench_speed(reference)
        if "similarity" in parts:
            bench_similarity(tmp)
        if "emotion" in parts:
            bench_emotion(reference)
        if "transfer" in parts:
            bench_transfer(reference, tmp)
        if "wer" in parts:
            bench_wer(reference)
        if "frame_match" in parts:
            bench_frame_match(reference)
        if "search" in parts:
            bench_search(tmp)
        if "ear_check" in parts:
            bench_ear_check(tmp)


if __name__ == "__main__":
    main()
