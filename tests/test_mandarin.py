"""The Mandarin voices: zh-baker (converted at set-up) and the repaired espeak-cmn fallback."""

import subprocess

import numpy as np
import pytest

from emodub.ear import default_ear, error_rate
from emodub.engines.base import SynthesisRequest, get_engine
from emodub.engines.builtin import zh_baker, zh_baker_setup
from emodub.engines.builtin.base_voice import is_available, synthesize_base, unavailable_reason, voices_for
from emodub.errors import EngineError
from emodub.timing import DurationPlan

LINE = "你怎么敢这样对我！"


def test_the_setup_conversion_is_idempotent(capsys):
    assert zh_baker_setup.is_converted()
    files = {p.name: p.stat().st_mtime_ns for p in zh_baker.onnx_dir().iterdir()}
    zh_baker_setup.convert()
    assert "already converted" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in zh_baker.onnx_dir().iterdir()} == files


def test_without_the_conversion_the_voice_names_the_setup_step(monkeypatch, tmp_path, reference):
    monkeypatch.setenv("EMODUB_MODEL_DIR", str(tmp_path))
    zh_baker._sessions.cache_clear()
    try:
        assert not is_available("zh-baker") and "zh-baker" not in voices_for("zh")
        assert "scripts/setup.sh" in unavailable_reason("zh-baker")
        with pytest.raises(EngineError, match="has not been converted to ONNX .* run bash scripts/setup.sh"):
            get_engine("builtin").synthesize(SynthesisRequest(text=LINE, speaker_reference=reference, base_voice="zh-baker"))
    finally:
        zh_baker._sessions.cache_clear()


LINES = ["今天天气很好，我们一起去公园散步。", "你怎么敢这样对我！", "请把门关上，然后坐下来听我说。", "火车七点出发，我们不能迟到。"]


def _mean_cer(render, lines=LINES) -> float:
    return sum(error_rate(line, default_ear().transcribe(render(line), "zh"), "zh") for line in lines) / len(lines)


def test_zh_baker_is_understood():
    assert _mean_cer(lambda line: synthesize_base("zh-baker", line)) <= 0.1


def test_the_espeak_fallback_says_syllables_not_tone_digits(tmp_path):
    from emodub.audio import load_audio

    def hanzi_reading(line: str):  # what espeak-cmn did before: Hanzi in, tone digits out
        path = tmp_path / "hanzi.wav"
        subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(path), line], check=True)
        return load_audio(path)

    fallback = _mean_cer(lambda line: synthesize_base("espeak-cmn", line), LINES[2:])
    assert fallback <= 0.85 and fallback < _mean_cer(hanzi_reading, LINES[2:]) - 0.1


def test_the_zh_baker_voice_is_deterministic():
    assert (synthesize_base("zh-baker", LINE).samples == synthesize_base("zh-baker", LINE).samples).all()


@pytest.mark.parametrize("ratio", [0.8, 1.2])
def test_a_cloned_mandarin_line_is_exact_and_intelligible(reference, ratio):
    result = get_engine("builtin").synthesize(SynthesisRequest(
        text=LINE, speaker_reference=reference, duration=DurationPlan("controlled", ratio=ratio)))
    assert result.applied["base_voice"] == "zh-baker"
    assert abs(result.audio.duration_s - result.target_duration_s) * 1000 <= 1.0
    assert any("zh-baker" in w and "non-commercial" in w for w in result.warnings)
    heard = default_ear().transcribe(result.audio, "zh")
    assert error_rate(LINE, heard, "zh") <= 0.2, heard


def test_a_reference_contour_keeps_mandarin_tones_but_still_shapes_the_energy(reference):
    """Tones are lexical: a tonal line keeps its own F0 shape under a dual-audio reference; only energy transfers."""
    from emodub.engines.builtin import transfer, world

    line = world.analyze(reference)
    template = transfer.measure(reference)
    tonal = transfer.impose_contours(line, template, 0.7, tonal=True)
    blended = transfer.impose_contours(line, template, 0.7)
    assert np.array_equal(tonal.f0_hz, line.f0_hz) and not np.array_equal(blended.f0_hz, line.f0_hz)
    assert np.array_equal(tonal.sp, blended.sp) and not np.array_equal(tonal.sp, line.sp)
