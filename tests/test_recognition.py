"""Emotion recognition: media reading, FER on drawn faces, SER cues, descriptions, analyze and train-ser."""

import json

import numpy as np
import pytest

from emodub import media
from emodub.audio import Audio, save_audio
from emodub.emotion import face as fer
from emodub.emotion.analysis import analyze_media, fuse_segment
from emodub.emotion.describe import QUALITY_EN, describe_en, describe_zh
from emodub.emotion.space import EMOTION_NAMES, EmotionVector, VoiceQualities
from emodub.emotion.speech import AcousticSER, TrainedSER, measure_cues
from emodub.emotion.text import text_to_emotion
from emodub.engines.base import SynthesisRequest, get_engine
from emodub.errors import InputError
from emodub.synthetic import expression_face, write_clip
from test_cli import emodub

SILENCE_S = 0.5


def _speak(reference, text, emotion):
    request = SynthesisRequest(text=text, speaker_reference=reference, base_voice="flite-slt",
                               emotion=EmotionVector.preset(emotion))
    return get_engine("builtin").synthesize(request).audio.resampled(16000)


@pytest.fixture(scope="session")
def speech(reference):
    return {
        "happy": _speak(reference, "What a wonderful day, I love it here!", "happy"),
        "sad": _speak(reference, "I miss her so much, everything feels empty now.", "sad"),
        "angry": _speak(reference, "Get out of my house and never come back!", "angry"),
    }


@pytest.fixture(scope="session")
def clip(tmp_path_factory, speech):
    """A two-shot clip: a happy face saying a happy line, then a sad face saying a sad line."""
    silence = np.zeros(int(SILENCE_S * 16000), np.float32)
    track, faces = [], []
    for emotion in ("happy", "sad"):
        track += [silence, speech[emotion].samples, silence]
        faces.append((speech[emotion].duration_s + 2 * SILENCE_S, expression_face(emotion)))
    path = tmp_path_factory.mktemp("clip") / "two_shots.mp4"
    return write_clip(path, faces, Audio(np.concatenate(track), 16000))


# -- media -----------------------------------------------------------------------------------------
def test_probe_reports_streams(clip):
    info = media.probe(clip)
    assert info.has_video and info.has_audio and info.fps == pytest.approx(25.0)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (320, 240, "h264", "aac")
    assert media.extract_audio(clip).duration_s == pytest.approx(info.duration_s, abs=0.1)


@pytest.mark.parametrize("name, content, match", [
    ("clip.mp4", b"not a video", "cannot be read"),
    ("clip.xyz", b"whatever", "unsupported format"),
    ("empty.mkv", b"", "cannot be read"),
])
def test_bad_media_is_an_input_error(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        media.probe(path)


def test_video_without_audio_refuses_audio_extraction(tmp_path):
    path = write_clip(tmp_path / "mute.mp4", [(1.0, expression_face("calm"))], None)
    assert not media.probe(path).has_audio
    with pytest.raises(InputError, match="no audio stream"):
        media.extract_audio(path)


def test_frames_are_sampled_at_the_requested_rate(clip):
    frames = list(media.sample_frames(clip, 4.0))
    assert len(frames) == pytest.approx(media.probe(clip).duration_s * 4, abs=2)
    assert frames[1][0] == pytest.approx(0.25) and frames[0][1].dtype == np.uint8


# -- FER -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expression, fer_class", [("happy", "happy"), ("sad", "sad"), ("surprised", "surprise"), ("calm", "neutral")])
def test_drawn_expressions_are_recognised(expression, fer_class):
    model = fer.default_model()
    image = expression_face(expression)
    boxes = model.detect(image)
    assert len(boxes) == 1
    probabilities = model.classify(image, boxes[0])
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-3)
    assert fer.FER_CLASSES[int(np.argmax(probabilities))] == fer_class


@pytest.mark.parametrize("model", [fer.FaceExpressionModel, fer.FacexExpressionModel])
def test_both_face_models_read_a_real_smiling_photo_as_happy(model):
    import cv2
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)  # Eileen Collins, NASA, public domain
    reader = model()
    boxes = reader.detect(photo)
    probabilities = reader.classify(photo, boxes[0])
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-3) and len(probabilities) == len(fer.FER_CLASSES)
    assert fer.FER_CLASSES[int(np.argmax(probabilities))] == "happy"


def test_no_face_in_a_blank_frame():
    assert fer.default_model().detect(np.full((240, 320), 128, np.uint8)) == []


