"""The YAML job file: one pydantic schema, validated once, in one place.

Relative paths resolve against the YAML file's folder.  Unknown keys are errors that name the
key; every other error names the value and what is allowed (as an :class:`InputError`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from emodub.consent import require_consent
from emodub.emotion.space import EmotionVector
from emodub.errors import InputError
from emodub.licences import commercial_base_voice, commercial_refusal
from emodub.timing import RATIO_MAX, RATIO_MIN, DurationPlan


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextEmotion(_Strict):
    method: Literal["text"]
    description: str
    weight: float = Field(1.0, ge=0)


class AudioEmotion(_Strict):
    """Emotion from a recording: ``audio`` defaults to the speaker reference itself."""

    method: Literal["audio"]
    audio: Path | None = None
    alpha: float = Field(1.0, ge=0, le=1)
    weight: float = Field(1.0, ge=0)


class DualAudioEmotion(_Strict):
    """Timbre from ``speaker_reference``, emotion from this second recording."""

    method: Literal["dual_audio"]
    audio: Path
    alpha: float = Field(1.0, ge=0, le=1)
    weight: float = Field(1.0, ge=0)


class PresetEmotion(_Strict):
    method: Literal["preset"]
    preset: str
    intensity: float = Field(1.0, ge=0, le=1)
    weight: float = Field(1.0, ge=0)


class VectorEmotion(_Strict):
    """Eight weights in IndexTTS2's order, or a mapping name ► weight."""

    method: Literal["vector"]
    vector: list[float] | dict[str, float]
    weight: float = Field(1.0, ge=0)


SingleSource = Annotated[
    TextEmotion | AudioEmotion | DualAudioEmotion | PresetEmotion | VectorEmotion,
    Field(discriminator="method"),
]


class MixEmotion(_Strict):
    """Weighted fusion of several sources, e.g. 0.3 audio + 0.5 text + 0.2 preset."""

    method: Literal["mix"]
    sources: list[SingleSource] = Field(min_length=1)


EmotionControl = Annotated[
    TextEmotion | AudioEmotion | DualAudioEmotion | PresetEmotion | VectorEmotion | MixEmotion,
    Field(discriminator="method"),
]


class DurationControl(_Strict):
    mode: Literal["free", "controlled"] = "free"
    ratio: float | None = None
    target_duration_s: float | None = None
    target_token_count: int | None = None
    smoothness: float = 0.5

    @field_validator("ratio")
    @classmethod
    def _ratio_in_range(cls, value: float | None) -> float | None:
        if value is not None and not RATIO_MIN <= value <= RATIO_MAX:
            raise ValueError(f"ratio {value!r} is outside the allowed range {RATIO_MIN}–{RATIO_MAX}")
        return value

    def plan(self) -> DurationPlan:
        return DurationPlan(**self.model_dump())


class EngineConfig(_Strict):
    name: Literal["builtin", "indextts2"] = "builtin"
    base_voice: str | None = None
    model_dir: Path | None = None
    version: Literal["2", "2.5"] = "2"
    emotion_encoder: Path | None = None  # builtin: read the emotion reference with this train-encoders folder
    frame_match: float | None = Field(None, ge=0, le=1)  # builtin: 0 = clearest (default) … 1 = closest to the voice
    naturalness_margin: float | None = Field(None, ge=0, le=4)  # builtin: MOS a clone may lose to the most natural base voice (0.3)

    @model_validator(mode="after")
    def _builtin_only_keys(self) -> EngineConfig:
        if self.emotion_encoder is not None and self.name != "builtin":
            raise ValueError(f"emotion_encoder is used by the builtin engine only; {self.name} reads the emotion reference "
                             "with its own encoder (remove engine.emotion_encoder or use engine builtin)")
        if self.frame_match is not None and self.name != "builtin":
            raise ValueError(f"frame_match is a setting of the builtin engine's timbre adaptation; {self.name} has no such "
                             "setting (remove engine.frame_match or use engine builtin)")
        if self.naturalness_margin is not None and self.name != "builtin":
            raise ValueError(f"naturalness_margin bounds the builtin engine's voice search; {self.name} has no such search "
                             "(remove engine.naturalness_margin or use engine builtin)")
        return self


