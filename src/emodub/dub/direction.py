"""The emotion each part is spoken with: what the user directed, the line's own words, or the original performance."""

from __future__ import annotations

from emodub.dub.options import DubOptions
from emodub.emotion.space import EmotionVector, VoiceQualities, fuse
from emodub.emotion.text import text_to_emotion
from emodub.subtitles import Part


def as_vector(emotion: EmotionVector | None, description: str | None, *, implied: bool
               ) -> tuple[EmotionVector | None, VoiceQualities, list[str]]:
    """A preset and/or a description as one vector, its voice qualities, and T2E's warnings.

    A description that names only a delivery ("voice shaking", "softly") carries a slight implied
    emotion: with ``implied`` (a direction, alone) it is used — ``[softly]`` leans calm; otherwise
    (``--emotion-text``, or beside a preset) it adds qualities only and takes no emotion share.
    """
    if description is None:
        return emotion, VoiceQualities(), []
    parsed = text_to_emotion(description)
    described = parsed.vector if parsed.names_emotion or (implied and emotion is None) else None
    vectors = [(v, 1.0) for v in (emotion, described) if v is not None]
    return (fuse(vectors) if vectors else None), parsed.qualities, list(parsed.warnings)


def directed(emotion: EmotionVector | None, description: str | None) -> tuple[EmotionVector | None, VoiceQualities]:
    """A direction (a script annotation or tag, a job's cue or speaker emotion) as one vector and its qualities."""
    vector, qualities, _ = as_vector(emotion, description, implied=True)
    return vector, qualities


def choose_emotion(part: Part, cue_index: int, detected: EmotionVector | None, options: DubOptions,
                    given: tuple[EmotionVector | None, VoiceQualities]) -> tuple[EmotionVector | None, VoiceQualities, str]:
    """A part's direction in the script wins; then the job's cue, then its speaker; then ``given`` (``--emotion`` /
    ``--emotion-text``) fused with the detected emotion."""
    if part.directed:
        vector, qualities = directed(part.preset, part.description)
        return vector, qualities, "script direction"
    if cue_index in options.cue_emotions:
        given = options.cue_emotions[cue_index]
        vector, qualities = directed(given.emotion, given.emotion_text)
        return vector, qualities, "job: cue"
    if part.speaker is not None and part.speaker in options.speaker_emotions:
        given = options.speaker_emotions[part.speaker]
        vector, qualities = directed(given.emotion, given.emotion_text)
        return vector, qualities, f"job: speaker {part.speaker}"
    given_vector, qualities = given
    if given_vector is None:
        return detected, qualities, "detected"
    if detected is None or options.emotion_weight == 1.0:
        return given_vector, qualities, "given"
    weight = options.emotion_weight
    return fuse([(given_vector, weight), (detected, 1 - weight)]), qualities, f"given {weight:.2f} + detected {1 - weight:.2f}"
