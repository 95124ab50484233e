"""Intelligibility first: what the ear (Whisper base) hears of every kind of output, with GE2E similarity beside it.

Run: ``.venv/bin/python bench/intelligibility.py [lines] [shares] [emotions] [rounds] [seed] [threads]``
(all parts by default; one thread per pool, as the package sizes them).

- lines: English and Mandarin lines × references — the real people of ``bench/human_references.py``,
  synthetic voices, and cross-lingual pairs (an English voice saying Mandarin, a Mandarin voice
  saying English) — by the best stock base voice and by the cloned voice, default settings:
  WER/CER per line and GE2E similarity to the reference.
- shares: ``frame_match`` 0 / 0.25 / 0.5 fixed, against the default search, on the real references.
- emotions: each preset at 0.8, and whisper / shout at 0.8, on a real reference, in both languages.
- rounds: how many verification rounds a line needs with the default thresholds.
- seed: the seed's YAML job (Mandarin), transcribed by the ear.
- threads: one GE2E embedding with 1 and 2 torch threads while another process keeps a core busy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("EMODUB_CACHE_DIR", tempfile.mkdtemp(prefix="emodub-bench-"))

from emodub.audio import Audio, load_audio  # noqa: E402
from emodub.ear import default_ear, error_rate  # noqa: E402
from emodub.emotion.space import EMOTION_NAMES, EmotionVector, VoiceQualities  # noqa: E402
from emodub.engines.base import SynthesisRequest, get_engine  # noqa: E402
from emodub.engines.builtin import probes  # noqa: E402
from emodub.engines.builtin.base_voice import synthesize_base, voices_for  # noqa: E402
from emodub.job import load_job  # noqa: E402
from emodub.threads import limit_threads  # noqa: E402
from emodub.verify import Thresholds, synthesize_verified  # noqa: E402
from emodub.voice import cosine, speaker_embedding  # noqa: E402
from human_references import human_references  # noqa: E402  (bench/human_references.py)
from tables import table  # noqa: E402  (bench/tables.py)

LINES = {
    "en": ["Please close the door when you leave the room.",
           "I never thought you would come back here today.",
           "We have to leave before the storm reaches the valley.",
           "The train leaves at seven, so we cannot be late.",
           "Why did you tell them about the money?",
           "She kept the letter in a drawer for twenty years."],
    "zh": ["你怎么敢这样对我！",
           "今天天气很好，我们一起去公园散步吧。",
           "请把门关上，然后坐下来听我说。",
           "火车七点出发，我们不能迟到。",
           "你为什么把钱的事告诉他们？",
           "她把那封信在抽屉里放了二十年。"],
}
REF_TEXT = ("Hello, I am reading a few sentences for this recording. It should be enough to learn "
            "what my voice sounds like, more or less.")
ROOT = Path(__file__).resolve().parents[1]
HUMAN_CACHE = Path(os.environ.get("EMODUB_BENCH_CACHE", Path.home() / ".cache" / "emodub-bench"))
ENGINE = get_engine("builtin")
EAR = default_ear()


def synthetic_references(tmp: Path) -> dict[str, Audio]:
    refs = {}
    for name, command in (("flite kal16 (synthetic)", ["flite", "-voice", "kal16", "-t", REF_TEXT, "-o"]),
                          ("espeak en-us+f3 (synthetic)", ["espeak-ng", "-v", "en-us+f3", REF_TEXT, "-w"])):
        path = tmp / f"{len(refs)}.wav"
        subprocess.run([*command, str(path)], check=True, capture_output=True)
        refs[name] = load_audio(path)
    zh = synthesize_base("zh-baker", "大家好，我在录一段声音，让系统学一学我说话的样子，差不多就够了。")
    refs["zh-baker, pitch −3 st (synthetic Mandarin speaker)"] = _pitch_shifted(zh, -3.0, tmp)
    return refs


def _pitch_shifted(audio: Audio, semitones: float, tmp: Path) -> Audio:
    src, dst = tmp / "shift-in.wav", tmp / "shift-out.wav"
    import soundfile as sf

    sf.write(src, audio.samples, audio.sample_rate_hz)
    subprocess.run(["sox", str(src), str(dst), "pitch", str(int(semitones * 100))], check=True)
    return load_audio(dst)


def heard_error(audio: Audio, text: str, language: str) -> tuple[float, str]:
    heard = EAR.transcribe(audio, language)
    return error_rate(text, heard, language), heard


def best_stock_voice(reference: Audio, language: str) -> tuple[str, float]:
    ref = speaker_embedding(reference)
    scores = {v: float(np.mean([cosine(speaker_embedding(synthesize_base(v, t)), ref) for t in probes.PROBE_TEXTS[language]]))
              for v in voices_for(language)}
    voice = max(scores, key=scores.get)
    return voice, scores[voice]


def bench_lines(references: dict[str, Audio]) -> None:
    rows, summary = [], {}
    worst = []
    for name, reference in references.items():
        for language in ("en", "zh"):
            stock, _ = best_stock_voice(reference, language)
            started = time.perf_counter()
            ENGINE.synthesize(SynthesisRequest(text=LINES[language][0], speaker_reference=reference, language=language))
            profile_s = time.perf_counter() - started
            errors, stock_errors, sims, stock_sims, voice = [], [], [], [], ""
            for line in LINES[language]:
                out = ENGINE.synthesize(SynthesisRequest(text=line, speaker_reference=reference, language=language))
                voice = f"{out.applied['base_voice']} w{out.applied['warp']:g} fm{out.applied['frame_match']:g}"
                error, heard = heard_error(out.audio, line, language)
                errors.append(error)
                if error > 0.2:
                    worst.append([name, language, line, heard, round(error, 3)])
                sims.append(cosine(speaker_embedding(out.audio), speaker_embedding(reference)))
                base = synthesize_base(stock, line)
                stock_errors.append(heard_error(base, line, language)[0])
                stock_sims.append(cosine(speaker_embedding(base), speaker_embedding(reference)))
            rows.append([name, language, stock, float(np.mean(stock_errors)), float(np.mean(stock_sims)), voice,
                         float(np.mean(errors)), float(max(errors)), float(np.mean(sims)), float(np.mean(sims) - np.mean(stock_sims)),
                         round(profile_s, 1)])
            summary.setdefault((language, "human" if "synthetic" not in name else "synthetic"), []).append(
                (np.mean(errors), max(errors), np.mean(sims) - np.mean(stock_sims)))
            print(rows[-1], flush=True)
    table("Lines by the ear (WER en / CER zh) and GE2E similarity: best stock voice vs cloned voice, default settings",
          ["reference", "lang", "best stock voice", "stock error", "stock sim", "cloned voice", "cloned error (mean)",
           "cloned error (max)", "cloned sim", "sim gain", "first line s (profile)"], rows)
    table("Summary", ["language", "references", "mean error", "max line error", "mean sim gain"],
          [[lang, kind, float(np.mean([v[0] for v in values])), float(max(v[1] for v in values)), float(np.mean([v[2] for v in values]))]
           for (lang, kind), values in sorted(summary.items())])
    if worst:
        table("Lines above 20 %", ["reference", "lang", "line", "heard", "error"], worst)


def bench_shares(references: dict[str, Audio]) -> None:
    rows = []
    for name, reference in references.items():
        if "synthetic" in name:
            continue
        for share in (0.0, 0.25, 0.5):
            errors, sims = [], []
            for line in LINES["en"]:
                out = ENGINE.synthesize(SynthesisRequest(text=line, speaker_reference=reference, language="en", frame_match=share))
                errors.append(heard_error(out.audio, line, "en")[0])
                sims.append(cosine(speaker_embedding(out.audio), speaker_embedding(reference)))
            rows.append([name, share, f"{out.applied['base_voice']} w{out.applied['warp']:g}", float(np.mean(errors)), float(max(errors)),
                         float(np.mean(sims))])
            print(rows[-1], flush=True)
    table("frame_match on real references (English lines): WER and similarity", ["reference", "frame_match", "voice",
                                                                                  "mean WER", "max WER", "similarity"], rows)


def bench_emotions(references: dict[str, Audio]) -> None:
    name, reference = next((n, r) for n, r in references.items() if "synthetic" not in n)
    rows = []
    settings = [("neutral", None, VoiceQualities())] + [(e, EmotionVector.preset(e, 0.8), VoiceQualities()) for e in EMOTION_NAMES
                                                        if e != "calm"]
    settings += [("whisper 0.8", None, VoiceQualities(whisper=0.8)), ("shout 0.8", None, VoiceQualities(shout=0.8))]
    for label, vector, qualities in settings:
        for language in ("en", "zh"):
            errors = []
            for line in LINES[language][:3]:
                out = ENGINE.synthesize(SynthesisRequest(text=line, speaker_reference=reference, language=language, emotion=vector,
                                                         qualities=qualities))
                errors.append(heard_error(out.audio, line, language)[0])
            rows.append([label, language, float(np.mean(errors)), float(max(errors))])
            print(rows[-1], flush=True)
    table(f"Emotion at 0.8 on {name}: error by the ear (3 lines each)", ["emotion", "lang", "mean error", "max error"], rows)


def bench_rounds(references: dict[str, Audio]) -> None:
    rows = []
    thresholds = Thresholds()
    for name, reference in references.items():
        for language in ("en", "zh"):
            counts = []
            for line in LINES[language][:3]:
                _, checked, rounds = synthesize_verified(ENGINE, SynthesisRequest(text=line, speaker_reference=reference,
                                                                                  language=language), thresholds=thresholds)
                counts.append(len(rounds) if checked.passed else 0)
            rows.append([name, language, sum(c == 1 for c in counts), sum(c > 1 for c in counts), sum(c == 0 for c in counts)])
            print(rows[-1], flush=True)
    table(f"Verification rounds, default thresholds (WER ≤ {thresholds.max_word_error_rate}, CER ≤ "
          f"{thresholds.max_character_error_rate}, similarity ≥ {thresholds.min_speaker_similarity})",
          ["reference", "lang", "passed in 1 round", "passed later", "missed"], rows)


def bench_seed() -> None:
    from emodub.pipeline import synthesize_job

    job = load_job(ROOT / "examples" / "seed_job.yaml")
    synthesis, report = synthesize_job(job)
    heard = report.verification["intelligibility"] if report.verification else None
    table("The seed's YAML job", ["text", "voice", "heard", "CER", "rounds"],
          [[job.text, report.applied["base_voice"], heard and heard["heard"], heard and heard["cer"],
            len(report.verification["rounds"]) if report.verification else 0]])


def bench_threads() -> None:
    """GE2E embeddings with 1 and 2 torch threads while every core is kept busy by another process."""
    import torch

    clip = synthesize_base("flite-slt", LINES["en"][0])
    speaker_embedding(clip)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    timings: dict[int, list[float]] = {1: [], 2: []}
    try:
        for repeat in range(6):
            for threads in ((1, 2) if repeat % 2 == 0 else (2, 1)):  # alternate the order: no warm-up bias
                torch.set_num_threads(threads)
                started = time.perf_counter()
                speaker_embedding(Audio(clip.samples + np.float32(1e-7 * (repeat * 3 + threads)), clip.sample_rate_hz))
                timings[threads].append(time.perf_counter() - started)
    finally:
        for process in busy:
            process.kill()
        torch.set_num_threads(1)
    table(f"One GE2E embedding of a {clip.duration_s:.1f}-s clip while {len(busy)} other processes keep every core busy",
          ["torch threads", "median s", "max s"], [[t, round(float(np.median(v)), 3), round(float(max(v)), 3)] for t, v in timings.items()])


def main() -> None:
    limit_threads()
    parts = set(sys.argv[1:]) or {"lines", "shares", "emotions", "rounds", "seed", "threads"}
    print(f"# intelligibility bench — ear: {EAR.name if EAR else 'none'}; threads per pool: {limit_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        references = human_references(HUMAN_CACHE)
        references.update(synthetic_references(Path(tmp)))
        if "lines" in parts:
            bench_lines(references)
        if "shares" in parts:
            bench_shares(references)
        if "emotions" in parts:
            bench_emotions(references)
        if "rounds" in parts:
            bench_rounds(references)
        if "seed" in parts:
            bench_seed()
        if "threads" in parts:
            bench_threads()


if __name__ == "__main__":
    main()
