"""The builtin engine: base voice ► WORLD ► timbre ► emotion ► length fit ► WORLD ► loudness.

F0 is mapped to the reference speaker first and the emotion's changes are applied on top, so
an emotion moves *this* speaker's voice (a sad 200-Hz voice falls from 200 Hz, not from the
base voice's register).  Time-dependent contours (declination, tremor) are applied after the
time map so a 6-Hz tremor is 6 Hz in the output.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emodub.audio import Audio
from emodub.emotion.space import EmotionVector, VoiceQualities
from emodub.engines.base import Synthesis, SynthesisRequest
from emodub.engines.builtin import kokoro, neural_length, neural_prosody, render, timbre, transfer, voice_profile, voice_search, world
from emodub.engines.builtin.base_voice import BASE_VOICES, is_available, synthesize_base_timed, unavailable_reason, voices_for
from emodub.engines.builtin.zh_baker import LICENCE_NOTE
from emodub.errors import EngineError, InputError
from emodub.licences import commercial_base_voice, commercial_refusal
from emodub.progress import Progress, StepProgress
from emodub.timing import find_pauses, land_exactly, plan_time_map, spans_from_phones

TARGET_LOUDNESS_LUFS = -23.0  # EBU R128; leaves headroom for loud emotions
MAX_EMOTION_TOTAL = 1.0  # clamp: above this the rules start to break the voice
NEURAL_VOICE_QUALITY_SHARE = 0.5  # Kokoro: the emotions' tilt and breathiness at half depth (render.lighter_voice_quality)



VOWELS = frozenset("aa ae ah ao aw ax axr ay eh er ey ih ix iy ow oy uh uw".split())  # flite's CMU phone set


def _contour_anchors(phones: list[tuple[str, float]], positions: np.ndarray, frame_s: float) -> render.ContourAnchors | None:
    """Speech start/end and the last vowel's onset, moved through the time map onto the output frames."""
    starts = [0.0] + [end for _, end in phones[:-1]]
    spoken = [(label, start, end) for (label, end), start in zip(phones, starts) if label != "pau"]
    vowels = [start for label, start, _ in spoken if label in VOWELS]
    if not spoken or not vowels:
        return None

    def out_frame(seconds: float) -> int:  # positions: output frame ► input frame, monotone
        return int(np.searchsorted(positions, seconds / frame_s))

    return render.ContourAnchors(out_frame(spoken[0][1]), out_frame(spoken[-1][2]), out_frame(vowels[-1]))


def _spans(phones: list[tuple[str, float]] | None, features: world.WorldFeatures) -> list:
    """Speech and pause spans on the analysis frames: from the phone timings where the base voice gives them, else from energy."""
    frame_s = features.frame_period_ms / 1000
    return spans_from_phones(phones, features.n_frames, frame_s) if phones else find_pauses(features.frame_energy_db())


def _heard_emotion(reference: Audio, encoder_folder: Path) -> tuple[EmotionVector, float]:
    """The emotion a trained (GRL) emotion encoder hears in the reference, and its confidence.

    With an encoder, the reference's static prosody comes from the literature rules for the
    emotion it hears, which does not depend on who speaks; without one, it is measured against
    population register norms, which mixes that speaker's register into the emotion.  Contour
    shapes are transferred either way (they are z-scored, so speaker-free).
    """
    from emodub.train import load_encoders  # heavy (torch): loaded only when used

    return load_encoders(encoder_folder).emotion_vector(reference)


def mandarin_voice_notes(base_voice: str) -> list[str]:
    """Which Mandarin voice spoke and why (its licence, or why the better voice was not used)."""
    if base_voice == "zh-baker":
        return [f"Mandarin voice zh-baker ({LICENCE_NOTE})"]
    if base_voice == "kokoro":
        return []
    reason = unavailable_reason("zh-baker") if not is_available("zh-baker") else "chosen by the voice search"
    return [f"Mandarin voice {base_voice} (licence-clean fallback, hard to understand: CER ≈ 0.6 by the ear); zh-baker: {reason}"]