def test_fer_classes_map_onto_our_dimensions_one_to_one():
    for index, name in enumerate(fer.FER_CLASSES):
        one_hot = np.eye(len(fer.FER_CLASSES))[index]
        assert fer.probabilities_to_vector(one_hot).dominant() == fer.FER_TO_EMOTION[name]


def test_main_face_follows_the_previous_one():
    big, small = fer.FaceBox(0, 0, 100, 100), fer.FaceBox(200, 0, 60, 60)
    assert fer.pick_main_face([big, small], None) == big
    assert fer.pick_main_face([big, small], fer.FaceBox(205, 5, 60, 60)) == small


# -- SER -------------------------------------------------------------------------------------------
def test_cues_are_measured_on_speech(speech):
    cues = measure_cues(speech["happy"])
    assert all(np.isfinite(v) for v in cues.values())
    assert 1.0 < cues["rate_syl_per_s"] < 8.0 and 0.0 < cues["f0_range_st"] < 24.0


def test_acoustic_ser_orders_arousal(speech):
    ser = AcousticSER()
    arousal = {name: ser.predict(audio).vector.arousal_valence()[0] for name, audio in speech.items()}
    assert arousal["angry"] > arousal["sad"] and arousal["happy"] > arousal["sad"]


def test_too_short_speech_is_refused():
    with pytest.raises(InputError, match="too short"):
        measure_cues(Audio(np.zeros(1600, np.float32), 16000))


def test_silence_gives_no_voice_reading():
    result = AcousticSER().predict(Audio(np.zeros(16000, np.float32), 16000))
    assert result.vector.is_zero and result.confidence == 0.0 and result.evidence


# -- fusion and descriptions -------------------------------------------------------------------------
@pytest.mark.parametrize("name", EMOTION_NAMES)
@pytest.mark.parametrize("weight", [0.3, 0.6, 0.9])
@pytest.mark.parametrize("describe", [describe_en, describe_zh])
def test_descriptions_read_back_to_the_same_emotion(name, weight, describe):
    description = describe(EmotionVector.preset(name, weight), VoiceQualities(tremble=1.0))
    parsed = text_to_emotion(description, use_embeddings=False)
    assert parsed.vector is not None and parsed.vector.dominant() == name
    assert parsed.qualities.tremble >= 0.5


@pytest.mark.parametrize("quality", sorted(QUALITY_EN))
def test_qualities_read_back(quality):
    qualities = VoiceQualities(**{quality: 1.0})
    for describe in (describe_en, describe_zh):
        parsed = text_to_emotion(describe(EmotionVector.preset("angry", 0.9), qualities), use_embeddings=False)
        assert getattr(parsed.qualities, quality) >= 0.5


def test_fusion_weights_and_missing_sources():
    from emodub.emotion.analysis import FaceSummary
    from emodub.emotion.speech import SpeechEmotion

    face = FaceSummary(EmotionVector.preset("happy"), 0.8, 10, 10, [0, 0, 1, 1], [])
    voice = SpeechEmotion(EmotionVector.preset("sad"), 0.8, "acoustic")
    assert fuse_segment(face, voice, 1.0, 0.0)[0].dominant() == "happy"
    assert fuse_segment(face, voice, 0.0, 1.0)[0].dominant() == "sad"
    assert fuse_segment(None, voice, 0.5, 0.5)[0].dominant() == "sad"
    assert fuse_segment(None, None, 0.5, 0.5) == (None, 0.0)
    with pytest.raises(InputError, match="both 0"):
        analyze_media("missing.mp4", face_weight=0, voice_weight=0)


# -- analyze ---------------------------------------------------------------------------------------
def test_analyze_reads_each_shot(clip):
    result = analyze_media(clip)
    assert len(result.segments) == 2
    happy, sad = result.segments
    assert happy.face.vector.dominant() == "happy" and sad.face.vector.dominant() == "sad"
    assert happy.end_s < sad.start_s
    assert not result.warnings


