"""The dub from start to finish: inputs checked, the performance read, every cue rendered, mixed and written."""

from __future__ import annotations

import json
import time
from pathlib import Path

from emodub import layout, media
from emodub.audio import Audio, atomic_output, save_channels
from emodub.cast import diarize, save_cast
from emodub.consent import require_consent
from emodub.disclosure import NOT_MARKED_WARNING, Disclosure
from emodub.dub.direction import as_vector
from emodub.dub.inputs import ANALYSIS_RATE_HZ, TRUNCATION_SLACK_S, load_voices, named, output_paths, voice_map
from emodub.dub.mix import channel_balance, mix_lines
from emodub.dub.options import EVERYONE, DubOptions
from emodub.dub.performance import read_performance
from emodub.dub.plan import assign_speakers, cue_job, needs_cast
from emodub.dub.render import Synthesizer, build_profiles, run_jobs
from emodub.dub.report import DubReport, cue_result, models_of
from emodub.dub.session import DubSession
from emodub.errors import InputError
from emodub.progress import Progress
from emodub.subtitles import read_script, write_srt
from emodub.workers import warm_up


def prepare(video: Path, script: str | Path, voices: str | Path | dict[str, str | Path] | list[str], output: Path,
             options: DubOptions, notify: Progress, *, warm_workers: bool = False) -> tuple[DubSession, layout.Tracks, Audio]:
    """Everything before synthesis: probe, script, voices, cast, reading the original performance."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    info = media.probe(video)
    if not info.has_video:
        raise InputError(f"video {str(video)!r} has no video stream; emodub dub needs a video (use 'emodub say' for audio)")
    if not info.has_audio:
        raise InputError(f"video {str(video)!r} has no audio stream; there is no original performance to dub over")
    codec = layout.choose_codec(info, output.suffix, options.audio_codec)
    parsed = read_script(script, media_duration_s=info.duration_s, fps=info.fps)
    cues = parsed.cues
    unknown = sorted(set(options.cue_emotions) - {cue.index for cue in cues})
    if unknown:
        raise InputError(f"cue_emotions names cue(s) {', '.join(map(str, unknown))}, which the script does not have "
                         f"(it has cues 1–{len(cues)})")
    voice_files = voice_map(voices)
    references, warnings = load_voices(voice_files)
    warnings += parsed.warnings
    if not options.watermark:
        warnings.append(NOT_MARKED_WARNING)
    if options.commercial:
        warnings.append("--commercial: the face reader (FER2013, research data) and the joe and zh-baker voices are left out; "
                        "the emotion is read from the voice alone")
    given_vector, given_qualities, given_warnings = as_vector(options.emotion, options.emotion_text, implied=False)
    warnings += given_warnings
    tracks = layout.extract_tracks(info)
    decoded_s = tracks.samples.shape[0] / tracks.sample_rate_hz
    if decoded_s < info.duration_s - TRUNCATION_SLACK_S:
        raise InputError(f"video {str(video)!r} is cut short: its header says {info.duration_s:.2f} s but its sound ends at "
                         f"{decoded_s:.2f} s (a truncated or damaged file); repair or re-export it")
    track16 = tracks.dialogue_mix().resampled(ANALYSIS_RATE_HZ)
    timings["probe and decode"] = time.perf_counter() - started
    if warm_workers and options.workers > 1 and len(cues) > 1:  # the inputs hold: workers load their models while this process reads
        warm_up(options.workers)

    cast = None
    if needs_cast(cues, voice_files):
        t0 = time.perf_counter()
        cast = diarize(track16, n_speakers=options.speakers, progress=lambda done, total: notify("cast", done, total))
        saved = save_cast(cast, output.parent, prefix=f"{output.stem}.voice-")
        for speaker in cast.speakers:
            if speaker.reference is not None and speaker.label in saved:
                references[f"cast:{speaker.label}"] = speaker.reference
                voice_files[f"cast:{speaker.label}"] = saved[speaker.label]
            warnings += [f"{speaker.label}: {w}" for w in speaker.warnings]
        timings["cast"] = time.perf_counter() - t0
    assigned = assign_speakers(cues, voice_files, cast)
    used = {key for row in assigned for _, key in row} | {speaker for row in assigned for speaker, _ in row}
    for name in dict.fromkeys([*voice_files, *options.speaker_emotions]):
        if name != EVERYONE and not name.startswith("cast:") and named(dict.fromkeys(s for s in used if s), name) is None:
            warnings.append(f"{name!r} speaks no line of the script (names: the script's NAME: prefixes, ASS names, "
                            "[speaker: …] tags, or the cast labels SPEAKER_n); its voice or emotion is not used")

    t0 = time.perf_counter()
    detected = read_performance(cues, info, track16, options, cast, notify)
    timings["recognise"] = time.perf_counter() - t0
    session = DubSession(video, Path(script), options, codec, info.audio_layout, info.duration_s, parsed.format, parsed.encoding,
                         list(cues), voice_files,
                         references, assigned, detected, (given_vector, given_qualities), warnings,
                         None if cast is None else cast.to_dict(), timings, fps=info.fps)
    return session, tracks, track16


def dub_video(video: str | Path, script: str | Path, voices: str | Path | dict[str, str | Path] | list[str], output: str | Path, *,
              options: DubOptions | None = None, report_path: str | Path | None = None, hook: Progress | None = None,
              session_path: str | Path | None = None, synthesize: Synthesizer | None = None) -> DubReport:
    """Dub ``video`` with the lines of ``script`` in the given voices (or the video's own); write video, WAV, SRT and report.

    With ``session_path``, the :class:`DubSession` is kept there for :func:`redub_cue`.  ``synthesize``
    runs the cues' jobs somewhere else (the Ray runner spreads a long video's cues over a cluster);
    by default they run here, in ``options.workers`` processes.
    """
    if options is None:
        require_consent(None)  # a dub clones voices: the options must carry the consent statement
    assert options is not None
    notify = hook or (lambda step, done, total: None)
    started = time.perf_counter()
    video, output = Path(video), Path(output)
    session, tracks, track16 = prepare(video, script, voices, output, options, notify, warm_workers=synthesize is None)

    t0 = time.perf_counter()
    build_profiles(session, notify)
    jobs = [job for number in range(len(session.cues)) if (job := cue_job(session, number, track16, tracks.sample_rate_hz))]
    session.timings_s["voice profile"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    session.results, session.failures = (synthesize or run_jobs)(jobs, options.workers, notify)
    session.timings_s["synthesise"] = time.perf_counter() - t0
    report = finish(session, tracks, output, report_path, notify, started)
    if session_path is not None:
        session.save(session_path)
    return report


def finish(session: DubSession, tracks: layout.Tracks, output: Path, report_path: str | Path | None, notify: Progress,
            started: float) -> DubReport:
    """The report's cue records, the mix, and every output written (each atomically)."""
    t0 = time.perf_counter()
    dialogue = tracks.dialogue_mix()
    cue_results, lines, gains, balances = [], [], [], []
    for number, cue in enumerate(session.cues):
        cue_results.append(cue_result(number, cue, session.detected[number], session.plans.get(number, []), session.results.get(number),
                                       session.failures.get(number), session.voice_files, session.references, dialogue))
        synth, record = session.results.get(number), cue_results[-1]
        if synth is not None and synth.audio is not None:
            lines.append((cue.start_s, synth.audio))
            gains.append(record.gain_db or 0.0)
            balances.append(channel_balance(tracks, cue.start_s, cue.end_s))
    dubbed = mix_lines(tracks, lines, gains, balances, session.options, notify)
    timings = session.timings_s
    timings["mix"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    disclosure = Disclosure.of(watermarked=session.options.watermark, models=models_of(session), consent=session.options.consent,
                               voices=dict(session.voice_files), commercial=session.options.commercial,
                               would_use=("joe", "zh-baker", "fer"))
    tags, disclosed = disclosure.provenance("builtin").tags(), disclosure.to_dict()
    _, wav_path, srt_path, default_report = output_paths(output)
    report_path = Path(report_path) if report_path is not None else default_report
    save_channels(dubbed.samples, dubbed.sample_rate_hz, wav_path, tags=tags, bits=24)
    with atomic_output(output) as tmp:
        media.mux(session.video, dubbed, tmp, codec=session.codec, layout=session.audio_layout, metadata=tags)
    with atomic_output(srt_path) as tmp:
        write_srt([(r.start_s, r.start_s + (r.measured_duration_s or r.end_s - r.start_s), r.text) for r in cue_results if r.text], tmp)
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    codec = session.codec
    report = DubReport(str(session.video), str(session.script), {name: str(path) for name, path in session.voice_files.items()},
                       str(output), cue_results, {k: round(v, 3) for k, v in timings.items()}, session.options.consent,
                       list(session.warnings), tags, session.script_format, session.script_encoding,
                       {"layout": tracks.layout, "channels": tracks.names, "dialogue_channels": [tracks.names[c] for c in tracks.dialogue],
                        "sample_rate_hz": tracks.sample_rate_hz, "codec": codec.name, "bit_rate": codec.bit_rate, "codec_reason": codec.reason},
                       session.cast, disclosure.watermark_record(), disclosed["models"], disclosure.voices_sha256,
                       disclosed["excluded_for_commercial_use"])
    with atomic_output(report_path) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    notify("done", 1, 1)
    return report
