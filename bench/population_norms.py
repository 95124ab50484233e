"""Measure the population prior of the acoustic SER cues on real people, and write it with its provenance.

    .venv/bin/python bench/population_norms.py [--write]

The people: the pyannote.audio 3.3.2 sample's two speakers (their solo turns, cut by the
sample's RTTM) and the alsa-utils voice (see bench/human_references.py) — conversational or
read, calm speech.  Per person, the cues of each speech stretch (Silero VAD; cut into windows
of up to 1.5 s, ≥ 0.8 s) are measured; the prior mean of a cue is the mean over people of their medians, and its spread
is the root-mean-square over people of their own spread (MAD × 1.4826): how much one
person's calm speech varies, which is what a z-score against their own median is divided by.
``--write`` stores the result in ``src/emodub/emotion/population_norms.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from emodub.audio import Audio  # noqa: E402
from emodub.emotion.normalise import MAD_TO_SD, NORMS_FILE  # noqa: E402
from emodub.emotion.speech import CUE_NAMES, measure_cues, speech_segments  # noqa: E402
from human_references import alsa_speaker, pyannote_sample, solo_turns  # noqa: E402

CACHE = Path.home() / ".cache" / "emodub-bench"
MIN_STRETCH_S = 0.8
WINDOW_S = 1.5


def real_people() -> dict[str, list[Audio]]:
    """Speech stretches of each real person."""
    recording, turns = pyannote_sample(CACHE)
    recording = recording.resampled(16000)
    people: dict[str, list[Audio]] = {}
    for speaker, solo in solo_turns(turns).items():
        for start, end in solo:
            piece = Audio(recording.samples[int(start * 16000):int(end * 16000)], 16000)
            for a, b in speech_segments(piece):
                for t in np.arange(a, b - MIN_STRETCH_S + 1e-9, WINDOW_S):  # windows of up to 1.5 s: segment-sized pieces
                    window = piece.samples[int(t * 16000):int(min(b, t + WINDOW_S) * 16000)]
                    people.setdefault(f"pyannote sample {speaker}", []).append(Audio(window, 16000))
    alsa = alsa_speaker(CACHE).resampled(16000)
    people["alsa-utils speaker"] = [Audio(alsa.samples[int(a * 16000):int(b * 16000)], 16000)
                                    for a, b in speech_segments(alsa, min_silence_s=0.2) if b - a >= MIN_STRETCH_S * 0.75]
    return people


def main() -> None:
    people = real_people()
    medians: dict[str, list[float]] = {c: [] for c in CUE_NAMES}
    spreads: dict[str, list[float]] = {c: [] for c in CUE_NAMES}
    print("| person | stretches | " + " | ".join(CUE_NAMES) + " |\n|---|---|" + "---|" * len(CUE_NAMES))
    for person, stretches in people.items():
        rows = [measure_cues(s) for s in stretches]
        cells = []
        for cue in CUE_NAMES:
            values = np.array([r[cue] for r in rows if np.isfinite(r[cue])])
            median = float(np.median(values))
            mad = float(np.median(np.abs(values - median))) * MAD_TO_SD
            medians[cue].append(median)
            spreads[cue].append(mad)
            cells.append(f"{median:.2f} ± {mad:.2f}")
        print(f"| {person} | {len(stretches)} | " + " | ".join(cells) + " |")
    norms = {cue: {"mean": round(float(np.mean(medians[cue])), 3), "spread": round(float(np.sqrt(np.mean(np.square(spreads[cue])))), 3)}
             for cue in CUE_NAMES}
    print("\nprior: " + ", ".join(f"{c} {v['mean']:+.2f} ± {v['spread']:.2f}" for c, v in norms.items()))
    if "--write" in sys.argv:
        data = {"provenance": {"people": {p: len(s) for p, s in people.items()},
                               "recordings": ["pyannote.audio 3.3.2 wheel: pyannote/audio/sample/sample.wav (MIT), solo turns by its RTTM",
                                              "Debian alsa-utils: /usr/share/sounds/alsa/{Front,Rear,Side}_*.wav (GPL-2+)"],
                               "measured": dt.date.today().isoformat(), "command": "bench/population_norms.py --write",
                               "note": "mean: mean over people of their median; spread: RMS over people of their MAD × 1.4826; "
                                       "energy_db's mean is unused (level depends on the recording)"},
                "cues": norms}
        NORMS_FILE.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {NORMS_FILE}")


if __name__ == "__main__":
    main()
