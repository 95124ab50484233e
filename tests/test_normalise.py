"""Per-speaker normalisation of the voice's cues: invariants, fallback to the prior, and what it fixes."""

import numpy as np
import pytest

from conftest import flite_wav
from emodub.audio import Audio, load_audio
from emodub.emotion.analysis import read_voices
from emodub.emotion.normalise import MIN_SPEAKER_SPEECH_S, PopulationNorms, speaker_norms
from emodub.emotion.speech import CUE_NAMES, AcousticSER
from emodub.errors import InputError

SENTENCES = ["The meeting moved to Thursday afternoon.", "Please bring the blue folder with you.",
             "The train leaves from platform four.", "We will need two more chairs in here.",
             "She said the report is almost finished.", "Turn left after the old post office."]
RATE = 16000


@pytest.fixture(scope="module")
def lines(tmp_path_factory) -> dict[str, list[Audio]]:
    """The same calm sentences read by a man (flite awb) and a woman (flite slt)."""
    folder = tmp_path_factory.mktemp("norm")
    return {voice: [load_audio(flite_wav(folder / f"{voice}{i}.wav", text, voice)).resampled(RATE) for i, text in enumerate(SENTENCES)]
            for voice in ("awb", "slt")}


def _media(pieces: list[Audio], gap_s: float = 0.4) -> tuple[Audio, list[tuple[float, float]]]:
    samples, spans, t = [], [], 0.0
    for piece in pieces:
        samples += [piece.samples, np.zeros(int(gap_s * RATE), np.float32)]
        spans.append((t, t + piece.duration_s))
        t += piece.duration_s + gap_s
    return Audio(np.concatenate(samples), RATE), spans


@pytest.mark.parametrize("cue", CUE_NAMES)
def test_a_speakers_own_median_segment_is_their_neutral(cue):
    prior = PopulationNorms.load()
    rng = np.random.default_rng(0)
    rows = [{c: prior.means[c] + 2 * prior.spreads[c] + rng.normal(0, prior.spreads[c]) for c in CUE_NAMES} for _ in range(41)]
    norms, warnings = speaker_norms(rows, speech_s=3600.0, prior=prior)
    middle = {c: float(np.median([r[c] for r in rows])) for c in CUE_NAMES}
    assert not warnings and norms.own_weight > 0.99
    assert abs(norms.z_scores(middle)[cue]) < 0.05


def test_too_little_speech_falls_back_to_the_prior_with_a_warning():
    prior = PopulationNorms.load()
    row = {c: prior.means[c] for c in CUE_NAMES}
    norms, warnings = speaker_norms([row], speech_s=MIN_SPEAKER_SPEECH_S / 2, prior=prior)
    assert norms.own_weight == 0 and norms.source == "prior" and "population norms" in warnings[0]
    assert all(abs(z) < 1e-9 for name, z in norms.z_scores(row).items() if name not in ("f0_mean_st", "energy_db"))
    with pytest.raises(InputError, match="speech duration -1"):
        speaker_norms([row], speech_s=-1.0)


@pytest.mark.parametrize("gain", [0.25, 0.5])
def test_a_constant_gain_does_not_change_the_reading(lines, gain):
    media, spans = _media(lines["awb"])
    louder = Audio(np.clip(media.samples * gain, -1, 1), RATE)
    before = read_voices(spans, ["A"] * len(spans), media, AcousticSER())
    after = read_voices(spans, ["A"] * len(spans), louder, AcousticSER())
    for (one, _), (two, _) in zip(before, after):
        assert one.z_scores.keys() == two.z_scores.keys()
        assert max(abs(one.z_scores[c] - two.z_scores[c]) for c in one.z_scores) < 0.05
        assert one.dimensions["arousal_z"] == pytest.approx(two.dimensions["arousal_z"], abs=0.05)


def test_the_higher_voice_is_not_aroused_just_for_being_higher(lines):
    """Two people's calm lines in one scene: per speaker, neither reads aroused; pooled, the woman would."""
    pieces = [p for pair in zip(lines["awb"], lines["slt"]) for p in pair]
    media, spans = _media(pieces)
    who = ["awb", "slt"] * len(SENTENCES)
    per_speaker = read_voices(spans, who, media, AcousticSER())
    pooled = read_voices(spans, [None] * len(spans), media, AcousticSER())
    woman = [i for i, w in enumerate(who) if w == "slt"]
    assert np.median([per_speaker[i][0].dimensions["arousal_z"] for i in woman]) < 0.5
    assert np.median([per_speaker[i][0].z_scores["f0_mean_st"] for i in woman]) == pytest.approx(0.0, abs=0.6)
    pooled_f0 = np.median([pooled[i][0].z_scores["f0_mean_st"] for i in woman])
    assert pooled_f0 > np.median([per_speaker[i][0].z_scores["f0_mean_st"] for i in woman]) + 0.5  # what per-speaker norms remove


def test_raised_pitch_and_level_read_higher_arousal_for_the_same_speaker(lines):
    import librosa

    calm = lines["awb"]
    raised = [Audio(np.clip(librosa.effects.pitch_shift(p.samples, sr=RATE, n_steps=4) * 2.0, -1, 1), RATE) for p in calm[:3]]
    lowered = [Audio(librosa.effects.pitch_shift(p.samples, sr=RATE, n_steps=-3) * 0.5, RATE) for p in calm[3:]]
    media, spans = _media(calm + raised + lowered)
    read = read_voices(spans, ["A"] * len(spans), media, AcousticSER())
    arousal = [r[0].dimensions["arousal_z"] for r in read]
    n = len(calm)
    assert np.mean(arousal[n:n + 3]) > np.mean(arousal[:n]) + 0.5
    assert np.mean(arousal[n + 3:]) < np.mean(arousal[:n]) - 0.5
    assert all(r[0].normalisation["speaker"] == "A" for r in read)
