"""Adapter to IndexTTS2 / IndexTTS-2.5 (index-tts/index-tts) running from a local checkpoint folder.

Written against upstream commit ee40fa7d6c6b8a2c7f06105f9f1e65775b74868c (2026-08-18):

- 2.0: ``from indextts.infer_v2 import IndexTTS2``;
  ``IndexTTS2(cfg_path, model_dir, use_fp16, device, ..., use_qwen_emo=True, aux_paths=None)``;
  ``infer(spk_audio_prompt, text, output_path, emo_audio_prompt=None, emo_alpha=1.0,
  emo_vector=None, use_emo_text=False, emo_text=None, use_random=False, interval_silence=200,
  ..., max_text_tokens_per_segment=120, ...)``.  No duration control in the public release.
- 2.5: ``from indextts.infer_v2_5 import IndexTTS2``; ``IndexTTS2(cfg_path, model_dir,
  use_bf16, device, ..., use_qwen_emo=False)``; ``infer(..., lang, ..., duration_factor=1.0)``
  with ``lang`` in ZH/EN/JA/ES/AR and ``duration_factor`` 0.5–2.0.
- ``infer`` does not rescale ``emo_vector`` (upstream's web UI calls ``normalize_emo_vec``
  first): the adapter sends :meth:`EmotionVector.clamp` ``(0.8, apply_bias=True)``, which is
  the same formula, and reports the vector sent.
- Upstream downloads auxiliary models (w2v-bert-2.0, MaskGCT semantic codec, CAMPPlus,
  BigVGAN) into ``model_dir/hf_cache`` when they are missing.  The adapter refuses to start
  unless they are all there (2.0 also gets them as ``aux_paths``), so it never waits on the
  network.

Duration: the engine's own control gets close where it has one (2.5's ``duration_factor``
from a first free-length pass), then emodub's length fit (:func:`world.fit_length`) lands
the exact length; both are recorded in ``applied``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from emodub.audio import Audio, load_audio, save_audio
from emodub.engines.base import Synthesis, SynthesisRequest
from emodub.engines.builtin import world
from emodub.errors import EngineError, InputError

UPSTREAM_COMMIT = "ee40fa7d6c6b8a2c7f06105f9f1e65775b74868c"
VERSIONS = ("2", "2.5")
MODULES = {"2": "indextts.infer_v2", "2.5": "indextts.infer_v2_5"}
HF_REPOS = {"2": "IndexTeam/IndexTTS-2", "2.5": "IndexTeam/IndexTTS-2.5"}
LANGUAGE_CODES = {"en": "EN", "zh": "ZH"}  # 2.5 also speaks JA, ES, AR; emodub's text front end knows en/zh
DURATION_FACTOR_RANGE = (0.5, 2.0)
AUX_FILES = {  # key of upstream's aux_paths ► path under model_dir (upstream utils/model_download.py)
    "w2v_bert": "hf_cache/w2v-bert-2.0/config.json",
    "semantic_codec": "hf_cache/semantic_codec_model.safetensors",
    "campplus": "hf_cache/campplus_cn_common.bin",
    "bigvgan": "hf_cache/bigvgan/bigvgan_generator.pt",
}
CONFIG_KEYS = ("gpt_checkpoint", "s2mel_checkpoint", "w2v_stat", "emo_matrix", "spk_matrix")


def expected_files(model_dir: Path) -> list[str]:
    """Files IndexTTS2 reads from ``model_dir`` (names from its config.yaml where it exists)."""
    names = ["config.yaml"]
    config_path = model_dir / "config.yaml"
    if config_path.is_file():
        config = yaml.safe_load(config_path.read_text()) or {}
        names += [str(config[k]) for k in CONFIG_KEYS if k in config]
        if isinstance(config.get("dataset"), dict) and "bpe_model" in config["dataset"]:
            names.append(str(config["dataset"]["bpe_model"]))
    else:
        names += ["gpt.pth", "s2mel.pth", "bpe.model", "wav2vec2bert_stats.pt", "feat1.pt", "feat2.pt"]
    return names + list(AUX_FILES.values())


def check_model_dir(model_dir: str | Path | None, version: str) -> dict[str, str]:
    """Upstream's ``aux_paths`` for a complete checkpoint folder; an error naming what is missing otherwise."""
    if version not in VERSIONS:
        raise InputError(f"IndexTTS version {version!r} is not supported; allowed: {', '.join(VERSIONS)}")
    if model_dir is None:
        raise InputError("the indextts2 engine needs a checkpoint folder: --model-dir DIR or engine.model_dir in the job")
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise InputError(f"IndexTTS checkpoint folder {str(model_dir)!r} does not exist")
    missing = [name for name in expected_files(model_dir) if not (model_dir / name).exists()]
    if missing:
        raise InputError(
            f"IndexTTS {version} checkpoint folder {str(model_dir)!r} lacks {', '.join(missing)}. Get the checkpoints with "
            f"'hf download {HF_REPOS[version]} --local-dir {model_dir}' and the auxiliary models into {model_dir}/hf_cache "
            "(facebook/w2v-bert-2.0 ► w2v-bert-2.0/, amphion/MaskGCT semantic_codec/model.safetensors ► "
            "semantic_codec_model.safetensors, funasr/campplus campplus_cn_common.bin, nvidia/bigvgan_v2_22khz_80band_256x ► bigvgan/) "
            "on a machine with network access; emodub does not download them")
    return {key: str(model_dir / Path(path).parent if key in ("w2v_bert", "bigvgan") else model_dir / path)
            for key, path in AUX_FILES.items()}


