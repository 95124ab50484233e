"""The builtin engine end to end on small inputs made here (flite / espeak-ng speech)."""

import numpy as np
import pytest

from emodub.audio import Audio
from emodub.emotion.space import EMOTION_NAMES, EmotionVector, VoiceQualities
from emodub.engines.base import SynthesisRequest, get_engine
from emodub.engines.builtin import world
from emodub.engines.builtin.base_voice import synthesize_base
from emodub.errors import InputError
from emodub.timing import DurationPlan
from emodub.voice import speaker_similarity

TEXT_EN = "I never thought you would come back here today."
TEXT_ZH = "你怎么敢这样对我"


@pytest.fixture(scope="module")
def engine():
    return get_engine("builtin")


def say(engine, reference, text=TEXT_EN, **kwargs):
    kwargs.setdefault("base_voice", "flite-slt" if "zh" not in kwargs.get("language", "") else None)
    return engine.synthesize(SynthesisRequest(text=text, speaker_reference=reference, **kwargs))


@pytest.mark.parametrize("name", EMOTION_NAMES)
def test_every_preset_synthesises(engine, reference, name):
    result = say(engine, reference, emotion=EmotionVector.preset(name))
    assert result.audio.duration_s > 1.0
    assert result.audio.rms_dbfs > -45
    assert np.isfinite(result.audio.samples).all()


def test_mandarin_synthesises(engine, reference):
    from emodub.engines.builtin import probes

    result = engine.synthesize(SynthesisRequest(text=TEXT_ZH, speaker_reference=reference,
                                                emotion=EmotionVector.preset("angry")))
    assert result.applied["language"] == "zh"
    assert result.applied["base_voice"] in ("zh-baker", "kokoro")  # espeak-cmn is far less intelligible: the search leaves it out
    natural = result.applied["naturalness_probe"]
    assert natural["judge"] == "distillmos" and (natural["adapted"] >= natural["limit"] or result.warnings)
    assert result.audio.duration_s > 1.0
    checked = result.applied["probe_intelligibility"]  # how the search's ear checked the chosen voice
    assert checked["ear"].endswith("read along") and checked["candidates_heard"] >= 1
    assert checked["limit"] == round(checked["clearest_base_voice"] + probes.EAR_MARGIN, 4)
    assert checked["share_lost"] <= checked["limit"] or checked["candidates_heard"] > 1


@pytest.mark.parametrize("ratio", [0.75, 0.85, 1.0, 1.1, 1.25])
def test_length_is_exact_across_ratios(engine, reference, ratio):
    result = say(engine, reference, duration=DurationPlan("controlled", ratio=ratio))
    target = result.free_duration_s * ratio
    assert abs(result.audio.duration_s - target) * 1000 <= 1.0
    assert len(result.audio.samples) == round(result.target_duration_s * result.audio.sample_rate_hz)


@pytest.mark.parametrize("seconds", [1.8, 2.5, 3.3])
def test_length_is_exact_for_target_seconds(engine, reference, seconds):
    result = say(engine, reference, emotion=EmotionVector.preset("sad"),
                 duration=DurationPlan("controlled", target_duration_s=seconds))
    assert abs(result.audio.duration_s - seconds) * 1000 <= 1.0


def test_free_mode_keeps_natural_length(engine, reference):
    neutral = say(engine, reference)
    base = synthesize_base("flite-slt", TEXT_EN)
    assert neutral.audio.duration_s == pytest.approx(neutral.free_duration_s, rel=0.02)
    assert neutral.audio.duration_s == pytest.approx(base.duration_s, rel=0.02)


def test_sad_is_slower_than_angry_in_free_mode(engine, reference):
    sad = say(engine, reference, emotion=EmotionVector.preset("sad"))
    angry = say(engine, reference, emotion=EmotionVector.preset("angry"))
    assert sad.audio.duration_s > angry.audio.duration_s


