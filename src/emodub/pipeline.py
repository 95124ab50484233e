"""Run a job: resolve the emotion sources, synthesise, measure, and write audio + report.

Progress goes through ``hook(step, completed, total)``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emodub import __version__, watermark
from emodub.audio import Audio, atomic_output, check_reference, load_audio, save_audio
from emodub.consent import require_consent
from emodub.disclosure import NOT_MARKED_WARNING, Disclosure
from emodub.emotion.space import EmotionVector, VoiceQualities, fuse
from emodub.emotion.text import text_to_emotion
from emodub.engines.base import Synthesis, SynthesisRequest, get_engine
from emodub.errors import InputError
from emodub.job import (
    AudioEmotion,
    DualAudioEmotion,
    Job,
    MixEmotion,
    PresetEmotion,
    TextEmotion,
    VectorEmotion,
)
from emodub.licences import synthesis_models
from emodub.naturalness import default_judge
from emodub.progress import Progress
from emodub.timing import duration_error_ms
from emodub.verify import Thresholds, naturalness_check, synthesize_verified
from emodub.voice import speaker_similarity


@dataclass
class EmotionPlan:
    """The emotion the engine gets, and where each part came from (for the report)."""

    vector: EmotionVector | None = None
    qualities: VoiceQualities = field(default_factory=VoiceQualities)
    reference: Audio | None = None
    reference_path: str | None = None
    alpha: float = 1.0
    description: str | None = None  # the text source's description, for engines that read it
    sources: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def resolve_emotion(control, speaker_reference: Audio) -> EmotionPlan:
    """Turn a job's ``emotion_control`` into one vector + qualities + optional emotion reference."""
    plan = EmotionPlan()
    if control is None:
        return plan
    sources = control.sources if isinstance(control, MixEmotion) else [control]
    read = {id(s): text_to_emotion(s.description) for s in sources if isinstance(s, TextEmotion)}
    # Only sources that carry an emotion share the vector's weight: a delivery-only description
    # ("voice shaking") adds its qualities and leaves the asked emotion at full strength.
    carrying = [s for s in sources if not isinstance(s, TextEmotion) or read[id(s)].names_emotion]
    if sum(s.weight for s in sources) <= 0:
        raise InputError("emotion_control weights are all 0; at least one must be > 0")
    total_weight = sum(s.weight for s in carrying)
    weighted_vectors: list[tuple[EmotionVector, float]] = []
    audio_sources = [s for s in sources if isinstance(s, (AudioEmotion, DualAudioEmotion))]
    if len(audio_sources) > 1:
        raise InputError(f"emotion_control has {len(audio_sources)} audio sources; at most one is allowed")
    for source in sources:
        share = source.weight / total_weight if source in carrying and total_weight > 0 else 0.0
        record: dict[str, Any] = {"method": source.method, "weight": round(share, 4)}
        vector: EmotionVector | None = None
        if isinstance(source, TextEmotion):
            result = read[id(source)]
            vector = result.vector if result.names_emotion else None
            plan.description = source.description if plan.description is None else f"{plan.description}; {source.description}"
            plan.qualities = plan.qualities.merged(result.qualities)
            plan.warnings.extend(result.warnings)
            record.update(description=source.description, qualities=result.qualities.to_dict(),
                          evidence=[e.text for e in result.evidence])
            if not result.names_emotion:
                record["note"] = "delivery only: adds its voice qualities, does not share the emotion's weight"
        elif isinstance(source, PresetEmotion):
            vector = EmotionVector.preset(source.preset, source.intensity)
            record.update(preset=source.preset, intensity=source.intensity)
        elif isinstance(source, VectorEmotion):
            vector = (EmotionVector.from_list(source.vector) if isinstance(source.vector, list)
                      else EmotionVector.from_dict(source.vector))
        else:
            path = getattr(source, "audio", None)
            plan.reference = speaker_reference if path is None else load_audio(path, what="emotion reference")
            if path is not None:
                plan.warnings.extend(check_reference(plan.reference, what="emotion reference").warnings)
            plan.reference_path = None if path is None else str(path)
            plan.alpha = source.alpha * share
            record.update(audio=plan.reference_path or "speaker_reference", alpha=round(plan.alpha, 4))
        if vector is not None:
            weighted_vectors.append((vector, share))
            record["vector"] = vector.to_dict()
        plan.sources.append(record)
    if weighted_vectors:
        vector_share = sum(w for _, w in weighted_vectors)
        plan.vector = fuse(weighted_vectors).scaled(vector_share)
    return plan


