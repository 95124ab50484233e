import json

import pytest

from emodub.emotion.space import (
    EMOTION_NAMES,
    INDEXTTS_EMOTION_BIAS,
    EmotionVector,
    VoiceQualities,
    canonical_emotion_name,
    fuse,
)
from emodub.errors import InputError


def test_order_is_indextts2s():
    assert EMOTION_NAMES == ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")


@pytest.mark.parametrize("name,dim", [
    ("happy", "happy"), ("joy", "happy"), ("高兴", "happy"), ("anger", "angry"), ("愤怒", "angry"),
    ("sad", "sad"), ("悲伤", "sad"), ("fear", "afraid"), ("害怕", "afraid"), ("disgust", "disgusted"),
    ("厌恶", "disgusted"), ("melancholy", "melancholic"), ("忧郁", "melancholic"), ("surprise", "surprised"),
    ("惊讶", "surprised"), ("neutral", "calm"), ("平静", "calm"), ("  Angry ", "angry"),
])
def test_preset_names_in_english_chinese_and_synonyms(name, dim):
    vector = EmotionVector.preset(name, 0.7)
    assert vector.dominant() == dim
    assert getattr(vector, dim) == pytest.approx(0.7)
    assert vector.total == pytest.approx(0.7)


@pytest.mark.parametrize("bad", ["furiouz", "", "9"])
def test_unknown_name_is_refused_with_the_name(bad):
    with pytest.raises(InputError, match="unknown emotion"):
        canonical_emotion_name(bad)


@pytest.mark.parametrize("intensity", [-0.1, 1.5, float("nan")])
def test_intensity_outside_unit_range_is_refused(intensity):
    with pytest.raises(InputError, match="intensity"):
        EmotionVector.preset("angry", intensity)


def test_parse_preset_spec():
    assert EmotionVector.parse_preset("sad:0.4").sad == pytest.approx(0.4)
    with pytest.raises(InputError, match="'x'"):
        EmotionVector.parse_preset("sad:x")


def _upstream_normalize(values, apply_bias=True):
    """IndexTTS2's web UI normalize_emo_vec, written out from its source."""
    if apply_bias:
        values = [v * b for v, b in zip(values, INDEXTTS_EMOTION_BIAS)]
    total = sum(values)
    if total > 0.8:
        values = [v * 0.8 / total for v in values]
    return values


@pytest.mark.parametrize("values", [
    [1, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0.5, 0, 0, 0, 0, 0], [0.2] * 8, [0, 0, 0, 0, 0, 0, 0.3, 0.1], [1] * 8,
])
def test_clamp_with_bias_matches_indextts2(values):
    clamped = EmotionVector.from_list(values).clamp(0.8, apply_bias=True)
    assert clamped.to_list() == pytest.approx(_upstream_normalize(values))


@pytest.mark.parametrize("max_total", [0.3, 0.8, 1.0])
def test_clamp_bounds_total_and_keeps_direction(max_total):
    vector = EmotionVector(angry=0.9, sad=0.6)
    clamped = vector.clamp(max_total)
    assert clamped.total <= max_total + 1e-9
    assert clamped.angry / clamped.sad == pytest.approx(1.5)


def test_fuse_seed_example_is_weighted_mean():
    audio, text, preset = EmotionVector(sad=1.0), EmotionVector(angry=1.0), EmotionVector.preset("calm", 0.5)
    fused = fuse([(audio, 0.3), (text, 0.5), (preset, 0.2)])
    assert fused.to_dict()["sad"] == pytest.approx(0.3)
    assert fused.angry == pytest.approx(0.5)
    assert fused.calm == pytest.approx(0.1)


@pytest.mark.parametrize("sources", [[], [(EmotionVector(), 0.0)], [(EmotionVector(), -1.0)]])
def test_fuse_refuses_empty_or_bad_weights(sources):
    with pytest.raises(InputError):
        fuse(sources)


def test_json_round_trip():
    vector = EmotionVector(happy=0.25, surprised=0.5)
    assert EmotionVector.from_dict(json.loads(json.dumps(vector.to_dict()))) == vector
    assert EmotionVector.parse_list(",".join(str(v) for v in vector.to_list())) == vector


@pytest.mark.parametrize("text", ["1,2", "a,b,c,d,e,f,g,h", "0,0,0,0,0,0,0,2"])
def test_bad_vector_text_is_refused(text):
    with pytest.raises(InputError):
        EmotionVector.parse_list(text)


def test_arithmetic_keeps_weights_valid():
    a, b = EmotionVector(angry=0.8), EmotionVector(angry=0.7, sad=0.2)
    assert (a + b).angry == 1.0
    assert a.scaled(0.5).angry == pytest.approx(0.4)
    with pytest.raises(InputError):
        a.scaled(2.0)
    assert EmotionVector(angry=0.4, sad=0.2).with_intensity(0.8).to_list()[1:3] == pytest.approx([0.8, 0.4])


def test_voice_qualities_validate_and_merge():
    merged = VoiceQualities(whisper=0.5).merged(VoiceQualities(whisper=0.2, tremble=1.0))
    assert (merged.whisper, merged.tremble) == (0.5, 1.0)
    with pytest.raises(InputError, match="tremble"):
        VoiceQualities(tremble=2.0)
    with pytest.raises(InputError, match="'mumble'"):
        VoiceQualities.from_dict({"mumble": 1.0})
