"""The watermark: found after the usual trips, never on people, and what it costs the ear, the judges and the clock.

    .venv/bin/python bench/watermark.py

Marked outputs: the builtin engine's clones of real people (the alsa-utils voice, the two pyannote
sample speakers; bench/human_references.py) saying four new English lines and two Mandarin ones,
marked as `emodub say` marks them.  Each goes through every trip with ffmpeg and is read back by
`emodub.watermark.detect_file`, as `emodub detect` reads it.  Unmarked: the people's own recordings
(and the whole 30-s pyannote sample), every base voice raw, the same clones before marking, and
music; each as written and after MP3.  Cost: DistillMOS and DNSMOS of each clone before and after
marking, the ear's error rate and GE2E similarity to the reference before and after, and the time
to mark against the time to synthesise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("EMODUB_CACHE_DIR", tempfile.mkdtemp(prefix="emodub-bench-watermark-"))

from emodub import watermark  # noqa: E402
from emodub.audio import Audio, save_audio  # noqa: E402
from emodub.ear import default_ear, error_rate  # noqa: E402
from emodub.engines.base import SynthesisRequest  # noqa: E402
from emodub.engines.builtin.base_voice import synthesize_base, voices_for  # noqa: E402
from emodub.engines.builtin.engine import BuiltinEngine  # noqa: E402
from emodub.naturalness import DNSMOS, default_judge  # noqa: E402
from emodub.synthetic import music_bed  # noqa: E402
from emodub.voice import speaker_similarity  # noqa: E402
from human_references import human_references, pyannote_sample  # noqa: E402  (bench/human_references.py)
from tables import table  # noqa: E402  (bench/tables.py)

LINES = {"en": ("Please leave the parcel at the door, I will collect it tonight.",
                "The museum opens at nine, but the queue starts much earlier.",
                "Could you tell me where the nearest pharmacy is?",
                "We walked along the river until the sun went down."),
         "zh": ("请把包裹放在门口，我今晚去取。", "我们沿着河边一直走到太阳下山。")}
TRIPS: dict[str, list[str] | None] = {  # ffmpeg arguments (None: as written; "bed": mixed in Python)
    "WAV as written": None,
    "AAC 128 kb/s in MP4": ["-c:a", "aac", "-b:a", "128k", "{out}.m4a"],
    "MP3 128 kb/s": ["-c:a", "libmp3lame", "-b:a", "128k", "{out}.mp3"],
    "resampled to 16 kHz": ["-ar", "16000", "{out}.wav"],
    "10 % faster (atempo 1.1)": ["-af", "atempo=1.1", "{out}.wav"],
    "10 % slower (atempo 0.9)": ["-af", "atempo=0.9", "{out}.wav"],
}
BEDS_DB = (-6.0, -12.0, -20.0)  # music bed level against the speech (−20: emodub's own ducking under a new line)


def _ffmpeg_copy(path: Path, arguments: list[str], folder: Path, name: str) -> Path:
    out = str(folder / name)
    arguments = [a.replace("{out}", out) for a in arguments]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), *arguments], check=True)
    return Path(arguments[-1])


def _read(path: Path) -> watermark.Detection:
    return watermark.detect_file(watermark.check_detectable(path)).detection


def _with_bed(line: Audio, level_db: float) -> Audio:
    bed = music_bed(line.duration_s + 1.0, line.sample_rate_hz).samples[: len(line.samples)]
    speech = line.samples[np.abs(line.samples) > 0.01]
    gain = float(np.sqrt(np.mean(speech**2))) / max(float(np.sqrt(np.mean(bed**2))), 1e-9) * 10 ** (level_db / 20)
    return Audio(np.clip(line.samples + gain * bed, -1, 1).astype(np.float32), line.sample_rate_hz)


def clones(references: dict[str, Audio]) -> list[dict]:
    """Every reference × every line: the unmarked and the marked clone, the synthesis and the marking time."""
    engine = BuiltinEngine()
    made = []
    for name, reference in references.items():
        for language, texts in LINES.items():
            engine.plan(SynthesisRequest(text=texts[0], speaker_reference=reference, language=language))  # the voice search, untimed
            for text in texts:
                t0 = time.perf_counter()
                plain = engine.synthesize(SynthesisRequest(text=text, speaker_reference=reference, language=language)).audio
                synth_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                marked = watermark.mark(plain)
                made.append({"who": name, "reference": reference, "language": language, "text": text, "plain": plain, "marked": marked,
                             "synth_s": synth_s, "mark_s": time.perf_counter() - t0})
                print(f"{name} {language}: {text[:30]}… synth {synth_s:.2f} s, mark {made[-1]['mark_s']:.3f} s", file=sys.stderr)
    return made


def bench_trips(made: list[dict], folder: Path) -> None:
    rows = []
    for trip, arguments in TRIPS.items():
        scores = []
        for number, item in enumerate(made):
            path = save_audio(item["marked"], folder / f"marked{number}.wav")
            copy = path if arguments is None else _ffmpeg_copy(path, arguments, folder, f"trip{number}")
            scores.append(_read(copy))
        rows.append([trip, len(scores), np.mean([s.found for s in scores]), float(np.mean([s.confidence for s in scores])),
                     float(np.min([s.confidence for s in scores]))])
    for level in BEDS_DB:
        scores = [watermark.detect(_with_bed(item["marked"], level)) for item in made]
        rows.append([f"under a music bed at {level:+.0f} dB", len(scores), np.mean([s.found for s in scores]),
                     float(np.mean([s.confidence for s in scores])), float(np.min([s.confidence for s in scores]))])
    table("Marked clones found after each trip (target ≥ 0.95)", ["trip", "lines", "found", "mean confidence", "lowest"], rows)


def bench_false_positives(made: list[dict], references: dict[str, Audio], cache: Path, folder: Path) -> None:
    unmarked: dict[str, list[Audio]] = {f"person: {name}": [audio] for name, audio in references.items()}
    try:
        unmarked["person: pyannote sample, all 30 s (two people)"] = [pyannote_sample(cache)[0]]
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"pyannote sample not available: {error}", file=sys.stderr)
    for language, texts in LINES.items():
        for voice in voices_for(language):
            unmarked[f"base voice {voice} raw ({language})"] = [synthesize_base(voice, t) for t in texts[:2]]
    unmarked["the clones before marking"] = [item["plain"] for item in made]
    unmarked["music bed, 20 s"] = [music_bed(20.0, 48000)]
    for level in BEDS_DB:
        unmarked[f"the unmarked clones under music at {level:+.0f} dB"] = [_with_bed(item["plain"], level) for item in made]
    rows, total, flagged = [], 0, 0
    for what, clips in unmarked.items():
        written = [_read(save_audio(c, folder / f"plain{n}.wav")) for n, c in enumerate(clips) if c.duration_s >= watermark.MIN_DETECT_S]
        mp3 = [_read(_ffmpeg_copy(folder / f"plain{n}.wav", TRIPS["MP3 128 kb/s"] or [], folder, f"plain{n}"))
               for n in range(len(written))]
        found = sum(d.found for d in written + mp3)
        total, flagged = total + len(written + mp3), flagged + found
        rows.append([what, len(written), found, float(max(d.confidence for d in written + mp3))])
    table("Unmarked audio reported as marked (as written and after MP3; target 0)", ["audio", "clips", "false positives",
                                                                                     "highest confidence"], rows)
    print(f"\nfalse positives: {flagged} of {total} readings")


def bench_cost(made: list[dict]) -> None:
    judges = [j for j in (default_judge(), _dnsmos()) if j is not None]
    ear = default_ear()
    rows = []
    for language in LINES:
        items = [m for m in made if m["language"] == language]
        row: list[object] = [language, len(items)]
        for judge in judges:
            before = np.mean(judge.score_many([m["plain"] for m in items]))
            after = np.mean(judge.score_many([m["marked"] for m in items]))
            row += [float(before), float(after), float(after - before)]
        if ear is not None:
            errors = [(error_rate(m["text"], ear.transcribe(m["plain"], language), language),
                       error_rate(m["text"], ear.transcribe(m["marked"], language), language)) for m in items]
            row += [float(np.mean([a for a, _ in errors])), float(np.mean([b for _, b in errors]))]
        similarity = [(speaker_similarity(m["plain"], m["reference"]), speaker_similarity(m["marked"], m["reference"])) for m in items]
        row += [float(np.mean([a for a, _ in similarity])), float(np.mean([b for _, b in similarity])),
                float(sum(m["mark_s"] for m in items) / sum(m["synth_s"] for m in items))]
        rows.append(row)
    header = ["lang", "lines", *[f"{j.name} {w}" for j in judges for w in ("before", "after", "Δ")], "error before", "error after",
              "GE2E similarity before", "after", "mark time / synthesis time"]
    table("What the mark costs (targets: Δ MOS ≥ −0.05, error unchanged, ≤ 5 % of the synthesis time)", header, rows)


def _dnsmos():
    try:
        return DNSMOS()
    except Exception as error:  # noqa: BLE001 - the second judge is optional here
        print(f"DNSMOS not available ({error})", file=sys.stderr)
        return None


def main() -> None:
    import torch

    torch.set_num_threads(2)
    cache = Path(os.environ["EMODUB_CACHE_DIR"])
    references = human_references(cache)
    t0 = time.perf_counter()
    watermark.load_watermarker()
    print(f"watermarker loaded in {time.perf_counter() - t0:.2f} s")
    made = clones(references)
    with tempfile.TemporaryDirectory() as tmp:
        bench_trips(made, Path(tmp))
        bench_false_positives(made, references, cache, Path(tmp))
    bench_cost(made)


if __name__ == "__main__":
    main()