def test_analyze_cli_writes_json_and_plot(tmp_path, clip):
    out, plot = tmp_path / "analysis.json", tmp_path / "timeline.png"
    proc = emodub("analyze", clip, "--json", out, "--plot", plot)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    segment = data["segments"][0]
    assert {"start_s", "end_s", "face", "voice", "vector", "description", "confidence", "intensity"} <= set(segment)
    assert segment["description"]["en"] and segment["description"]["zh"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_audio_only_and_silent_video_say_what_was_not_measured(tmp_path, speech):
    wav = save_audio(speech["angry"], tmp_path / "line.wav")
    audio_only = analyze_media(wav)
    assert "no video stream: expression not measured" in audio_only.warnings
    assert audio_only.segments and all(s.voice is not None for s in audio_only.segments)

    silent = write_clip(tmp_path / "silent.mp4", [(1.5, expression_face("happy"))], Audio(np.zeros(24000, np.float32), 16000))
    result = analyze_media(silent)
    assert any("silent" in w for w in result.warnings)
    assert len(result.segments) == 1 and result.segments[0].face is not None and result.segments[0].voice is None

    faceless = write_clip(tmp_path / "faceless.mp4", [(1.5, np.full((256, 256), 90, np.uint8))], speech["sad"])
    assert "no face found in any frame: expression not measured" in analyze_media(faceless).warnings


@pytest.mark.parametrize("args, match", [
    (["missing.mp4"], "does not exist"),
    (["{clip}", "--fps", "-1"], "frame rate"),
    (["{clip}", "--face-weight", "-0.5"], "face weight"),
    (["{clip}", "--json", "out.txt"], "must end in .json"),
    (["{clip}", "--ser-model", "nowhere.json"], "does not exist"),
])
def test_analyze_bad_input_exits_2(tmp_path, clip, args, match):
    proc = emodub("analyze", *[a.format(clip=clip) for a in args], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and match in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# -- train-ser -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ravdess_corpus(tmp_path_factory, reference):
    """A tiny RAVDESS-named corpus: 5 angry and 5 sad lines from the builtin engine."""
    folder = tmp_path_factory.mktemp("corpus") / "Actor_01"
    folder.mkdir()
    lines = ["Open the door now.", "Where were you last night?", "I told you already.", "Give it back to me.", "We are leaving."]
    for code, emotion in (("05", "angry"), ("04", "sad")):
        for index, text in enumerate(lines):
            save_audio(_speak(reference, text, emotion), folder / f"03-01-{code}-01-01-{index + 1:02d}-01.wav")
    return folder.parent


def test_train_ser_saves_a_model_that_loads_and_predicts(tmp_path, ravdess_corpus, speech):
    model_path = tmp_path / "ser.json"
    proc = emodub("train-ser", ravdess_corpus, "-o", model_path)
    assert proc.returncode == 0, proc.stderr
    assert "10 clips" in proc.stdout
    model = TrainedSER.load(model_path)
    assert sorted(model.classes) == ["angry", "sad"] and model.trained_on["speakers"] == 1
    assert "z_energy_db" in model.feature_names  # the cues normalised per speaker are features
    prediction = model.predict(speech["angry"])
    assert prediction.vector.dominant() in ("angry", "sad") and 0.5 <= prediction.confidence <= 1.0
    assert emodub("analyze", save_audio(speech["sad"], tmp_path / "s.wav"), "--ser-model", model_path).returncode == 0


@pytest.mark.parametrize("relative, speaker", [
    ("Actor_12/03-01-05-01-02-01-12.wav", "ravdess-12"),
    ("1001_DFA_ANG_XX.wav", "crema-1001"),
    ("0011/Angry/0011_000351.wav", "0011"),
    ("anna/sad/line1.wav", "anna"),
    ("sad/line1.wav", None),
])
def test_corpus_speakers_for_per_speaker_normalisation(tmp_path, relative, speaker):
    from emodub.emotion.ser_training import speaker_of

    assert speaker_of(tmp_path / relative, tmp_path) == speaker


def test_train_ser_bad_input(tmp_path, ravdess_corpus):
    assert "not known" in emodub("train-ser", ravdess_corpus, "-o", tmp_path / "m.json", "--format", "iemocap").stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = emodub("train-ser", empty, "-o", tmp_path / "m.json")
    assert proc.returncode == 2 and "no labelled audio" in proc.stderr
    assert not (tmp_path / "m.json").exists()
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{}")
    with pytest.raises(InputError, match="not an emodub SER model"):
        TrainedSER.load(bogus)


def test_corpus_readers_label_known_layouts(tmp_path):
    from emodub.emotion.ser_training import read_corpus

    tone = Audio(np.zeros(1600, np.float32), 16000)
    for relative in ("1001_DFA_ANG_XX.wav", "0011/Surprise/0011_000351.wav", "悲伤/a.wav", "misc/unknown.wav"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        save_audio(tone, tmp_path / relative)
    clips, unlabelled = read_corpus(tmp_path)
    assert sorted(c.emotion for c in clips) == ["angry", "sad", "surprised"]
    assert [p.name for p in unlabelled] == ["unknown.wav"]

