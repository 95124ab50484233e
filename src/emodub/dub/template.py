"""A script template from a video alone: its speech found, transcribed and split per speaker, for the user to rewrite."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emodub import layout, media
from emodub.audio import Audio, atomic_output
from emodub.cast import diarize
from emodub.dub.inputs import ANALYSIS_RATE_HZ
from emodub.ear import WhisperEar, default_ear
from emodub.emotion.analysis import read_faces, read_segment, read_voices
from emodub.emotion.speech import AcousticSER, speech_segments
from emodub.errors import InputError
from emodub.progress import Progress
from emodub.subtitles import placeholder, template_cues, write_srt


@dataclass
class Template:
    """What ``dub`` without a script wrote: the cues, the language heard, and the speakers found."""

    path: Path
    cues: int
    segments: int
    cuts: int
    language: str | None
    speakers: list[str]
    transcribed: bool


def write_template(video: str | Path, template: str | Path, *, speakers: int | None = None, frame_rate_hz: float = 5.0,
                   hook: Progress | None = None) -> Template:
    """A script to edit: the original dialogue, transcribed by the ear, one cue per speech segment and speaker turn (never across a cut).

    Each cue reads ``SPEAKER_n: [emotion:intensity] what was said``: the speaker from the cast
    step, the emotion read from face and voice (keep it, change it or delete it).  Without an ear
    (faster-whisper not installed) the words are placeholders that ``dub`` refuses until replaced.
    """
    notify = hook or (lambda step, done, total: None)
    video, template = Path(video), Path(template)
    info = media.probe(video)
    if not info.has_audio:
        raise InputError(f"video {str(video)!r} has no audio stream; there is no speech to time the lines against")
    track16 = layout.extract_tracks(info).dialogue_mix().resampled(ANALYSIS_RATE_HZ)
    speech = speech_segments(track16)
    if not speech:
        raise InputError(f"no speech found in {str(video)!r}; write the script by hand")
    cuts = media.scene_cuts(info)
    cast = diarize(track16, n_speakers=speakers, progress=lambda done, total: notify("cast", done, total))
    turn_changes = sorted({edge for speaker in cast.speakers for turn in speaker.turns for edge in turn})
    spans = template_cues(speech, sorted({*cuts, *turn_changes}))  # a cue never straddles a cut or a change of speaker
    ear = default_ear()
    language = ear.detect_language(track16) if isinstance(ear, WhisperEar) else ("en" if ear is not None else None)
    faces = read_faces(info, frame_rate_hz, notify) if info.has_video else None
    ser = AcousticSER()
    voices = read_voices(spans, cast.labels_of(spans), track16, ser) if faces is not None else []  # as dub reads them: per speaker
    cues = []
    for number, (start, end) in enumerate(spans, 1):
        clip = Audio(track16.samples[int(start * ANALYSIS_RATE_HZ):int(end * ANALYSIS_RATE_HZ)], ANALYSIS_RATE_HZ)
        said = ear.transcribe(clip, language).strip() if ear is not None and language is not None else ""
        speaker = cast.dominant(start, end)
        tag = ""
        if faces is not None:
            vector = read_segment(start, end, faces, track16, ser, voice_read=voices[number - 1]).vector
            name = vector.dominant() if vector is not None else None
            if vector is not None and name is not None and round(vector.to_dict()[name], 1) > 0:
                tag = f"[{name}:{min(1.0, vector.to_dict()[name]):.1f}] "
        cues.append((start, end, f"{speaker.label + ': ' if speaker else ''}{tag}{said or placeholder(end - start)}"))
        notify("transcribe", number, len(spans))
    with atomic_output(template) as tmp:
        write_srt(cues, tmp)
    return Template(template, len(cues), len(speech), len(cuts), language, [s.label for s in cast.speakers],
                    ear is not None and language is not None)