@dataclass
class Report:
    """JSON record of one synthesis: inputs, emotion used, measured length and similarity, timings."""

    text: str
    engine: str
    duration_s: float
    target_duration_s: float
    free_duration_s: float
    duration_error_ms: float
    emotion_vector: dict[str, float] | None
    qualities: dict[str, float]
    emotion_sources: list[dict[str, Any]]
    speaker_similarity: float | None
    real_time_factor: float
    timings_s: dict[str, float]
    consent: str | None
    warnings: list[str]
    applied: dict[str, Any]
    inputs: dict[str, Any]
    provenance: dict[str, str]
    verification: dict[str, Any] | None = None
    intelligibility: dict[str, Any] | None = None  # the ear on the kept round: recogniser, heard, wer | cer, threshold, passed
    naturalness: float | None = None  # MOS 1–5 of the output by the naturalness judge (emodub.naturalness); None: not measured
    watermark: dict[str, Any] = field(default_factory=dict)  # applied (method, the detector's confidence on the output) or why not
    models: list[dict[str, Any]] = field(default_factory=list)  # every model that made or judged it, with licence and terms
    voice_sha256: dict[str, str] = field(default_factory=dict)  # the voice reference the consent is for
    excluded_for_commercial_use: list[dict[str, Any]] = field(default_factory=list)  # --commercial: the models left out
    emodub_version: str = __version__

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    def write(self, path: str | Path) -> Path:
        with atomic_output(path) as tmp:
            tmp.write_text(self.to_json(), encoding="utf-8")
        return Path(path)