class VerifyConfig(_Strict):
    """The independent judge and the regenerate loop (see emodub.verify)."""

    enabled: bool = True
    max_rounds: int = Field(3, ge=1, le=10)
    max_duration_error_ms: float = Field(1.0, ge=0)
    min_speaker_similarity: float = Field(0.5, ge=0, le=1)
    max_word_error_rate: float = Field(0.25, ge=0, le=1)  # English, by the ear; the same defaults as verify.Thresholds
    max_character_error_rate: float = Field(0.2, ge=0, le=1)  # Mandarin, by the ear
    require_arousal_match: bool = True
    min_naturalness: float | None = Field(None, ge=1, le=5)  # MOS by the naturalness judge; None: reported, no pass mark
    emotion_encoder: Path | None = None  # judge the output's emotion with this train-encoders folder

    @model_validator(mode="after")
    def _judge_encoder_needs_the_judge(self) -> VerifyConfig:
        if self.emotion_encoder is not None and not self.enabled:
            raise ValueError("emotion_encoder is the judge's emotion reader, but verification is off (enabled: false)")
        return self


class Job(_Strict):
    """One line to synthesise: text, voice, emotion, duration."""

    text: str
    speaker_reference: Path
    language: Literal["en", "zh"] | None = None
    emotion_control: EmotionControl | None = None
    duration_control: DurationControl = DurationControl()
    engine: EngineConfig = EngineConfig()
    consent: str | None = None
    seed: int = 0
    output: Path | None = None
    verify: VerifyConfig = VerifyConfig()
    watermark: bool = True  # False: the output goes out unmarked, and its report and metadata say so
    commercial: bool = False  # True: only models whose terms allow commercial use (emodub.licences)

    @field_validator("text")
    @classmethod
    def _text_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(f"text {value!r} is empty; give the line to speak")
        return value

    @property
    def emotion_sources(self) -> list:
        """The single sources of ``emotion_control`` (a mix's list, or the one source)."""
        control = self.emotion_control
        return control.sources if isinstance(control, MixEmotion) else [control] if control else []

    @model_validator(mode="after")
    def _watermark_can_be_applied(self) -> Job:
        if self.watermark:
            from emodub.watermark import missing_reason  # heavy (scipy): loaded only when used

            reason = missing_reason()
            if reason is not None:
                raise ValueError(f"{reason}; or set watermark: false (--no-watermark) to write an unmarked output")
        return self

    @model_validator(mode="after")
    def _commercial_models_only(self) -> Job:
        if self.commercial and self.engine.name != "builtin":
            raise ValueError(f"commercial: engine {self.engine.name!r}'s checkpoint licence is not known to emodub; "
                             "check its terms yourself and run without --commercial, or use the builtin engine")
        if self.commercial and self.engine.base_voice is not None and not commercial_base_voice(self.engine.base_voice):
            raise ValueError(commercial_refusal(self.engine.base_voice))
        return self

    @model_validator(mode="after")
    def _encoder_has_a_recording_to_read(self) -> Job:
        if self.engine.emotion_encoder is not None and not any(isinstance(s, (AudioEmotion, DualAudioEmotion))
                                                               for s in self.emotion_sources):
            raise ValueError("emotion_encoder reads an emotion recording, but emotion_control has no audio or dual_audio source "
                             "(add one, e.g. --emotion-audio, or remove engine.emotion_encoder)")
        return self

    def referenced_files(self) -> list[tuple[str, Path]]:
        """(key, path) of every input file the job names."""
        files = [("speaker_reference", self.speaker_reference)]
        for index, source in enumerate(self.emotion_sources):
            audio = getattr(source, "audio", None)
            if audio is not None:
                key = f"emotion_control.sources[{index}].audio" if isinstance(self.emotion_control, MixEmotion) else "emotion_control.audio"
                files.append((key, audio))
        for key, path in (("engine.model_dir", self.engine.model_dir), ("engine.emotion_encoder", self.engine.emotion_encoder),
                          ("verify.emotion_encoder", self.verify.emotion_encoder)):
            if path is not None:
                files.append((key, path))
        return files


