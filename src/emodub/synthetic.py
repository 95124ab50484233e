"""Material generated offline for tests, benchmarks and the demo: drawn faces and video clips.

A schematic face (hair, skin, eyes, brows, nose, mouth) is drawn with OpenCV; the brows and
mouth carry the expression.  OpenCV's Haar cascade finds these faces and the FER2013 model
reads happy, sad, surprised and neutral from them (``bench/recognition.py`` measures how
often); angry is drawn but the model mostly reads it as neutral.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from emodub.audio import Audio, load_audio, save_audio
from emodub.emotion.space import EmotionVector, VoiceQualities
from emodub.engines.base import SynthesisRequest, get_engine
from emodub.engines.builtin.base_voice import synthesize_base
from emodub.errors import InputError
from emodub.media import tool_path
from emodub.subtitles import write_srt

DRAWN_EXPRESSIONS = ("happy", "sad", "surprised", "angry", "calm")
CHORDS_HZ = ((220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (196.0, 246.9, 329.6))  # A, G, F, G/E


def music_bed(duration_s: float, rate_hz: int = 48000, *, seed: int = 0) -> Audio:
    """A music-like bed at about −20 dBFS: a chord each second (harmonics, decaying), a bass line and a brushed beat."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    out = np.zeros(n)
    for bar in range(int(np.ceil(duration_s))):
        start, chord = bar * rate_hz, CHORDS_HZ[bar % len(CHORDS_HZ)]
        local = t[start:start + rate_hz] - bar
        decay = np.exp(-2.5 * local)
        for f0 in chord:
            out[start:start + rate_hz] += sum(np.sin(2 * np.pi * f0 * k * local) / k**1.5 for k in range(1, 6)) * decay
        out[start:start + rate_hz] += 1.5 * np.sin(2 * np.pi * chord[0] / 2 * local) * decay
    beat = np.zeros(n)
    for hit in range(0, n, rate_hz // 2):
        length = min(int(0.06 * rate_hz), n - hit)
        beat[hit:hit + length] += rng.standard_normal(length) * np.exp(-np.arange(length) / (0.01 * rate_hz))
    out += 0.8 * beat
    out *= 0.1 / max(np.sqrt(np.mean(out**2)), 1e-9)
    return Audio(out.astype(np.float32), rate_hz)


def expression_face(expression: str, size: int = 256) -> np.ndarray:
    """An 8-bit gray ``size``×``size`` image of a schematic face showing ``expression``."""
    import cv2

    if expression not in DRAWN_EXPRESSIONS:
        raise InputError(f"drawn expression {expression!r} is not available; allowed: {', '.join(DRAWN_EXPRESSIONS)}")

    def px(fraction: float) -> int:
        return int(size * fraction)

    img = np.full((size, size), 90, np.uint8)
    c = size // 2
    cv2.ellipse(img, (c, c - px(0.06)), (px(0.36), px(0.44)), 0, 0, 360, 35, -1)  # hair
    cv2.ellipse(img, (c, c + px(0.03)), (px(0.30), px(0.40)), 0, 0, 360, 185, -1)  # face
    cv2.ellipse(img, (c, c + px(0.08)), (px(0.22), px(0.20)), 0, 0, 360, 200, -1)  # lit cheeks
    eye_y, eye_dx = c - px(0.08), px(0.13)
    for side in (-1, 1):
        eye_h = px(0.06) if expression == "surprised" else px(0.035)
        cv2.ellipse(img, (c + side * eye_dx, eye_y), (px(0.06), eye_h), 0, 0, 360, 40, -1)
        outer, inner = c + side * px(0.2), c + side * px(0.05)
        if expression == "angry":  # brows pulled down and together
            cv2.line(img, (outer, eye_y - px(0.12)), (c + side * px(0.03), eye_y - px(0.02)), 20, max(2, px(0.04)))
        elif expression == "sad":  # inner ends raised
            cv2.line(img, (outer, eye_y - px(0.05)), (inner, eye_y - px(0.10)), 30, max(2, px(0.023)))
        elif expression == "surprised":  # raised high
            cv2.line(img, (outer, eye_y - px(0.13)), (inner, eye_y - px(0.13)), 30, max(2, px(0.023)))
        else:
            cv2.line(img, (outer, eye_y - px(0.08)), (inner, eye_y - px(0.08)), 30, max(2, px(0.023)))
    cv2.line(img, (c, c - 5), (c - px(0.03), c + px(0.08)), 120, max(1, px(0.012)))  # nose
    mouth_y = c + px(0.2)
    if expression == "happy":
        cv2.ellipse(img, (c, mouth_y - px(0.08)), (px(0.13), px(0.07)), 0, 0, 180, 40, -1)
    elif expression == "sad":
        cv2.ellipse(img, (c, mouth_y + px(0.04)), (px(0.11), px(0.05)), 0, 180, 360, 40, max(2, px(0.02)))
    elif expression == "surprised":
        cv2.ellipse(img, (c, mouth_y), (px(0.05), px(0.07)), 0, 0, 360, 30, -1)
    elif expression == "angry":
        cv2.ellipse(img, (c, mouth_y), (px(0.1), px(0.035)), 0, 0, 360, 30, -1)
        cv2.line(img, (c - px(0.085), mouth_y), (c + px(0.085), mouth_y), 230, max(1, px(0.012)))
    else:
        cv2.line(img, (c - px(0.12), mouth_y), (c + px(0.12), mouth_y), 60, max(1, px(0.016)))
    return cv2.GaussianBlur(img, (5, 5), 0)


def write_clip(path: str | Path, faces: list[tuple[float, np.ndarray]], audio: Audio | None, *, fps: int = 25,
               size: tuple[int, int] = (320, 240)) -> Path:
    """An H.264/AAC MP4 showing each (seconds, gray face image) in turn, with ``audio`` as its track.

    The face sits centred on a gray background of ``size`` (width, height).
    """
    import cv2

    path = Path(path)
    width, height = size
    with tempfile.TemporaryDirectory() as tmp:
        frames = bytearray()
        for seconds, face in faces:
            canvas = np.full((height, width), 90, np.uint8)
            side = min(height, width)
            scaled = cv2.resize(face, (side, side))
            x0 = (width - side) // 2
            canvas[(height - side) // 2:(height - side) // 2 + side, x0:x0 + side] = scaled
            frames += canvas.tobytes() * int(round(seconds * fps))
        command = [tool_path("ffmpeg"), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{width}x{height}",
                   "-r", str(fps), "-i", "-"]
        if audio is not None:
            wav = Path(tmp) / "track.wav"
            save_audio(audio, wav)
            command += ["-i", str(wav), "-c:a", "aac", "-b:a", "128k"]
        command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-shortest" if audio is not None else "-an",
                    str(path)]
        subprocess.run(command, input=bytes(frames), check=True, capture_output=True)
    return path


DEMO_ORIGINAL_LINE = "I can't believe it, we actually won the whole thing!"
DEMO_NEW_LINE = "Best day of my life, thank you all!"


def flite_scene(folder: str | Path, lines: list[tuple[str, str, str]], *, voice: str = "rms", name: str = "scene",
                rate_hz: int = 48000) -> tuple[Path, Path]:
    """A clip of shots, one per ``(original words, new line, drawn expression)``: flite speaking the original under a face,
    and an SRT whose cues cover each original line with its new line.  Returns (video, script)."""
    folder = Path(folder)
    lead_s, gap_s = 0.4, 0.8
    parts, faces, cues, t = [np.zeros(int(lead_s * rate_hz), np.float32)], [], [], lead_s
    for number, (original, new, expression) in enumerate(lines):
        wav = folder / f"{name}-line{number}.wav"
        subprocess.run([tool_path("flite"), "-voice", voice, "-t", original, "-o", str(wav)], check=True, capture_output=True)
        speech = load_audio(wav).resampled(rate_hz)
        cues.append((t, t + speech.duration_s, new))
        parts += [speech.samples, np.zeros(int(gap_s * rate_hz), np.float32)]
        faces.append((speech.duration_s + gap_s + (lead_s if number == 0 else 0.0), expression_face(expression)))
        t += speech.duration_s + gap_s
    video = write_clip(folder / f"{name}.mp4", faces, Audio(np.concatenate(parts), rate_hz))
    write_srt(cues, folder / f"{name}.srt")
    return video, folder / f"{name}.srt"


def make_demo_material(folder: str | Path) -> tuple[Path, Path]:
    """A short clip of a happy 'actor' (drawn face, builtin-engine speech) and an SRT with a new line.

    The actor's voice is flite's awb; the dub voice is another speaker.  Returns (video, script).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    actor_reference = folder / "actor_reference.wav"
    subprocess.run(["flite", "-voice", "awb", "-t", "Hello there. This is how I sound when I speak normally.",
                    "-o", str(actor_reference)], check=True, capture_output=True)
    speech = get_engine("builtin").synthesize(SynthesisRequest(
        text=DEMO_ORIGINAL_LINE, speaker_reference=load_audio(actor_reference), base_voice="flite-awb",
        emotion=EmotionVector.preset("happy", 0.9))).audio.resampled(48000)
    lead_s, tail_s = 0.6, 0.9
    track = Audio(np.concatenate([np.zeros(int(lead_s * 48000), np.float32), speech.samples,
                                  np.zeros(int(tail_s * 48000), np.float32)]), 48000)
    video = write_clip(folder / "original.mp4", [(track.duration_s, expression_face("happy"))], track)
    script = folder / "new_lines.srt"
    write_srt([(lead_s, lead_s + speech.duration_s, DEMO_NEW_LINE)], script)
    return video, script


CORPUS_LINES = ("Open the door now.", "Where were you last night?", "I told you already.", "Give it back to me.",
                "We are leaving at noon.", "Nobody saw it coming.", "The train was late again.", "Put the box on the table.",
                "She never called me back.", "It is raining in the city.", "Tell me what happened here.",
                "We won the game last night.")


GRL_CORPUS_VOICES = ("flite-slt", "flite-awb", "flite-rms", "flite-kal16")
GRL_CORPUS_EMOTIONS = ("happy", "angry", "sad", "calm")


def make_emotion_corpus(folder: str | Path, *, voices: tuple[str, ...] = ("flite-slt", "flite-awb", "flite-rms"),
                        emotions: tuple[str, ...] = ("happy", "angry", "sad"), lines: tuple[str, ...] = CORPUS_LINES) -> Path:
    """``folder/<voice>/<emotion>/<n>.wav``: each base voice saying each line with each emotion's prosody rules.

    Quick (no voice-profile search): base voice ► WORLD ► the builtin engine's emotion rules ► WORLD.
    """
    from emodub.engines.builtin import render, world  # heavy (pyworld): loaded only when used

    folder = Path(folder)
    for voice in voices:
        for number, line in enumerate(lines):
            features = world.analyze(synthesize_base(voice, line))
            for emotion in emotions:
                shape = render.shape_for(EmotionVector.preset(emotion), VoiceQualities())
                rendered = world.synthesize(render.apply_contours(render.apply_static(features, shape), shape))
                path = folder / voice / emotion / f"{number:02d}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                save_audio(rendered.normalized_loudness(-23.0 + shape.energy_db), path)
    return folder
