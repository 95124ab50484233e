"""Measure emotion recognition: FER accuracy, SER accuracy, fused agreement on synthetic clips, speed.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/recognition.py [fer] [ser] [fused] [speed]

Material: a real photo that ships with scikit-image (``skimage.data.astronaut()``, NASA, public
domain: Eileen Collins smiling — labelled *happy* by us), drawn faces from
``emodub.synthetic`` at several sizes, brightness and in-plane rotations, and emotional speech
from the builtin engine (three base voices).  The SER figures are on synthetic speech whose
prosody follows the same literature the acoustic model uses, so they show that the pipeline
works, not how it does on actors; train on RAVDESS/CREMA-D with ``emodub train-ser`` for that.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("EMODUB_CACHE_DIR", tempfile.mkdtemp(prefix="emodub-bench-"))

from emodub.audio import Audio, load_audio  # noqa: E402
from emodub.emotion import face as fer  # noqa: E402
from emodub.emotion.analysis import analyze_media  # noqa: E402
from emodub.emotion.space import EMOTION_NAMES, EmotionVector  # noqa: E402
from emodub.emotion.speech import CUE_NAMES, AcousticSER, measure_cues  # noqa: E402
from emodub.engines.base import SynthesisRequest, get_engine  # noqa: E402
from emodub.synthetic import DRAWN_EXPRESSIONS, expression_face, write_clip  # noqa: E402
from tables import table  # noqa: E402  (bench/tables.py)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "examples" / "voice_samples" / "character_A.wav"
LINES = {
    "happy": "What a wonderful day, I love it here!",
    "angry": "Get out of my house and never come back!",
    "sad": "I miss her so much, everything feels empty now.",
    "afraid": "Did you hear that? Something is moving outside.",
    "disgusted": "That smell is revolting, take it away from me.",
    "melancholic": "Those summers by the lake are long gone now.",
    "surprised": "You are here? I had no idea you were coming!",
    "calm": "The meeting starts at ten, in the usual room.",
}
BASE_VOICES = ("flite-slt", "joe", "flite-awb")
FER_NAME = {"happy": "happy", "sad": "sad", "surprised": "surprise", "angry": "angry", "calm": "neutral"}


def _classify(image: np.ndarray) -> str | None:
    model = fer.default_model()
    boxes = model.detect(image)
    return fer.FER_CLASSES[int(np.argmax(model.classify(image, boxes[0])))] if boxes else None


def bench_fer() -> None:
    import cv2
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    print(f"\nreal photo (skimage astronaut, labelled happy): read as {_classify(photo)}")
    rows = []
    for expression in DRAWN_EXPRESSIONS:
        detected = right = total = 0
        for size in (128, 256, 384):
            for angle in (-8, 0, 8):
                for gain in (0.8, 1.0, 1.2):
                    image = expression_face(expression, size)
                    rotation = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
                    image = cv2.warpAffine(image, rotation, (size, size), borderValue=90)
                    image = np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
                    top = _classify(image)
                    total += 1
                    detected += top is not None
                    right += top == FER_NAME[expression]
        rows.append([expression, total, detected / total, right / total])
    table("FER on drawn faces (3 sizes × 3 rotations × 3 brightness)", ["expression", "images", "face found", "accuracy"], rows)
    overall = np.mean([r[3] for r in rows])
    print(f"\nmean accuracy over drawn expressions: {overall:.2f}")


def _render(reference: Audio) -> dict[tuple[str, str], Audio]:
    engine = get_engine("builtin")
    return {(voice, name): engine.synthesize(SynthesisRequest(text=LINES[name], speaker_reference=reference, base_voice=voice,
                                                              emotion=EmotionVector.preset(name))).audio
            for voice in BASE_VOICES for name in EMOTION_NAMES}


def bench_ser(reference: Audio) -> None:
    rendered = _render(reference)
    ser = AcousticSER()
    rows, right, arousal_right = [], 0, 0
    confusion: dict[str, list[str]] = {name: [] for name in EMOTION_NAMES}
    for (_voice, name), audio in rendered.items():
        result = ser.predict(audio)
        guess = result.vector.dominant()
        confusion[name].append(guess or "-")
        right += guess == name
        want = EmotionVector.preset(name).arousal_valence()[0]
        arousal_right += np.sign(result.vector.arousal_valence()[0]) == np.sign(want)
    for name in EMOTION_NAMES:
        rows.append([name, ", ".join(confusion[name]), sum(g == name for g in confusion[name])])
    table(f"Acoustic SER on builtin-engine speech ({', '.join(BASE_VOICES)}), one line per emotion",
          ["rendered", "recognised as", "right"], rows)
    n = len(rendered)
    print(f"\ntop-1 accuracy {right}/{n} = {right / n:.2f} (chance 0.125); arousal sign right {arousal_right}/{n} = {arousal_right / n:.2f}")
    calm = [measure_cues(rendered[(voice, "calm")]) for voice in BASE_VOICES]
    print("\ncalm cue statistics (mean ± sd over the three voices; NEUTRAL_NORMS come from these):")
    for cue in CUE_NAMES:
        values = [c[cue] for c in calm]
        print(f"  {cue:<20} {np.mean(values):8.2f} ± {np.std(values):.2f}")


def bench_fused(reference: Audio, tmp: Path) -> None:
    engine = get_engine("builtin")
    rows, agree = [], 0
    for expression in DRAWN_EXPRESSIONS:
        audio = engine.synthesize(SynthesisRequest(text=LINES[expression], speaker_reference=reference, base_voice="joe",
                                                   emotion=EmotionVector.preset(expression))).audio.resampled(16000)
        silence = np.zeros(8000, np.float32)
        track = Audio(np.concatenate([silence, audio.samples, silence]), 16000)
        clip = write_clip(tmp / f"{expression}.mp4", [(track.duration_s, expression_face(expression))], track)
        result = analyze_media(clip)
        overall = result.overall()
        face = result.segments[0].face.vector.dominant() if result.segments[0].face else "-"
        voice = result.segments[0].voice.vector.dominant() if result.segments[0].voice else "-"
        fused = overall.dominant() if overall else "-"
        agree += fused == expression
        rows.append([expression, face, voice, fused, "✓" if fused == expression else "✗"])
    table("Fused face + voice on synthetic clips (drawn face + builtin speech, same emotion)",
          ["input", "face", "voice", "fused", "agrees"], rows)
    print(f"\nfused agreement {agree}/{len(rows)}")


def bench_speed(reference: Audio, tmp: Path) -> None:
    engine = get_engine("builtin")
    parts, faces = [], []
    while sum(len(p) for p in parts) < 60 * 16000:
        for name in DRAWN_EXPRESSIONS:
            audio = engine.synthesize(SynthesisRequest(text=LINES[name], speaker_reference=reference, base_voice="flite-slt",
                                                       emotion=EmotionVector.preset(name))).audio.resampled(16000)
            parts += [audio.samples, np.zeros(16000, np.float32)]
            faces.append((audio.duration_s + 1.0, expression_face(name)))
    track = Audio(np.concatenate(parts)[:60 * 16000], 16000)
    clip = write_clip(tmp / "sixty.mp4", faces, track, size=(640, 360))
    started = time.perf_counter()
    result = analyze_media(clip)
    seconds = time.perf_counter() - started
    print(f"\n## Speed (60-s 25-fps 640×360 clip, default {result.frame_rate_hz:g} frames/s analysed, one core)\n")
    print(f"analysed in {seconds:.1f} s ({result.duration_s / seconds:.1f}× real time): {result.frames_analyzed} frames "
          f"({result.frames_analyzed / seconds:.0f}/s incl. decoding), {len(result.segments)} speech segments; target < 30 s")


def main() -> None:
    parts = set(sys.argv[1:]) or {"fer", "ser", "fused", "speed"}
    reference = load_audio(REFERENCE)
    print(f"# recognition bench — OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if "fer" in parts:
            bench_fer()
        if "ser" in parts:
            bench_ser(reference)
        if "fused" in parts:
            bench_fused(reference, tmp)
        if "speed" in parts:
            bench_speed(reference, tmp)


if __name__ == "__main__":
    main()
