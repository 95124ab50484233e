"""A dub's decisions and results, kept beside the outputs so one cue can be redone later (the studio's editing)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from emodub import layout
from emodub.audio import Audio, atomic_output
from emodub.dub.inputs import named
from emodub.dub.options import EVERYONE, DirectedEmotion, DubOptions
from emodub.dub.render import RenderedCue
from emodub.emotion.space import EmotionVector, VoiceQualities
from emodub.errors import InputError
from emodub.subtitles import Cue

MOVED_FROM_DUBBING = {  # where the classes of a session pickled by emodub.dubbing (before the dub/ package) live now
    "DubSession": ("emodub.dub.session", "DubSession"), "Take": ("emodub.dub.session", "Take"),
    "DubOptions": ("emodub.dub.options", "DubOptions"), "DirectedEmotion": ("emodub.dub.options", "DirectedEmotion"),
    "_Synth": ("emodub.dub.render", "RenderedCue"),
}


class SessionUnpickler(pickle.Unpickler):
    """Reads sessions written before and after the dub/ package: the studio's kept jobs stay editable."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "emodub.dubbing" and name in MOVED_FROM_DUBBING:
            module, name = MOVED_FROM_DUBBING[name]
        return super().find_class(module, name)


@dataclass
class DubSession:
    """What a dub decided before synthesis and what it synthesised.

    Kept (pickled beside the outputs by ``emodub serve``) so that one cue can be redone with new words,
    emotion or speaker while every other cue keeps its audio to the sample (:func:`redub_cue`).
    """

    video: Path
    script: Path
    options: DubOptions
    codec: layout.AudioCodec
    audio_layout: str | None
    media_duration_s: float
    script_format: str
    script_encoding: str
    cues: list[Cue]
    voice_files: dict[str, Path]
    references: dict[str, Audio]
    assigned: list[list[tuple[str | None, str]]]  # (speaker, voice key) of every part of every cue
    detected: list[tuple[EmotionVector | None, float, dict[str, Any]]]
    given: tuple[EmotionVector | None, VoiceQualities]  # --emotion / --emotion-text as one vector and qualities
    warnings: list[str]
    cast: dict[str, Any] | None
    timings_s: dict[str, float] = field(default_factory=dict)
    plans: dict[int, list] = field(default_factory=dict)
    results: dict[int, RenderedCue] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    fps: float | None = None  # the video's frame rate: a moved cue's edges snap to its frames
    takes: dict[int, list[Take]] = field(default_factory=dict)  # cue number ► every take of it, once it was redone
    chosen: dict[int, int] = field(default_factory=dict)  # cue number ► the take (1-based) in the mix

    def save(self, path: str | Path) -> Path:
        with atomic_output(path) as tmp:
            tmp.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> DubSession:
        """A session this process or another wrote (trusted: it lives in emodub's own data folder)."""
        with Path(path).open("rb") as handle:
            session = SessionUnpickler(handle).load()
        if not isinstance(session, cls):
            raise InputError(f"{str(path)!r} is not an emodub dub session")
        for name, empty in (("fps", None), ("takes", {}), ("chosen", {})):  # a session kept before takes existed
            session.__dict__.setdefault(name, empty)
        return session

    def take_records(self) -> dict[int, list[dict[str, Any]]]:
        """Cue index ► its takes as the studio lists them (number, text, time, emotion applied, status, chosen); only redone cues."""
        return {self.cues[number].index: [take.record(k, chosen=self.chosen.get(number) == k) for k, take in enumerate(takes, 1)]
                for number, takes in sorted(self.takes.items())}

    def speaker_choices(self) -> list[str]:
        """The speakers a cue can be given to: named voices and the speakers found in the video."""
        return [key.removeprefix("cast:") for key in self.voice_files if key != EVERYONE]

    def voice_key(self, speaker: str) -> str:
        """The voice key of ``speaker`` (a named voice or a cast label); an unknown name is bad input."""
        key = named(self.voice_files, speaker) or named(self.voice_files, f"cast:{speaker}")
        if key is None or key == EVERYONE:
            choices = self.speaker_choices()
            raise InputError(f"speaker {speaker!r} has no voice in this dub; "
                             + (f"allowed: {', '.join(choices)}" if choices else "it has one voice for everyone"))
        return key


@dataclass(frozen=True)
class Take:
    """One rendering of a cue as it was made: its words and times, voices, emotion plans, audio (or why there is none)."""

    cue: Cue
    assigned: tuple[tuple[str | None, str], ...]
    plans: tuple
    result: RenderedCue | None
    failure: str | None
    direction: DirectedEmotion | None  # the editor's emotion for the cue when it was made

    @classmethod
    def of(cls, session: DubSession, number: int) -> Take:
        """The cue as the session has it now."""
        return cls(session.cues[number], tuple(session.assigned[number]), tuple(session.plans.get(number, ())),
                   session.results.get(number), session.failures.get(number), session.options.cue_emotions.get(session.cues[number].index))

    def restore(self, session: DubSession, number: int) -> None:
        """Put this take back into ``session`` as cue ``number``."""
        session.cues[number], session.assigned[number] = self.cue, list(self.assigned)
        for store, value in ((session.plans, list(self.plans) if self.plans else None), (session.results, self.result),
                             (session.failures, self.failure)):
            store.pop(number, None)
            if value is not None:
                store[number] = value
        directions = {k: v for k, v in session.options.cue_emotions.items() if k != self.cue.index}
        session.options = replace(session.options, cue_emotions={**directions, **({self.cue.index: self.direction} if self.direction else {})})

    def record(self, number: int, *, chosen: bool) -> dict[str, Any]:
        vector = self.plans[0][2] if self.plans else None
        name = None if vector is None else vector.dominant()
        emotion = None if name is None else {"name": name, "intensity": round(vector.to_dict()[name], 3)}
        status = "not-dubbed" if self.result is None or self.result.audio is None else self.result.status
        speakers = [speaker for speaker, _ in self.assigned if speaker]
        return {"take": number, "text": self.cue.text, "start_s": self.cue.start_s, "end_s": self.cue.end_s, "emotion": emotion,
                "emotion_text": self.direction.emotion_text if self.direction else None,
                "directed": self.direction is not None and self.direction.emotion is not None,
                "speaker": speakers[0] if speakers else None, "status": status, "chosen": chosen}