class DirectedEmotionConfig(_Strict):
    """An emotion for a speaker or a cue of a dub job: a preset ``NAME[:INTENSITY]`` and/or a description."""

    preset: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _something_given(self) -> DirectedEmotionConfig:
        if self.preset is None and self.description is None:
            raise ValueError("give a preset (e.g. 'angry:0.6') or a description (e.g. 'whispering, scared'), or remove the entry")
        if self.preset is not None:
            try:
                EmotionVector.parse_preset(self.preset)
            except InputError as error:
                raise ValueError(str(error)) from None
        return self


class GivenEmotionConfig(DirectedEmotionConfig):
    """The emotion given for every line, fused with the detected one by ``weight``."""

    weight: float = Field(0.5, ge=0, le=1)


class DubOutputs(_Strict):
    video: Path
    report: Path | None = None
    audio_codec: str | None = None  # default: the source's where the container holds it


class DubSettings(_Strict):
    """How to dub, beside the files: speakers, consent, emotion overrides, engine, sync policy (a dub job; the studio's options)."""

    speakers: int | None = Field(None, ge=1)
    consent: str | None = None
    emotion: GivenEmotionConfig | None = None
    speaker_emotions: dict[str, DirectedEmotionConfig] = {}
    cue_emotions: dict[int, DirectedEmotionConfig] = {}
    original_prosody: bool = True
    engine: EngineConfig = EngineConfig()
    sync: Literal["fit", "strict"] = "fit"
    max_rounds: int = Field(3, ge=1, le=10)
    duck_db: float = Field(-20.0, le=0)
    seed: int = 0
    watermark: bool = True
    commercial: bool = False

    @model_validator(mode="after")
    def _builtin_only(self) -> DubSettings:
        if self.engine.name != "builtin":
            raise ValueError(f"dubbing runs the builtin engine; engine {self.engine.name!r} is for 'say' and single-line jobs")
        return self

    def dub_options(self, *, workers: int = 1, audio_codec: str | None = None):
        """These settings as :class:`emodub.dub.DubOptions` (every value already validated here)."""
        from emodub.dub import DirectedEmotion, DubOptions  # heavy (scipy): loaded only when used

        def directed(config: DirectedEmotionConfig) -> DirectedEmotion:
            return DirectedEmotion(EmotionVector.parse_preset(config.preset) if config.preset else None, config.description)

        given = directed(self.emotion) if self.emotion else DirectedEmotion()
        return DubOptions(emotion=given.emotion, emotion_text=given.emotion_text, emotion_weight=self.emotion.weight if self.emotion else 0.5,
                          original_prosody=self.original_prosody, base_voice=self.engine.base_voice, workers=workers,
                          duck_db=self.duck_db, consent=self.consent, seed=self.seed, emotion_encoder=self.engine.emotion_encoder,
                          frame_match=self.engine.frame_match, naturalness_margin=self.engine.naturalness_margin,
                          max_rounds=self.max_rounds, speakers=self.speakers,
                          audio_codec=audio_codec, sync=self.sync, watermark=self.watermark, commercial=self.commercial,
                          speaker_emotions={name: directed(c) for name, c in self.speaker_emotions.items()},
                          cue_emotions={index: directed(c) for index, c in self.cue_emotions.items()})


class DubJob(DubSettings):
    """A dub: a video, a script, a cast of voices, emotion overrides, engine, sync policy and outputs (``emodub run``)."""

    video: Path
    script: Path
    voices: dict[str, Path] = {}  # NAME ► reference; "*" for everyone else; a speaker without one is cloned from the video
    workers: int = Field(1, ge=1)
    outputs: DubOutputs

    @field_validator("voices")
    @classmethod
    def _names_not_empty(cls, value: dict[str, Path]) -> dict[str, Path]:
        for name in value:
            if not name.strip():
                raise ValueError("a voice needs a speaker name (or \"*\" for everyone else)")
        return value

    def referenced_files(self) -> list[tuple[str, Path]]:
        files = [("video", self.video), ("script", self.script)] + [(f"voices.{name}", path) for name, path in self.voices.items()]
        return files + ([("engine.emotion_encoder", self.engine.emotion_encoder)] if self.engine.emotion_encoder else [])

    def options(self):
        """The job as :class:`emodub.dub.DubOptions`."""
        return self.dub_options(workers=self.workers, audio_codec=self.outputs.audio_codec)