@functools.lru_cache(maxsize=8)  # a few MB each; a dub plans and renders a cue's parts one after the other
def analysed_base_voice(base_voice: str, text: str, seed: int) -> tuple[Audio, list[tuple[str, float]] | None, world.WorldFeatures]:
    """A base voice's line, its phone timings and its WORLD analysis, kept: a line's length plan and its render share them."""
    base, phones = synthesize_base_timed(base_voice, text, seed=seed)
    return base, phones, world.analyze(base)


@dataclass
class LinePlan:
    """What a line will be before it is rendered: the voice, the emotion's shape, and its free (natural) length."""

    language: str
    choice: voice_profile.VoiceChoice
    profile: voice_profile.VoiceProfile
    emotion: EmotionVector | None
    shape: render.ProsodyShape
    template: transfer.ProsodyTemplate | None
    heard: tuple[EmotionVector, float] | None
    free_duration_s: float
    warnings: list[str] = field(default_factory=list)
    kokoro_phones: str | None = None  # the Kokoro path: its phones, style and the speed of the free length
    kokoro_style: np.ndarray | None = None
    free_speed: float = 1.0

    @property
    def neural(self) -> bool:
        return self.kokoro_phones is not None


class BuiltinEngine:
    """Offline, CPU-only engine built on a base voice and the WORLD vocoder."""

    name = "builtin"

    def __init__(self, *, progress: Progress | None = None) -> None:
        self._progress = progress

    def natural_length_s(self, request: SynthesisRequest) -> float:
        """The line's free length without rendering it: Kokoro's duration predictor, or the base voice's phones and pauses."""
        return self.plan(request).free_duration_s

    def plan(self, request: SynthesisRequest) -> LinePlan:
        """Check the request, pick the voice and the emotion's shape, and predict the free length (no output rendered)."""
        language = request.resolved_language
        warnings: list[str] = []
        base_voice = voice_search.commercial_default(language, request.base_voice, request.commercial)
        if request.commercial and base_voice is not None and not commercial_base_voice(base_voice):
            raise InputError(commercial_refusal(base_voice))
        if base_voice is not None:
            if base_voice not in BASE_VOICES:
                raise InputError(f"base voice {base_voice!r} is not known; available: {', '.join(BASE_VOICES)}")
            if language not in BASE_VOICES[base_voice].languages:
                raise InputError(f"base voice {base_voice!r} does not speak {language!r}; "
                                 f"for {language!r} use: {', '.join(voices_for(language))}")
            if not is_available(base_voice):
                raise EngineError(unavailable_reason(base_voice))
        if not voices_for(language):
            raise EngineError(f"no base voice for language {language!r} is installed (need espeak-ng / flite)")

        profile = self.prepare_voice(request)
        choice = profile.choices[voice_profile.choice_key(language, base_voice, request.frame_match, request.naturalness_margin,
                                                   request.commercial)]

        if language == "zh":
            warnings.extend(mandarin_voice_notes(choice.base_voice))
        if choice.probe_error is not None and choice.error_limit is not None and choice.probe_error > choice.error_limit:
            warnings.append(f"no candidate voice kept the words of the probe sentences (share lost {choice.probe_error:.2f}, limit "
                            f"{choice.error_limit:.2f}): the clearest was used; is the reference clean speech of one person?")
        warnings.extend(choice.notes)
        neural = choice.base_voice == "kokoro"
        emotion = request.emotion
        if emotion is not None and emotion.total > MAX_EMOTION_TOTAL:
            emotion = emotion.clamp(MAX_EMOTION_TOTAL)
            warnings.append(f"emotion total {request.emotion.total:.2f} was scaled to {MAX_EMOTION_TOTAL} "
                            "(the engine's clamp for timbre stability)")
        question = request.text.rstrip().endswith(("?", "？", "吗"))
        shape = render.shape_for(emotion, request.qualities, question=question and not neural)  # Kokoro says a question's rise
        template, heard = None, None
        if request.emotion_reference is not None:
            template = transfer.measure(request.emotion_reference)
            reference_shape = template.shape
            if request.emotion_encoder is not None:
                heard = _heard_emotion(request.emotion_reference, request.emotion_encoder)
                reference_shape = render.shape_for(heard[0], VoiceQualities())
            shape = render.blend([(shape, 1.0), (transfer.scaled_shape(reference_shape, request.emotion_alpha), 1.0)])
        plan = LinePlan(language, choice, profile, emotion, shape, template, heard, 0.0, warnings)
        if neural:  # Kokoro sets rate and length itself (its speed); WORLD, where needed, reshapes only F0, level and timbre
            plan.shape = render.lighter_voice_quality(shape, NEURAL_VOICE_QUALITY_SHARE)
            plan.kokoro_style = voice_search.kokoro_style(choice)
            plan.kokoro_phones = kokoro.phonemes(request.text, language)
            plan.free_speed = choice.speed * plan.shape.rate_factor
            plan.free_duration_s = kokoro.predicted_length_s(plan.kokoro_phones, plan.kokoro_style, speed=plan.free_speed,
                                                             text=request.text)
        else:
            _, phones, analysis = analysed_base_voice(choice.base_voice, request.text, request.seed)
            spans = _spans(phones, analysis)
            plan.free_duration_s = sum(self._natural_frames(spans, shape)) * analysis.frame_period_ms / 1000
        return plan

    @staticmethod
    def _natural_frames(spans: list, shape: render.ProsodyShape) -> list[float]:
        """Each span's length in frames at the emotion's rate and pause lengths."""
        return [s.length * (shape.pause_factor if s.is_pause else 1.0) / shape.rate_factor for s in spans]

    def synthesize(self, request: SynthesisRequest) -> Synthesis:
        started = time.perf_counter()
        plan = self.plan(request)
        choice, shape, template, warnings = plan.choice, plan.shape, plan.template, plan.warnings
        free_duration_s = plan.free_duration_s
        target_s = request.duration.target_length_s(free_duration_s)
        phones, anchors, near, edit, as_spoken = None, None, None, None, False
        if plan.neural:
            as_spoken = timbre.imposes_nothing(choice) and template is None and render.only_rate_and_level(shape)
            if not as_spoken and neural_prosody.needs_no_vocoder(choice):  # pitch and prosody on Kokoro's own F0 track
                edit = neural_prosody.f0_edit(choice, plan.profile, shape, template, request.emotion_alpha, tonal=plan.language == "zh")

            def spoken(speed: float) -> Audio:
                return kokoro.synthesize_phonemes(plan.kokoro_phones, plan.kokoro_style, speed=speed, text=request.text, edit=edit)

            renders = 0
            if request.duration.mode == "free" or request.duration.ratio is not None:  # relative to the line as it is spoken
                near, speed, renders = spoken(plan.free_speed), plan.free_speed, 1
                free_duration_s = near.duration_s
                target_s = request.duration.target_length_s(free_duration_s)
            if renders == 0 or abs(target_s - near.duration_s) > neural_length.SPEED_TOLERANCE * target_s:
                speed = kokoro.speed_for_length(plan.kokoro_phones, plan.kokoro_style, target_s, start_speed=plan.free_speed,
                                                speed_range=neural_length.SPEED_RANGE)
                near, speed, more = neural_length.rendered_near(spoken, speed, target_s)
                renders += more
            neutral_loudness = near.loudness_lufs()
            rendering: dict = {"speed": round(speed, 4), "renders": renders,
                               "length_planned_by": "Kokoro's duration predictor, then the render's own length"}
        if near is not None and (edit is not None or as_spoken):
            shaped = near if edit is None else neural_prosody.tilted(near, shape.tilt_db_per_octave)
            samples, length_note = neural_length.fit_pauses(shaped.samples, int(round(target_s * near.sample_rate_hz)), near.sample_rate_hz)
            audio = Audio(samples, near.sample_rate_hz)
            rendering.update(path="kokoro as it speaks (no vocoder pass)" if edit is None else
                             "kokoro with its own F0 track reshaped before its decoder (emotion and prosody; no vocoder pass)",
                             length=length_note)
        else:
            if near is not None:
                analysis = world.analyze(near)
            else:
                base, phones, analysis = analysed_base_voice(choice.base_voice, request.text, request.seed)
                neutral_loudness = base.loudness_lufs()
            features = render.apply_static(timbre.adapt(analysis, plan.profile, choice), shape)
            frame_s = features.frame_period_ms / 1000
            spans = _spans(phones, analysis)
            # Kokoro already spoke at the rate and near the length: the time map only lands the rest
            natural = [float(s.length) for s in spans] if near is not None else self._natural_frames(spans, shape)
            positions = plan_time_map(spans, target_s / frame_s, smoothness=request.duration.smoothness,
                                      natural_lengths=natural)
            features = features.resampled_in_time(positions)
            anchors = _contour_anchors(phones, positions, frame_s) if phones else None
            features = render.apply_contours(features, shape, anchors)
            if template is not None:
                features = transfer.impose_contours(features, template, request.emotion_alpha, tonal=plan.language == "zh")
            audio = world.synthesize(features)
            if near is not None:
                rendering.update(path="WORLD (F0, envelope and emotion reshaped; rate and length from Kokoro's speed)")
            else:
                rendering = {"path": "WORLD (F0, envelope, emotion and length reshaped)"}

        gain_db = (TARGET_LOUDNESS_LUFS - neutral_loudness if np.isfinite(neutral_loudness) else 0.0) + shape.energy_db
        samples = audio.samples * 10 ** (gain_db / 20)
        peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
        if peak > 0.97:
            samples *= 0.97 / peak
            warnings.append(f"peak limited by {20 * np.log10(peak / 0.97):.1f} dB to avoid clipping")
        n_target = int(round(target_s * audio.sample_rate_hz))
        audio = Audio(land_exactly(samples.astype(np.float32), n_target), audio.sample_rate_hz)

        return Synthesis(
            audio=audio,
            engine=self.name,
            free_duration_s=free_duration_s,
            target_duration_s=n_target / audio.sample_rate_hz,
            applied={
                "language": plan.language,
                "base_voice": choice.base_voice,
                "warp": choice.warp,
                "frame_match": choice.frame_match,
                "envelope_match": choice.envelope_match,
                "kokoro_style": None if choice.style is None else {"weights": choice.style["weights"], "offset_norm": round(
                    float(np.linalg.norm(choice.style["offset"])), 4)},
                "naturalness_probe": {"adapted": choice.naturalness, "most_natural_base_voice": choice.naturalness_floor,
                                      "limit": choice.naturalness_limit, "judge": choice.judge},
                "rendering": rendering,
                "pauses_from": "phone timings" if phones else "frame energy",
                "contours_anchored_on": "phone timings" if anchors else "whole line",
                "emotion_vector_rendered": None if plan.emotion is None else plan.emotion.to_dict(),
                "prosody": shape.to_dict(),
                "emotion_reference": None if template is None else template.measured,
                "emotion_reference_f0_shape": None if template is None else
                ("kept the line's own (lexical tones)" if plan.language == "zh" else "blended"),
                "emotion_reference_heard": None if plan.heard is None else {
                    "by": str(request.emotion_encoder), "vector": plan.heard[0].to_dict(), "confidence": round(plan.heard[1], 3)},
                "similarity_probe": {"adapted": choice.similarity, "best_base_voice": choice.base_similarity},
                "probe_intelligibility": {"share_lost": choice.probe_error, "clearest_base_voice": choice.base_probe_error,
                                          "limit": choice.error_limit, "ear": choice.ear, "candidates_heard": choice.hearings},
                "seconds": round(time.perf_counter() - started, 3),
            },
            warnings=warnings,
        )

    def prepare_voice(self, request: SynthesisRequest, progress: StepProgress | None = None) -> voice_profile.VoiceProfile:
        """The request's voice profile for its language and settings: from the cache, or searched now (a new voice, ≤ 60 s)."""

        def tick(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total)
            elif self._progress is not None:
                self._progress("voice profile", done, total)

        return voice_search.load_or_build_profile(request.speaker_reference, request.resolved_language, base_voice=request.base_voice,
                                                  frame_match=request.frame_match, naturalness_margin=request.naturalness_margin,
                                                  progress=tick, commercial=request.commercial)

__all__ = ["BuiltinEngine"]
