"""The judge's ear (Whisper base, EN + ZH), its weights, and the normalisation both sides of a score share."""

import subprocess

import numpy as np
import pytest

from emodub import ear
from emodub.audio import Audio, load_audio
from emodub.ear import WhisperEar, default_ear, error_rate, whisper_model_dir
from emodub.engines.builtin.base_voice import synthesize_base
from emodub.errors import EngineError, InputError
from emodub.textnorm import chinese_tokens, english_number, english_words, normalize_zh, zh_runs


@pytest.fixture(scope="module")
def whisper() -> WhisperEar:
    found = default_ear()
    assert isinstance(found, WhisperEar), "faster-whisper and the Whisper base packages are installed by the set-up"
    return found


def test_the_ear_hears_an_english_sentence(whisper, tmp_path):
    path = tmp_path / "en.wav"
    text = "Please close the door when you leave the room."
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    heard = whisper.transcribe(load_audio(path), "en")
    assert error_rate(text, heard, "en") == 0.0, heard


def test_the_ear_hears_a_mandarin_sentence_in_simplified_characters(whisper):
    text = "今天天气很好，我们一起去公园散步。"
    heard = whisper.transcribe(synthesize_base("zh-baker", text), "zh")
    assert error_rate(text, heard, "zh") == 0.0, heard
    assert "氣" not in heard and "們" not in heard  # OpenCC t2s applied


def test_garbled_speech_scores_badly_and_the_error_is_capped(whisper, tmp_path):
    path = tmp_path / "garbled.wav"
    subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(path), "你怎么敢这样对我"], check=True)  # tone digits, not Mandarin
    heard = whisper.transcribe(load_audio(path), "zh")
    assert error_rate("你怎么敢这样对我", heard, "zh") >= 0.5, heard
    assert error_rate("one two", "one two " * 20, "en") == 1.0  # a looping transcript never scores above 1