def _modulation_spectrum(log_f0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spectrum = np.abs(np.fft.rfft(log_f0 - log_f0.mean())) ** 2
    return np.fft.rfftfreq(len(log_f0), d=world.FRAME_PERIOD_MS / 1000), spectrum


def test_tremor_shows_a_4_to_8_hz_peak(engine, reference):
    """Same line with and without 'tremble' (same timing): the F0 difference peaks at 4–8 Hz."""
    plain = world.analyze(say(engine, reference).audio).f0_hz
    shaking = world.analyze(say(engine, reference, qualities=VoiceQualities(tremble=1.0)).audio).f0_hz
    both = (plain > 0) & (shaking > 0)
    assert both.mean() > 0.3
    index = np.arange(len(plain))
    diff = np.interp(index, index[both], np.log(shaking[both]) - np.log(plain[both]))
    freqs, spectrum = _modulation_spectrum(diff)
    band = (freqs >= 1) & (freqs <= 20)
    peak_hz = freqs[band][np.argmax(spectrum[band])]
    assert 4.0 <= peak_hz <= 8.0


def test_whisper_is_unvoiced(engine, reference):
    whisper = say(engine, reference, qualities=VoiceQualities(whisper=1.0)).audio
    features = world.analyze(whisper)
    assert features.voiced.mean() < 0.1
    assert world.analyze(say(engine, reference).audio).voiced.mean() > 0.3


def test_timbre_adaptation_raises_similarity(engine, reference):
    adapted = say(engine, reference, base_voice="joe").audio
    raw = synthesize_base("joe", TEXT_EN)
    assert speaker_similarity(adapted, reference) > speaker_similarity(raw, reference) + 0.02


def test_emotion_reference_changes_prosody(engine, reference):
    sad_ref = say(engine, reference, emotion=EmotionVector.preset("sad")).audio
    happy_ref = say(engine, reference, emotion=EmotionVector.preset("surprised")).audio
    from_sad = say(engine, reference, text="Please open the door.", emotion_reference=sad_ref)
    from_happy = say(engine, reference, text="Please open the door.", emotion_reference=happy_ref)
    def median_f0(audio):
        features = world.analyze(audio)
        return np.median(features.f0_hz[features.voiced])

    assert median_f0(from_happy.audio) > median_f0(from_sad.audio) * 1.1


def test_wrong_language_base_voice_is_refused(engine, reference):
    with pytest.raises(InputError, match="'flite-slt' does not speak 'zh'"):
        engine.synthesize(SynthesisRequest(text=TEXT_ZH, speaker_reference=reference, base_voice="flite-slt"))


def test_unknown_base_voice_is_refused(engine, reference):
    with pytest.raises(InputError, match="'bob'"):
        say(engine, reference, base_voice="bob")


def test_engine_output_is_finite_for_a_tone_reference(engine):
    """A non-speech reference (a pure tone) must not crash the profile search."""
    t = np.arange(3 * 16000) / 16000
    tone = Audio((0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000)
    result = say(engine, tone, text="Hello there.")
    assert np.isfinite(result.audio.samples).all()


def test_seed_makes_the_neural_base_voice_reproducible():
    first, again = synthesize_base("joe", TEXT_EN, seed=1), synthesize_base("joe", TEXT_EN, seed=1)
    other = synthesize_base("joe", TEXT_EN, seed=2)
    assert np.array_equal(first.samples, again.samples)
    assert len(other.samples) != len(first.samples) or not np.array_equal(other.samples, first.samples)


def test_flite_phone_timings_drive_the_length_fit(engine, reference):
    from emodub.engines.builtin.base_voice import synthesize_base_timed

    audio, phones = synthesize_base_timed("flite-slt", TEXT_EN)
    assert phones and phones[0][0] == "pau" and phones[-1][1] == pytest.approx(audio.duration_s, abs=0.05)
    result = say(engine, reference, duration=DurationPlan("controlled", target_duration_s=3.1))
    assert result.applied["pauses_from"] == "phone timings"
    assert abs(result.audio.duration_s - 3.1) <= 0.001
    assert synthesize_base_timed("joe", TEXT_EN)[1] is None


@pytest.mark.parametrize("final_vowel_start", [120, 150, 175])
def test_anchored_contours_rise_over_the_last_vowel_and_drift_over_the_speech(final_vowel_start):
    from emodub.engines.builtin.render import ContourAnchors, ProsodyShape, apply_contours

    n = 200
    f0 = np.where(np.arange(n) <= 180, 200.0, 0.0)  # voiced up to the end of the speech
    flat = world.WorldFeatures(f0, np.ones((n, 9)), np.zeros((n, 9)), 16000)
    shape = ProsodyShape(final_rise_st=4.0, declination_st=-2.0)
    out = apply_contours(flat, shape, ContourAnchors(speech_start=20, speech_end=180, final_vowel_start=final_vowel_start))
    semitones = 12 * np.log2(out.f0_hz[:181] / 200.0)
    assert np.allclose(semitones[:21], 0.0)  # no drift before the speech starts
    assert semitones[180] == pytest.approx(-2.0 + 4.0)  # full declination + full rise at the end of the voicing
    rise = semitones + 2.0 * np.clip((np.arange(181) - 20) / 160, 0, 1)  # declination removed
    assert np.allclose(rise[:final_vowel_start + 1], 0.0) and rise[final_vowel_start + 5] > 0.0


def test_flite_phone_timings_anchor_the_contours(engine, reference):
    question = say(engine, reference, text="Are you really coming with us tonight?", emotion=EmotionVector.preset("surprised"))
    assert question.applied["contours_anchored_on"] == "phone timings"
    assert say(engine, reference, base_voice="joe").applied["contours_anchored_on"] == "whole line"


@pytest.mark.parametrize("k", [1, 4])
def test_frame_matching_takes_the_mean_of_the_nearest_reference_frames(k):
    from emodub.engines.builtin.timbre import nearest_frames_mean

    frames = np.random.default_rng(0).normal(size=(60, 8))
    queries = frames[[5, 17, 40]] + 1e-4  # each query sits on one reference frame
    matched = nearest_frames_mean(queries, frames, k)
    for query, row in zip(queries, matched):
        distances = np.sum((frames[:, 1:] - query[1:]) ** 2, axis=1)
        assert np.allclose(row, frames[np.argsort(distances)[:k]].mean(axis=0))


def test_more_frame_matching_is_closer_to_the_reference(engine, reference):
    outputs = {share: say(engine, reference, frame_match=share) for share in (0.0, 1.0)}
    assert {share: out.applied["frame_match"] for share, out in outputs.items()} == {0.0: 0.0, 1.0: 1.0}
    similarity = {share: speaker_similarity(out.audio, reference) for share, out in outputs.items()}
    assert similarity[1.0] > similarity[0.0]


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_frame_match_outside_0_to_1_is_refused(reference, share):
    with pytest.raises(InputError, match="frame_match .* outside the allowed range 0..1"):
        SynthesisRequest(text=TEXT_EN, speaker_reference=reference, frame_match=share)


def test_base_probes_are_made_once_and_read_back_the_same(tmp_path, monkeypatch):
    """A base voice's probe material does not depend on the reference: made once per machine, read back identical."""
    from emodub.engines.builtin import probes, timbre

    monkeypatch.setenv("EMODUB_MODEL_DIR", str(tmp_path))
    probes.base_probes.cache_clear()
    made = probes.base_probes("flite-slt", "en")
    assert len(list((tmp_path / "base-probes").glob("flite-slt-en-*.npz"))) == 1
    probes.base_probes.cache_clear()
    read = probes.base_probes("flite-slt", "en")
    for a, b in zip(made.features, read.features):
        assert np.array_equal(a.f0_hz, b.f0_hz) and np.array_equal(a.sp, b.sp) and np.array_equal(a.ap, b.ap)
    assert np.array_equal(made.embeddings, read.embeddings) and len(read.features) == len(probes.PROBE_TEXTS["en"])
    fresh = probes.without_long_pauses(world.analyze(synthesize_base("flite-slt", probes.PROBE_TEXTS["en"][0])))  # kept: the analysis
    assert read.features[0].sample_rate_hz == fresh.sample_rate_hz  # WORLD's rate (22.05 kHz), not flite's 16 kHz
    assert np.max(np.abs(10 * np.log10(fresh.sp / read.features[0].sp))) < 1e-3
    assert np.allclose(world.synthesize(fresh).samples, world.synthesize(read.features[0]).samples, atol=1e-3)
    assert sum(p.stat().st_size for p in (tmp_path / "base-probes").iterdir()) < 30e6
    for (warp, band), (mean, std) in list(read.statistics.items())[::7]:  # stored statistics equal those made on demand
        assert np.allclose(mean, probes.unstored_statistics("flite-slt", "en", warp, band)[0])
        assert np.allclose(std, probes.unstored_statistics("flite-slt", "en", warp, band)[1])
    assert len(read.extra) == len(probes.EAR_EXTRA_TEXTS["en"]) and read.extra[0].sample_rate_hz == world.ANALYSIS_RATE_HZ
    probes.stored_coded.cache_clear()
    coded = probes.stored_coded("flite-slt", "en", 8000.0)  # the renders' coded warps, kept per band beside the probes
    sentences = read.features + read.extra
    assert set(coded) == {(w, i) for w in probes.searched_warps("en") for i in range(len(sentences))}
    for (warp, index), stored in list(coded.items())[::11]:
        assert np.allclose(stored, timbre.warped(sentences[index], warp, 8000.0).coded, atol=1e-4)
    assert len(list((tmp_path / "base-probes").glob("flite-slt-en-*-coded-8000.npz"))) == 1
    assert sum(p.stat().st_size for p in (tmp_path / "base-probes").iterdir()) < 40e6
    probes.base_probes.cache_clear()
    probes.stored_coded.cache_clear()


@pytest.mark.parametrize("warp", [0.85, 1.0, 1.25])
@pytest.mark.parametrize("first_bin", [0, 300, 512])
def test_a_warped_envelope_read_from_a_bin_on_is_that_part_of_the_whole(reference, warp, first_bin):
    """Renders read only the warped envelope above the reference's band: the same values as the whole warp there."""
    from emodub.engines.builtin import timbre

    sp = world.analyze(reference).sp
    whole = timbre.warp_envelope(sp, warp)
    assert whole.shape == sp.shape
    assert np.allclose(timbre.warp_envelope(sp, warp, first_bin), whole[:, first_bin:], rtol=1e-12)
    moved = np.argmax(whole.mean(axis=0)[:200]) - np.argmax(sp.mean(axis=0)[:200])  # the strongest low peak moves up by > 1
    assert (moved > 0) == (warp > 1.0) or moved == 0


@pytest.mark.parametrize("plan", ["quick", "pruned"])
def test_the_search_renders_only_what_its_plan_says_and_keeps_the_words(reference, plan, monkeypatch):
    """Screened candidates are rendered on one probe, finalists on all; a pruned plan searches the closest voices only."""
    from emodub.engines.builtin import probes, timbre, timbre_search, voice_profile
    from emodub.voice import cosine, speaker_embedding

    plans = {"quick": timbre_search.QUICK_SEARCH,
             "pruned": timbre_search.SearchPlan(screen_probes=1, finalists=2, fine_steps=1, pruned_voices=1, render_rate_hz=16000)}
    search = plans[plan]
    candidates = ["flite-kal16", "flite-awb", "espeak-en"]
    renders: list[tuple[str, float]] = []
    real_render = timbre.render_choice
    counted = lambda source, profile, choice, rate: (renders.append((choice.base_voice, choice.warp)),  # noqa: E731
                                                     real_render(source, profile, choice, rate))[1]
    for renderer in (timbre_search, probes):  # the search's scoring renders and the ear's hearings
        monkeypatch.setattr(renderer, "render_choice", counted)
    ticks = []
    choice = timbre_search.choose_voice(reference, voice_profile.describe_reference(reference), "en", candidates=candidates, plan=search,
                                        progress=lambda done, total: ticks.append((done, total)))
    probe_count, ear_sentences = len(probes.PROBE_TEXTS["en"]), len(probes.ear_texts("en"))
    scoring = renders[:len(renders) - choice.hearings * (ear_sentences - probe_count)]  # the ear hears the probes GE2E was given
    assert all(renders.count(r) in (1, probe_count, ear_sentences) for r in set(renders))
    searched = len(candidates) if search.pruned_voices is None else search.pruned_voices
    fully_scored = {r for r in scoring if scoring.count(r) == probe_count}
    assert len(set(scoring)) <= searched * len(timbre_search.COARSE_WARPS) + search.fine_voices * 2 * search.fine_steps
    assert len(fully_scored) <= 2 * search.finalists  # the coarse stage's finalists and the fine stage's
    assert (choice.base_voice, choice.warp) in fully_scored  # the choice was scored on every probe
    ref_embedding = speaker_embedding(reference)
    closeness = {v: np.mean([cosine(e, ref_embedding) for e in probes.base_probes(v, "en").embeddings]) for v in candidates}
    if search.pruned_voices:
        assert {v for v, _ in scoring} == set(sorted(candidates, key=lambda v: -closeness[v])[:search.pruned_voices])
    assert choice.base_voice == "flite-kal16"  # the reference is flite kal16: its own voice is the closest and keeps the words
    assert choice.probe_error is not None and choice.probe_error <= choice.error_limit and choice.hearings >= 1
    assert choice.base_similarity == pytest.approx(max(closeness.values()), abs=1e-4)
    assert all(done <= total for done, total in ticks) and ticks[-1][0] == len(set(scoring)) + len(fully_scored) + choice.hearings


def test_the_ear_reads_the_probes_along_in_whisper_windows(monkeypatch):
    """Probe sentences too long for one 30-s window are read in several, in order, and every word is counted once."""
    from emodub.ear import WhisperEar, default_ear
    from emodub.engines.builtin import probes

    ear = default_ear()
    texts = probes.ear_texts("en")
    second = np.zeros(16000, np.float32)
    rendered = [Audio(np.concatenate([synthesize_base("flite-slt", t).resampled(16000).samples, second]), 16000) for t in texts]
    windows: list[tuple[float, str]] = []
    real = WhisperEar.read_along
    monkeypatch.setattr(WhisperEar, "read_along", lambda self, audio, text, language: (windows.append((audio.duration_s, text)),
                                                                                         real(self, audio, text, language))[1])
    lost = probes.probe_error(rendered, "en", ear)
    assert len(windows) >= 2 and all(seconds <= 30.0 for seconds, _ in windows)
    assert " ".join(text for _, text in windows) == " ".join(texts)
    assert sum(seconds for seconds, _ in windows) == pytest.approx(sum(r.duration_s for r in rendered) + len(texts) * probes.PROBE_GAP_S)
    assert 0.0 <= lost < probes.base_probe_error("flite-slt", "en", ear) + probes.EAR_MARGIN  # flite-slt's own voice keeps its words


def test_base_voices_unclear_on_their_own_and_costly_warps_are_not_searched(reference, monkeypatch):
    """espeak-ng's Mandarin is far less clear to the ear than zh-baker: no warp can make it clear, so it is never rendered."""
    from emodub.ear import default_ear
    from emodub.engines.builtin import probes, timbre, timbre_search, voice_profile

    ear = default_ear()
    assert probes.base_probe_error("espeak-cmn", "zh", ear) > probes.base_probe_error("zh-baker", "zh", ear) + probes.EAR_MARGIN
    asked: list[str] = []
    real_base_probes = probes.base_probes
    for reader in (timbre_search, probes):  # the search and the candidates it builds
        monkeypatch.setattr(reader, "base_probes", lambda voice, language: (asked.append(voice), real_base_probes(voice, language))[1])
    warps: list[float] = []
    real_render = timbre.render_choice
    monkeypatch.setattr(timbre_search, "render_choice", lambda source, profile, choice, rate: (warps.append(choice.warp),
                                                                                          real_render(source, profile, choice, rate))[1])
    choice = timbre_search.choose_voice(reference, voice_profile.describe_reference(reference), "zh", candidates=["espeak-cmn", "zh-baker"])
    assert choice.base_voice == "zh-baker" and set(asked) == {"zh-baker"}
    low, high = probes.WARP_RANGE["zh"]  # warps that cost Mandarin characters are never tried
    assert warps and all(low <= warp <= high for warp in warps)
    assert choice.probe_error is not None and choice.hearings >= 1


@pytest.mark.parametrize(("rate_hz", "fft_size"), [(16000, 512), (16000, 1024), (11025, 512)])
def test_a_render_at_a_lower_rate_is_the_same_voice_and_length(reference, rate_hz, fft_size):
    """``world.at_rate`` keeps every frame and the voice: GE2E hears the same speaker as in the full-rate render."""
    from emodub.voice import speaker_similarity

    features = world.analyze(reference)
    low = world.at_rate(features, rate_hz, fft_size)
    assert low.sp.shape == (features.n_frames, fft_size // 2 + 1) and low.sample_rate_hz == rate_hz
    assert np.array_equal(low.f0_hz, features.f0_hz)
    full, rendered = world.synthesize(features), world.synthesize(low)
    assert abs(rendered.duration_s - full.duration_s) < 0.006
    assert speaker_similarity(rendered, full) > 0.95


@pytest.mark.parametrize(("stride", "dio_speed"), [(1, 1), (2, 1), (2, 2)])
def test_a_strided_analysis_describes_the_same_voice(reference, stride, dio_speed):
    """The reference is described on every 2nd frame with a faster F0 tracker: its statistics barely move."""
    from emodub.engines.builtin import timbre

    full = world.analyze(reference)
    strided = world.analyze(reference, frame_stride=stride, dio_speed=dio_speed)
    assert strided.frame_period_ms == full.frame_period_ms * stride
    assert abs(strided.n_frames - -(-full.n_frames // stride)) <= 1
    (mean, spread), (full_mean, full_spread) = world.log_f0_stats(strided), world.log_f0_stats(full)
    assert abs(mean - full_mean) < 0.01 and abs(spread - full_spread) < 0.01  # 0.01 in log-F0: a sixth of a semitone
    coded, full_coded = timbre.voiced_coded(strided), timbre.voiced_coded(full)
    assert np.abs(coded.mean(0) - full_coded.mean(0)).max() < 0.05 * np.abs(full_coded.mean(0)).max()


@pytest.mark.parametrize("pause_s", [0.05, 0.4, 1.5])
def test_probes_keep_no_long_pause(reference, pause_s):
    """Pauses are cut to ``PROBE_PAUSE_S`` (so GE2E needs no voice-activity trim); speech frames stay, in order."""
    from emodub.engines.builtin import probes

    speech = reference.samples[:int(1.5 * reference.sample_rate_hz)]
    gap = np.zeros(int(pause_s * reference.sample_rate_hz), np.float32)
    features = world.analyze(Audio(np.concatenate([gap, speech, gap, speech, gap]), reference.sample_rate_hz))
    kept = probes.without_long_pauses(features)
    energy = features.frame_energy_db()
    loud = energy >= energy.max() - probes.PAUSE_DB
    longest = int(probes.PROBE_PAUSE_S * 1000 / features.frame_period_ms)
    kept_energy = kept.frame_energy_db()
    quiet = kept_energy < energy.max() - probes.PAUSE_DB
    assert np.array_equal(kept_energy[~quiet], energy[loud])  # every frame of speech, in order
    runs = np.diff(np.flatnonzero(np.concatenate([[True], ~quiet, [True]]))) - 1
    assert runs.max() <= longest