def synthesize_job(job: Job, *, hook: Progress | None = None) -> tuple[Synthesis, Report]:
    """Run one job through its engine; return the synthesis and its report (nothing written)."""
    require_consent(job.consent)  # a Job built in Python is held to the job file's rule
    notify = hook or (lambda step, done, total: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    notify("load inputs", 0, 1)
    for folder in (job.engine.emotion_encoder, job.verify.emotion_encoder):
        if folder is not None:
            from emodub.train import load_encoders  # heavy (torch): loaded only when used

            load_encoders(folder)  # a bad folder fails here, before the voice profile's minutes of work
    reference = load_audio(job.speaker_reference, what="speaker reference")
    warnings = list(check_reference(reference).warnings)
    emotion = resolve_emotion(job.emotion_control, reference)
    warnings += emotion.warnings
    timings["inputs"] = time.perf_counter() - started

    options = {"progress": notify} if job.engine.name == "builtin" else {
        "model_dir": job.engine.model_dir, "version": job.engine.version}
    engine = get_engine(job.engine.name, **options)
    request = SynthesisRequest(
        text=job.text,
        speaker_reference=reference,
        language=job.language,
        emotion=emotion.vector,
        qualities=emotion.qualities,
        emotion_reference=emotion.reference,
        emotion_alpha=emotion.alpha,
        emotion_text=emotion.description,
        duration=job.duration_control.plan(),
        seed=job.seed,
        base_voice=job.engine.base_voice,
        emotion_encoder=job.engine.emotion_encoder,
        frame_match=job.engine.frame_match,
        naturalness_margin=job.engine.naturalness_margin,
        commercial=job.commercial,
    )
    t0 = time.perf_counter()
    notify("synthesise", 0, 1)
    verification: dict[str, Any] | None = None
    used_vector = None if emotion.vector is None else emotion.vector.to_dict()  # the kept round's, when verification changed it
    if job.verify.enabled:
        settings = job.verify.model_dump()
        max_rounds, _, judge_folder = settings.pop("max_rounds"), settings.pop("enabled"), settings.pop("emotion_encoder")
        judge = None
        if judge_folder is not None:
            from emodub.train import EncoderSER  # heavy (torch): loaded only when used

            judge = EncoderSER(judge_folder)
        synthesis, checked, rounds = synthesize_verified(engine, request, thresholds=Thresholds(**settings),
                                                         max_rounds=max_rounds, hook=notify, judge=judge)
        verification = {**checked.to_dict(), "rounds": rounds}
        kept = next(r for r in rounds if r["kept"])
        used_vector = kept["emotion"]
        if kept["round"] > 1:
            warnings.append(f"verification kept round {kept['round']} of {len(rounds)}, which changed the request: {kept['change']} "
                            f"(emotion rendered: {kept['emotion']})")
        if not checked.passed:
            warnings.append(f"verification: {', '.join(checked.failed)} missed after {len(rounds)} round(s); "
                            "the best round is kept (see report 'verification')")
    else:
        synthesis = engine.synthesize(request)
    timings["synthesise"] = time.perf_counter() - t0
    warnings += synthesis.warnings
    marked_confidence = None
    if job.watermark:
        t0 = time.perf_counter()
        notify("watermark", 0, 1)
        synthesis.audio = watermark.mark(synthesis.audio)  # the finished line: after its length fit and loudness
        if synthesis.audio.duration_s >= watermark.MIN_DETECT_S:
            marked_confidence = round(watermark.confidence(synthesis.audio), 4)
            if marked_confidence < watermark.FOUND_AT:
                warnings.append(f"the watermark could not be read back from this output (confidence {marked_confidence})")
        timings["watermark"] = time.perf_counter() - t0
    else:
        warnings.append(NOT_MARKED_WARNING)
    disclosure = Disclosure.of(watermarked=job.watermark, models=models_of(job, synthesis), consent=job.consent,
                               voices={"*": job.speaker_reference}, commercial=job.commercial)
    disclosed = disclosure.to_dict()
    if disclosure.excluded:
        warnings.append(f"--commercial: left out {', '.join(disclosure.excluded)} (terms not cleared for commercial use)")

    if verification is not None:
        similarity = next(c["value"] for c in verification["checks"] if c["name"] == "speaker_similarity")
        naturalness = next(c["value"] for c in verification["checks"] if c["name"] == "naturalness")
    else:
        notify("measure", 0, 1)
        t0 = time.perf_counter()
        similarity = round(speaker_similarity(synthesis.audio, reference), 4)
        naturalness = naturalness_check(synthesis.audio, None, default_judge()).value
        timings["measure"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    duration_s = synthesis.audio.duration_s
    report = Report(
        text=job.text,
        engine=synthesis.engine,
        duration_s=round(duration_s, 6),
        target_duration_s=round(synthesis.target_duration_s, 6),
        free_duration_s=round(synthesis.free_duration_s, 6),
        duration_error_ms=round(duration_error_ms(duration_s, synthesis.target_duration_s), 4),
        emotion_vector=used_vector,
        qualities=emotion.qualities.to_dict(),
        emotion_sources=emotion.sources,
        speaker_similarity=similarity,
        real_time_factor=round(float(synthesis.applied.get("seconds", timings["synthesise"])) / max(duration_s, 1e-9), 4),
        timings_s={k: round(v, 4) for k, v in timings.items()},
        consent=job.consent,
        warnings=warnings,
        applied=synthesis.applied,
        inputs={
            "speaker_reference": str(job.speaker_reference),
            "emotion_reference": emotion.reference_path,
            "language": request.resolved_language,
            "duration_control": job.duration_control.model_dump(),
        },
        provenance=disclosure.provenance(synthesis.engine).tags(),
        verification=verification,
        intelligibility=None if verification is None else verification.get("intelligibility"),
        naturalness=naturalness if isinstance(naturalness, float) else None,
        watermark={**disclosure.watermark_record(), **({"confidence": marked_confidence} if marked_confidence is not None else {})},
        models=disclosed["models"],
        excluded_for_commercial_use=disclosed["excluded_for_commercial_use"],
        voice_sha256=disclosure.voices_sha256,
    )
    notify("done", 1, 1)
    return synthesis, report


def models_of(job: Job, synthesis: Synthesis) -> list[str]:
    """The models (keys of :data:`emodub.licences.MODELS`) that made or judged one line."""
    if synthesis.engine != "builtin":
        return [synthesis.engine, "ge2e", "distillmos", *(["whisper-base"] if job.verify.enabled else [])]
    return synthesis_models([str(synthesis.applied.get("base_voice", ""))],
                            reads_descriptions=any(isinstance(s, TextEmotion) for s in job.emotion_sources))


def write_outputs(synthesis: Synthesis, report: Report, output: Path, report_path: Path | None) -> None:
    """Write the WAV (with the report's provenance tags) and the report, each atomically."""
    save_audio(synthesis.audio, output, tags=report.provenance)
    if report_path is not None:
        report.write(report_path)
