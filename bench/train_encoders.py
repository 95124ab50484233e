"""Measure GRL disentanglement on a generated corpus: held-out accuracy and leakage with and without the GRL.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/train_encoders.py [EPOCHS] [LAMBDA] [MEL_WARP]

Corpus: 4 base voices (flite slt/awb/rms/kal16) × 4 emotions (happy, angry, sad, calm) × 12
lines, rendered with the builtin engine's emotion rules (``emodub.synthetic.make_emotion_corpus``);
30 % held out per (speaker, emotion); four seeds.  Two more voices (joe, espeak-en) say the same
lines and are left out of training: the emotion heads are scored on them too (unseen speakers).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emodub.synthetic import GRL_CORPUS_EMOTIONS, GRL_CORPUS_VOICES, make_emotion_corpus
from emodub.train import read_corpus, train_and_report

KEYS = ("emotion_accuracy", "speaker_accuracy", "emotion_leakage", "speaker_leakage", "unseen_speaker_emotion_accuracy")
UNSEEN_VOICES = ("joe", "espeak-en")


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    grl_lambda = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    mel_warp = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        started = time.perf_counter()
        make_emotion_corpus(folder / "corpus", voices=GRL_CORPUS_VOICES + UNSEEN_VOICES, emotions=GRL_CORPUS_EMOTIONS)
        clips = read_corpus(folder / "corpus")
        print(f"# GRL bench: {len(clips)} clips made in {time.perf_counter() - started:.1f} s; "
              f"epochs {epochs}, λ {grl_lambda}, mel warp ±{mel_warp}\n")
        print("| seed | run | " + " | ".join(KEYS) + " | seconds |\n|" + "---|" * (len(KEYS) + 3))
        results: dict[str, list[list[float]]] = {"without_grl": [], "with_grl": []}
        chance = None
        for seed in range(4):
            started = time.perf_counter()
            report = train_and_report(clips, folder / "out", epochs=epochs, grl_lambda=grl_lambda, seed=seed,
                                      held_out_speakers=UNSEEN_VOICES, mel_warp=mel_warp)
            seconds = time.perf_counter() - started
            chance = (report["with_grl"]["emotion_chance"], report["with_grl"]["speaker_chance"])
            for key in results:
                results[key].append([report[key][k] for k in KEYS])
                print(f"| {seed} | {key} | " + " | ".join(f"{report[key][k]:.3f}" for k in KEYS) + f" | {seconds / 2:.1f} |")
        print()
        for key, rows in results.items():
            print(f"mean {key}: " + ", ".join(f"{k} {v:.3f}" for k, v in zip(KEYS, np.mean(rows, axis=0))))
        print(f"chance: emotion {chance[0]:.3f}, speaker {chance[1]:.3f}")


if __name__ == "__main__":
    main()
