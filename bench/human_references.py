"""Real human speech that ships inside installable packages, for the speaker-similarity bench.

- Debian ``alsa-utils`` (GPL-2+): ``/usr/share/sounds/alsa/{Front,Rear,Side}_*.wav``, one person
  saying the channel names for ``speaker-test`` (8 clips of ~1.4 s, 48 kHz).  Read from the
  installed package, else from ``apt-get download`` + ``dpkg-deb -x`` into the cache.
- PyPI ``pyannote.audio`` 3.3.2 wheel (MIT): ``pyannote/audio/sample/sample.wav``, 30 s of two
  people talking, with an RTTM of who speaks when.  Each person's solo turns (no overlap) make
  one reference.  Fetched with ``pip download --no-deps``; nothing else of the package is used.

Nothing is committed: the recordings are fetched into a cache folder when the bench runs.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from emodub.audio import Audio, load_audio

REFERENCE_S = 8.0  # seconds of solo speech kept per pyannote speaker
ALSA_DIR = Path("/usr/share/sounds/alsa")
PYANNOTE_WHEEL = "pyannote.audio==3.3.2"
SAMPLE = "pyannote/audio/sample/sample"


def _joined(clips: list[Audio], gap_s: float = 0.25) -> Audio:
    rate = clips[0].sample_rate_hz
    gap = np.zeros(int(gap_s * rate), np.float32)
    parts = [part for clip in clips for part in (clip.resampled(rate).samples, gap)][:-1]
    return Audio(np.concatenate(parts), rate)


def alsa_speaker(cache: Path) -> Audio:
    folder = ALSA_DIR
    if not folder.is_dir():
        target = cache / "alsa-utils"
        if not (target / "usr/share/sounds/alsa").is_dir():
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(["apt-get", "download", "alsa-utils"], cwd=target, check=True, capture_output=True)
            deb = next(target.glob("alsa-utils_*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
        folder = target / "usr/share/sounds/alsa"
    names = [f"{side}_{where}.wav" for side in ("Front", "Rear", "Side") for where in ("Left", "Center", "Right")]
    return _joined([load_audio(folder / name) for name in names if (folder / name).is_file()])


def rttm_turns(rttm: str) -> list[tuple[str, float, float]]:
    """(speaker, start_s, end_s) of each RTTM line (onset is field 4, duration 5, name 8)."""
    fields = [line.split() for line in rttm.splitlines() if line.startswith("SPEAKER")]
    return [(f[7], float(f[3]), float(f[3]) + float(f[4])) for f in fields]


def solo_turns(turns: list[tuple[str, float, float]]) -> dict[str, list[tuple[float, float]]]:
    """Each speaker's stretches where nobody else speaks."""
    solo: dict[str, list[tuple[float, float]]] = {}
    for speaker, start, end in turns:
        pieces = [(start, end)]
        for other, o_start, o_end in turns:
            if other == speaker:
                continue
            pieces = [piece for s, e in pieces for piece in ((s, min(e, o_start)), (max(s, o_end), e)) if piece[1] - piece[0] > 0.3]
        solo.setdefault(speaker, []).extend(pieces)
    return {speaker: sorted(pieces) for speaker, pieces in solo.items()}


def pyannote_sample(cache: Path) -> tuple[Audio, list[tuple[str, float, float]]]:
    """The pyannote sample recording and its RTTM turns, from the wheel (downloaded once into ``cache``)."""
    folder = cache / "pyannote"
    wheels = sorted(folder.glob("pyannote_audio-*.whl"))
    if not wheels:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), PYANNOTE_WHEEL],
                       check=True, capture_output=True)
        wheels = sorted(folder.glob("pyannote_audio-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        if not (folder / "sample.wav").exists():
            (folder / "sample.wav").write_bytes(wheel.read(f"{SAMPLE}.wav"))
        rttm = wheel.read(f"{SAMPLE}.rttm").decode()
    return load_audio(folder / "sample.wav"), rttm_turns(rttm)


def pyannote_speakers(cache: Path) -> dict[str, Audio]:
    recording, turns = pyannote_sample(cache)
    rate = recording.sample_rate_hz
    speakers = {}
    for speaker, pieces in solo_turns(turns).items():
        clips, total = [], 0.0
        for start, end in pieces:
            if total >= REFERENCE_S:
                break
            clips.append(Audio(recording.samples[int(start * rate):int(end * rate)], rate))
            total += end - start
        joined = _joined(clips)
        speakers[f"pyannote sample {speaker}"] = Audio(joined.samples[:int(REFERENCE_S * rate)], rate)
    return speakers


def human_references(cache: Path) -> dict[str, Audio]:
    """Every recording that could be fetched; says on stderr which could not and why."""
    found: dict[str, Audio] = {}
    for name, fetch in (("alsa-utils", lambda: {"alsa-utils speaker": alsa_speaker(cache)}),
                        ("pyannote.audio", lambda: pyannote_speakers(cache))):
        try:
            found.update(fetch())
        except (OSError, subprocess.CalledProcessError, StopIteration, KeyError, zipfile.BadZipFile) as error:
            print(f"human reference from {name} not available: {error}", file=sys.stderr)
    return found