def infer_arguments(request: SynthesisRequest, version: str, *, speaker_path: str, emotion_path: str | None,
                    output_path: str, duration_factor: float | None = None) -> dict[str, Any]:
    """The keyword arguments of upstream ``infer`` for ``request`` (every emotion path mapped)."""
    kwargs: dict[str, Any] = {"spk_audio_prompt": speaker_path, "text": request.text, "output_path": output_path}
    if emotion_path is not None:  # dual audio: timbre from the speaker prompt, emotion from this one
        kwargs.update(emo_audio_prompt=emotion_path, emo_alpha=request.emotion_alpha)
    if request.emotion_text:  # description path: upstream's Qwen T2E reads it
        kwargs.update(use_emo_text=True, emo_text=request.emotion_text)
    elif request.emotion is not None and not request.emotion.is_zero:  # preset / vector / fused vector
        kwargs["emo_vector"] = [round(v, 6) for v in request.emotion.clamp(0.8, apply_bias=True).to_list()]
    kwargs["use_random"] = False
    if version == "2.5":
        language = request.resolved_language
        if language not in LANGUAGE_CODES:
            raise InputError(f"language {language!r} is not supported by the IndexTTS-2.5 adapter; allowed: {', '.join(LANGUAGE_CODES)}")
        kwargs["lang"] = LANGUAGE_CODES[language]
        if duration_factor is not None:
            lo, hi = DURATION_FACTOR_RANGE
            if not lo <= duration_factor <= hi:
                raise InputError(f"IndexTTS-2.5 duration_factor {duration_factor:.3f} is outside {lo}–{hi}")
            kwargs["duration_factor"] = duration_factor
    return kwargs


class IndexTTS2Engine:
    """The official IndexTTS2 inference class behind emodub's Engine protocol."""

    name = "indextts2"

    def __init__(self, *, model_dir: str | Path | None = None, version: str = "2", device: str | None = None,
                 half_precision: bool = False, progress=None) -> None:
        aux_paths = check_model_dir(model_dir, version)
        assert model_dir is not None  # check_model_dir refuses None
        self.version, self.model_dir = version, Path(model_dir)
        try:
            module = __import__(MODULES[version], fromlist=["IndexTTS2"])
        except ImportError as error:
            raise EngineError(f"the indextts2 engine needs the official 'indextts' package (index-tts/index-tts at commit "
                              f"{UPSTREAM_COMMIT[:10]}; install it from a clone with 'pip install -e .'): {error}") from error
        qwen = (yaml.safe_load((self.model_dir / "config.yaml").read_text()) or {}).get("qwen_emo_path")
        self.has_text_emotion = bool(qwen) and (self.model_dir / str(qwen)).exists()
        options: dict[str, Any] = {"cfg_path": str(self.model_dir / "config.yaml"), "model_dir": str(self.model_dir),
                                   "device": device, "use_qwen_emo": self.has_text_emotion}
        if version == "2":
            options.update(use_fp16=half_precision, aux_paths=aux_paths)
        else:
            options.update(use_bf16=half_precision)
        self._model = module.IndexTTS2(**options)

    def _infer(self, request: SynthesisRequest, folder: Path, speaker: str, emotion: str | None, tag: str,
               duration_factor: float | None = None) -> tuple[Audio, dict[str, Any]]:
        output = folder / f"{tag}.wav"
        kwargs = infer_arguments(request, self.version, speaker_path=speaker, emotion_path=emotion, output_path=str(output),
                                 duration_factor=duration_factor)
        self._model.infer(**kwargs)
        if not output.exists():
            raise EngineError(f"IndexTTS {self.version} wrote no audio for {request.text!r}")
        return load_audio(output), kwargs

    def synthesize(self, request: SynthesisRequest) -> Synthesis:
        started = time.perf_counter()
        if request.emotion_text and not self.has_text_emotion:
            raise InputError("this IndexTTS checkpoint folder has no Qwen emotion model (config qwen_emo_path), so it cannot "
                             "read an emotion description; give a preset or vector instead")
        with tempfile.TemporaryDirectory(prefix="emodub-indextts-") as name:
            folder = Path(name)
            speaker = str(save_audio(request.speaker_reference, folder / "speaker.wav"))
            emotion = None if request.emotion_reference is None else str(save_audio(request.emotion_reference, folder / "emotion.wav"))
            audio, kwargs = self._infer(request, folder, speaker, emotion, "free")
            free_s = audio.duration_s
            target_s = request.duration.target_length_s(free_s)
            native = None
            if request.duration.mode == "controlled" and self.version == "2.5":
                native = min(max(target_s / free_s, DURATION_FACTOR_RANGE[0]), DURATION_FACTOR_RANGE[1])
                audio, kwargs = self._infer(request, folder, speaker, emotion, "controlled", duration_factor=native)
            native_s = audio.duration_s
            if request.duration.mode == "controlled":
                audio = world.fit_length(audio, target_s, request.duration.smoothness)
        sent = {k: v for k, v in kwargs.items() if k not in ("spk_audio_prompt", "emo_audio_prompt", "output_path")}
        return Synthesis(
            audio=audio, engine=self.name, free_duration_s=free_s, target_duration_s=audio.duration_s if request.duration.mode == "free"
            else round(target_s * audio.sample_rate_hz) / audio.sample_rate_hz,
            applied={"version": self.version, "upstream_commit": UPSTREAM_COMMIT, "infer_arguments": sent,
                     "emo_vector_sent": sent.get("emo_vector"), "native_duration_factor": native,
                     "native_length_s": round(native_s, 4), "length_fit": "emodub WORLD time map" if request.duration.mode == "controlled"
                     else None, "seconds": round(time.perf_counter() - started, 3)},
        )
