"""Reading the original performance over each cue: face and voice emotion, from one decode of the video."""

from __future__ import annotations

from typing import Any

from emodub import media
from emodub.audio import Audio
from emodub.cast import Cast
from emodub.dub.options import DubOptions
from emodub.emotion.analysis import normalises_per_speaker, read_faces, read_segment, read_voices, speakers_of
from emodub.emotion.space import EmotionVector
from emodub.emotion.speech import AcousticSER, SpeechEmotionModel
from emodub.progress import Progress
from emodub.subtitles import Cue


def read_performance(cues: list[Cue], info: media.MediaInfo, track16: Audio, options: DubOptions, cast: Cast | None, hook: Progress
            ) -> list[tuple[EmotionVector | None, float, dict[str, Any]]]:
    """Face + voice reading of the original performance over each cue (the same reading as ``analyze``).

    The voice is normalised per speaker: each cue against the speech of whoever says it in the
    original (the cast step's speakers), over the whole video.
    """
    faces = None if options.commercial else read_faces(info, options.frame_rate_hz, hook)  # FER2013's terms: research only
    if options.emotion_encoder is not None:
        from emodub.train import EncoderSER  # heavy (torch): loaded only when used

        ser: SpeechEmotionModel = EncoderSER(options.emotion_encoder)
    else:
        ser = AcousticSER()
    spans = [(cue.start_s, cue.end_s) for cue in cues]
    if cast is not None:
        speakers = cast.labels_of(spans)
    else:
        speakers = speakers_of(spans, track16) if normalises_per_speaker(ser) else [None] * len(spans)
    voices = read_voices(spans, speakers, track16, ser)
    detected = []
    for number, cue in enumerate(cues):
        segment = read_segment(cue.start_s, cue.end_s, faces, track16, ser, voice_read=voices[number])
        if not faces.observations:
            segment.warnings.append("no face over this cue")
        record = segment.to_dict()
        record["evidence"] = (segment.face.evidence if segment.face else []) + (segment.voice.evidence if segment.voice else [])
        detected.append((segment.vector, segment.confidence, record))
        hook("read voices", number + 1, len(cues))
    return detected