def test_a_damaged_weight_file_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("EMODUB_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(ear, "WHISPER_BASE_SHA256", "0" * 64)
    with pytest.raises(EngineError, match="expected 0000"):
        whisper_model_dir()
    assert not any(p.name.startswith("model.bin") for p in (tmp_path / "whisper-base-ct2").iterdir())


def test_the_weights_are_joined_once_and_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("EMODUB_MODEL_DIR", str(tmp_path))
    folder = whisper_model_dir()
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert whisper_model_dir() == folder and (folder / "model.bin").stat().st_mtime_ns == stamp
    assert {"config.json", "tokenizer.json", "vocabulary.json"} <= {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("language", ["fr", ""])
def test_an_unscorable_language_is_refused(language):
    with pytest.raises(InputError, match="cannot be scored"):
        error_rate("hello", "hello", language)


@pytest.mark.parametrize("number, words", [(0, "zero"), (7, "seven"), (20, "twenty"), (45, "forty five"),
                                           (1205, "one thousand two hundred five"), (3_000_000, "three million")])
def test_english_numbers(number, words):
    assert english_number(number) == words


@pytest.mark.parametrize("a, b", [("The train leaves at 7.", "the train leaves at seven"), ("It's 20% off!", "it's twenty percent off"),
                                  ("$5", "five dollars"), ("Well - maybe", "well maybe")])
def test_english_normalisation_is_the_same_on_both_sides(a, b):
    assert english_words(a) == english_words(b)


@pytest.mark.parametrize("text, spoken", [
    ("2020年3月5日", "二零二零年三月五日"),
    ("下午3:30", "下午三点三十分"),
    ("8:05出发", "八点零五分出发"),
    ("10:00", "十点整"),
    ("¥150", "一百五十元"),
    ("$5", "五美元"),
    ("增长了50%", "增长了百分之五十"),
    ("3.14", "三点一四"),
    ("共1,234人", "共一千二百三十四人"),
    ("电话13800138000", "电话一三八零零一三八零零零"),
    ("-5度", "负五度"),
    ("２０２４年", "二零二四年"),
])
def test_chinese_numbers_dates_times_and_money_read_as_words(text, spoken):
    assert normalize_zh(text) == spoken


def test_english_words_in_a_chinese_line_are_kept_and_punctuation_pauses():
    runs = zh_runs("我昨天在Starbucks见到了Emma，她说OK。")
    assert [r.language for r in runs] == ["zh", "en", "zh", "en", "zh", "en"]
    assert [r.text for r in runs if r.language == "en"] == ["Starbucks", "Emma", "OK"]
    assert runs[3].pause_after_s > 0 and runs[-1].pause_after_s >= runs[3].pause_after_s


def test_homophones_are_not_counted_against_the_voice():
    assert chinese_tokens("她") == chinese_tokens("他")
    assert error_rate("请坐下", "请做下", "zh") == 0.0
    assert error_rate("封信", "封现", "zh") == 0.5  # a different syllable is


def _spoken(language: str, text: str, tmp_path) -> Audio:
    """``text`` said by a base voice: flite's slt in English, zh-baker in Mandarin."""
    if language == "zh":
        return synthesize_base("zh-baker", text)
    path = tmp_path / "line.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    return load_audio(path)


READ_ALONG_CASES = [
    ("en", "Please close the door when you leave the room.", "Please close the window when you leave the room.", "window",
     "Seven green apples fell from the old tree yesterday."),
    ("zh", "今天天气很好，我们一起去公园散步。", "今天天气很好，我们一起去商店散步。", "商店", "我妹妹上周四在车站买了一把黄色的雨伞。"),
]


@pytest.mark.parametrize(("language", "said", "swapped", "swapped_word", "other"), READ_ALONG_CASES)
def test_reading_along_doubts_only_the_words_the_audio_does_not_carry(whisper, tmp_path, language, said, swapped,
                                                                         swapped_word, other):
    """The said text reads along with high probabilities, a swapped word is the least likely one, another sentence is lost."""
    audio = _spoken(language, said, tmp_path)
    read = whisper.read_along(audio, said, language)
    assert [unit for word, _ in read for unit in ear.tokens_for(word, language)] == ear.tokens_for(said, language)
    assert all(0.0 <= p <= 1.0 for _, p in read)
    least = min(whisper.read_along(audio, swapped, language), key=lambda item: item[1])
    assert swapped_word.startswith(least[0].strip()) or least[0].strip().startswith(swapped_word[0]), least
    lost_said, units = ear.units_lost(whisper, audio, said, language)
    lost_other, other_units = ear.units_lost(whisper, audio, other, language)
    assert units == len(ear.tokens_for(said, language)) and other_units == len(ear.tokens_for(other, language))
    # Mandarin loses a little even when said right: Whisper writes half-width commas, and the text's BPE split is not always its own
    assert lost_said / units < 0.25 and lost_other / other_units > 0.5


class _Transcribing:
    """The real Whisper ear offering only transcription: how ``units_lost`` counts with an ear that cannot read along."""

    def __init__(self, whisper: WhisperEar) -> None:
        self.name, self.languages, self._whisper = "whisper, transcribing", whisper.languages, whisper

    def transcribe(self, audio, language: str) -> str:
        return self._whisper.transcribe(audio, language)


def test_an_ear_that_cannot_read_along_counts_the_edits_of_its_transcription(whisper, tmp_path):
    text = "Please close the door when you leave the room."
    audio = _spoken("en", text, tmp_path)
    wrong = "Please open the door when you enter the house."
    heard = whisper.transcribe(audio, "en")
    lost, units = ear.units_lost(_Transcribing(whisper), audio, wrong, "en")
    assert units == 9 and lost == ear.edit_distance(ear.tokens_for(wrong, "en"), ear.tokens_for(heard, "en")) >= 3
    assert ear.loss_measure(whisper).endswith("read along") and ear.loss_measure(_Transcribing(whisper)).endswith("transcribed")


def test_reading_along_takes_one_whisper_window_at_most(whisper, tmp_path):
    audio = _spoken("en", "Please close the door when you leave the room.", tmp_path)
    long = Audio(np.tile(audio.samples, int(31 / audio.duration_s) + 1), audio.sample_rate_hz)
    with pytest.raises(EngineError, match=r"at most 30 s of audio, got 3\d\.\d s"):
        whisper.read_along(long, "Please close the door.", "en")
