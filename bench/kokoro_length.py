"""Kokoro's length, near enough, before rendering: what the dub plans with instead of a free-length render.

    EMODUB_THREADS=2 .venv/bin/python bench/kokoro_length.py

English and Mandarin lines in blends of the five style packs: the predicted length
(:func:`kokoro.predicted_length_s`) against the rendered one at random speeds (a line within the
engine's 3 % tolerance is rendered once, the others twice), how near :func:`kokoro.speed_for_length`
brings the prediction to targets at ratio 0.75–1.25, and the seconds the predictor and a render take.
"""

from __future__ import annotations

import time

import numpy as np

from emodub.engines.builtin import kokoro, neural_length

LINES = {"en": ["Yes.", "No!", "Okay then.", "Fine, go ahead.", "I really do not think so.", "Wait, you did all of this for me?",
                "We could try that again tomorrow.", "Stop lying to me, I know what you did.", "Absolutely not, and I mean it.",
                "I told you already, the meeting starts at nine.", "Nobody has called back about the order since Monday.",
                "If the train is late again we will miss the whole first half of the show."],
         "zh": ["好的。", "我们明天再试一次吧。", "这件事情，我已经跟你说过很多遍了。", "如果火车又晚点，我们就会错过演出的前半场。"]}


def main() -> None:
    rng = np.random.default_rng(7)
    misses, rests, predict_s, render_s, rendered_s = [], [], 0.0, 0.0, 0.0
    for language, lines in LINES.items():
        for line in lines:
            phones = kokoro.phonemes(line, language)
            first, second = rng.choice(kokoro.PACKS, 2, replace=False)
            style = kokoro.KokoroStyle({str(first): 1.0, str(second): float(rng.random())}).tensor()
            speed = float(rng.uniform(0.85, 1.3))
            started = time.perf_counter()
            predicted = kokoro.predicted_length_s(phones, style, speed=speed)
            predict_s += time.perf_counter() - started
            started = time.perf_counter()
            audio = kokoro.synthesize_phonemes(phones, style, speed=speed)
            render_s += time.perf_counter() - started
            rendered_s += audio.duration_s
            misses.append(abs(audio.duration_s - predicted) / audio.duration_s)
            for ratio in (0.75, 0.9, 1.1, 1.25):
                target = ratio * predicted
                chosen = kokoro.speed_for_length(phones, style, target, start_speed=speed)
                rests.append(abs(kokoro.predicted_length_s(phones, style, speed=chosen) - target) / target)
    n = len(misses)
    print(f"\n## Kokoro lengths from the duration predictor ({n} lines, {len(rests)} targets)\n")
    within = float(np.mean(np.array(misses) <= neural_length.SPEED_TOLERANCE))
    print("| predicted vs rendered: median / 90th pct / worst | rendered once (within 3 %) | speed_for_length's miss of the target, "
          "by the predictor: median / worst | predictor s a line | render s a line (RTF) |")
    print("|---|---|---|---|---|")
    print(f"| {np.median(misses) * 100:.1f} % / {np.quantile(misses, 0.9) * 100:.1f} % / {max(misses) * 100:.1f} % | {within * 100:.0f} % | "
          f"{np.median(rests) * 100:.1f} % / {max(rests) * 100:.1f} % | {predict_s / n:.3f} | {render_s / n:.3f} ({render_s / rendered_s:.2f}) |")


if __name__ == "__main__":
    main()
