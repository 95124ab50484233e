"""The Engine protocol, the request/result types every engine shares, and the registry by name."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from emodub.audio import Audio
from emodub.emotion.space import EmotionVector, VoiceQualities
from emodub.errors import EngineError, InputError
from emodub.progress import StepProgress
from emodub.textnorm import check_line_length
from emodub.timing import DurationPlan

_CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")
LANGUAGES = ("en", "zh")


def detect_language(text: str) -> str:
    """'zh' when the text contains CJK characters, else 'en'."""
    return "zh" if _CJK.search(text) else "en"


@dataclass(frozen=True)
class SynthesisRequest:
    """Everything an engine needs for one line.  Timbre and emotion are independent inputs."""

    text: str
    speaker_reference: Audio
    language: str | None = None
    emotion: EmotionVector | None = None
    qualities: VoiceQualities = field(default_factory=VoiceQualities)
    emotion_reference: Audio | None = None
    emotion_alpha: float = 1.0
    emotion_text: str | None = None  # the description, for engines that read text themselves (IndexTTS2)
    duration: DurationPlan = field(default_factory=DurationPlan)
    seed: int = 0
    base_voice: str | None = None
    emotion_encoder: Path | None = None  # a train-encoders folder: the builtin engine reads the emotion reference with it
    frame_match: float | None = None  # builtin: share of the envelope taken from the reference's own frames (None = 0)
    naturalness_margin: float | None = None  # builtin: MOS a clone may lose to the most natural base voice (None = 0.3)
    commercial: bool = False  # builtin: only base voices whose terms allow commercial use (emodub.licences)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InputError(f"text {self.text!r} is empty; give the line to speak")
        check_line_length(self.text)
        if self.language is not None and self.language not in LANGUAGES:
            raise InputError(f"language {self.language!r} is not supported; allowed: {', '.join(LANGUAGES)}")
        if not 0.0 <= self.emotion_alpha <= 1.0:
            raise InputError(f"emotion_alpha {self.emotion_alpha!r} is outside the allowed range 0..1")
        if self.frame_match is not None and not 0.0 <= self.frame_match <= 1.0:
            raise InputError(f"frame_match {self.frame_match!r} is outside the allowed range 0..1 "
                             "(0 = clearest, 1 = closest to the reference voice)")
        if self.naturalness_margin is not None and not 0.0 <= self.naturalness_margin <= 4.0:
            raise InputError(f"naturalness_margin {self.naturalness_margin!r} is outside the allowed range 0..4 (MOS points)")
        if self.emotion_encoder is not None and self.emotion_reference is None:
            raise InputError("emotion_encoder reads the emotion reference, but the request has none (give emotion_reference)")

    @property
    def resolved_language(self) -> str:
        return self.language or detect_language(self.text)


@dataclass
class Synthesis:
    """An engine's output and what it actually applied (for the report)."""

    audio: Audio
    engine: str
    free_duration_s: float
    target_duration_s: float
    applied: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class Engine(Protocol):
    """A speech synthesiser that clones a voice and renders an emotion."""

    name: str

    def synthesize(self, request: SynthesisRequest) -> Synthesis: ...


class PlanningEngine(Engine, Protocol):
    """An engine that knows a line's free length before rendering it, so a dub renders each part once."""

    def natural_length_s(self, request: SynthesisRequest) -> float: ...


class VoicePreparingEngine(Engine, Protocol):
    """An engine that learns a voice ahead of its lines (the builtin engine's voice search), caching what it learns."""

    def prepare_voice(self, request: SynthesisRequest, progress: StepProgress | None = None) -> Any: ...


def prepare_voice(engine: Engine, request: SynthesisRequest, progress: StepProgress | None = None) -> None:
    """Learn the request's voice now, so the renders after it (in any worker) find it ready; a no-op for other engines."""
    prepare = getattr(engine, "prepare_voice", None)
    if prepare is not None:
        prepare(request, progress)


def natural_length_s(engine: Engine, request: SynthesisRequest) -> float:
    """The line's free length: predicted where the engine can plan (:class:`PlanningEngine`), else from a free render."""
    predict = getattr(engine, "natural_length_s", None)
    if predict is not None:
        return float(predict(request))
    return engine.synthesize(dataclasses.replace(request, duration=DurationPlan("free"))).free_duration_s


ENTRY_POINT_GROUP = "emodub.engines"  # a package adds an engine with [project.entry-points."emodub.engines"] name = "module:Factory"
SHIPPED_ENGINES = {  # the engines in this package, by import path: base.py imports none of them until one is asked for
    "builtin": "emodub.engines.builtin.engine:BuiltinEngine",
    "indextts2": "emodub.engines.indextts2:IndexTTS2Engine",
}
_FACTORIES: dict[str, Callable[..., Engine]] = {}  # engines imported so far, by name


def engine_paths() -> dict[str, str]:
    """Engine name ► ``module:Factory``: the shipped engines, then those other installed packages declare."""
    paths = dict(SHIPPED_ENGINES)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        paths.setdefault(entry.name, entry.value)
    return paths


def engine_names() -> list[str]:
    return sorted(set(_FACTORIES) | set(engine_paths()))


def get_engine(name: str, **options: Any) -> Engine:
    """Create the engine registered as ``name`` (options go to its factory); its module is imported on first use."""
    if name not in _FACTORIES:
        paths = engine_paths()
        if name not in paths:
            raise InputError(f"engine {name!r} is not known; available: {', '.join(engine_names())}")
        module, _, factory = paths[name].partition(":")
        try:
            _FACTORIES[name] = getattr(importlib.import_module(module), factory)
        except (ImportError, AttributeError) as error:  # a plug-in declared but broken: say which, not a traceback
            raise EngineError(f"engine {name!r} ({paths[name]}) could not be loaded: {error}") from None
    return _FACTORIES[name](**options)