def parse_dub_job(data: dict, *, base_dir: Path) -> DubJob:
    """Validate a dub job mapping; resolve relative paths against ``base_dir``; check the inputs exist."""
    try:
        job = DubJob.model_validate(data)
    except ValidationError as error:
        raise InputError(errors_line(error)) from None
    job = job.model_copy(update={
        "video": _resolve(job.video, base_dir), "script": _resolve(job.script, base_dir),
        "voices": {name: _resolve(path, base_dir) for name, path in job.voices.items()},
        "engine": job.engine.model_copy(update={"emotion_encoder": _resolve(job.engine.emotion_encoder, base_dir)}),
        "outputs": job.outputs.model_copy(update={"video": _resolve(job.outputs.video, base_dir),
                                                  "report": _resolve(job.outputs.report, base_dir)}),
    })
    missing = [f"{key} file {str(path)!r} does not exist" for key, path in job.referenced_files() if not path.exists()]
    if missing:
        raise InputError("; ".join(missing))
    require_consent(job.consent)  # the line clones speaker_reference's voice
    return job


def _resolve(path: Path | None, base: Path) -> Path | None:
    if path is None:
        return None
    path = Path(os.path.expanduser(path))
    return path if path.is_absolute() else base / path


def _error_line(problem: dict) -> str:
    location = ".".join(str(part) for part in problem["loc"] if not str(part).startswith(("function-", "tagged-")))
    if problem["type"] == "extra_forbidden":
        return f"unknown key {location!r} in the job file; see docs/job-file.md for the allowed keys"
    if problem["type"] == "missing":
        return f"required key {location!r} is missing from the job file"
    message = problem["msg"].removeprefix("Value error, ")
    return f"{location}: {message} (got {problem.get('input')!r})" if location else message  # a whole-job rule: no dump of the job


def errors_line(error: ValidationError) -> str:
    """Every invalid value of the job at once, on one line (the CLI prints one ``error:`` line)."""
    problems = list(dict.fromkeys(_error_line(p) for p in error.errors()))
    return problems[0] if len(problems) == 1 else f"{len(problems)} problems in the job file: " + "; ".join(problems)


def parse_job(data: object, *, base_dir: Path) -> Job:
    """Validate a job mapping; resolve relative paths against ``base_dir``; check files exist."""
    if not isinstance(data, dict):
        raise InputError(f"a job file must be a mapping of keys; got {type(data).__name__}")
    try:
        job = Job.model_validate(data)
    except ValidationError as error:
        raise InputError(errors_line(error)) from None
    job = _with_resolved_paths(job, base_dir)
    missing = [f"{key} file {str(path)!r} does not exist" for key, path in job.referenced_files() if not path.exists()]
    if missing:
        raise InputError("; ".join(missing))
    require_consent(job.consent)  # the line clones speaker_reference's voice
    return job


def _with_resolved_paths(job: Job, base: Path) -> Job:
    control = job.emotion_control

    def fix(source):
        audio = getattr(source, "audio", None)
        return source.model_copy(update={"audio": _resolve(audio, base)}) if audio is not None else source

    if isinstance(control, MixEmotion):
        control = control.model_copy(update={"sources": [fix(s) for s in control.sources]})
    elif control is not None:
        control = fix(control)
    engine = job.engine.model_copy(update={"model_dir": _resolve(job.engine.model_dir, base),
                                           "emotion_encoder": _resolve(job.engine.emotion_encoder, base)})
    return job.model_copy(update={
        "speaker_reference": _resolve(job.speaker_reference, base),
        "output": _resolve(job.output, base),
        "emotion_control": control,
        "engine": engine,
        "verify": job.verify.model_copy(update={"emotion_encoder": _resolve(job.verify.emotion_encoder, base)}),
    })


def load_job(path: str | os.PathLike) -> Job | DubJob:
    """Read and validate a YAML job file: a line (``text``) or a dub (``video``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"job file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InputError(f"job file {str(path)!r} is not valid YAML: {str(error).splitlines()[0]}") from None
    if isinstance(data, dict) and "video" in data:
        return parse_dub_job(data, base_dir=path.resolve().parent)
    return parse_job(data, base_dir=path.resolve().parent)
