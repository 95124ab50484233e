"""The ``emodub`` command line (typer).  Exit 0 on success, 2 on bad input with one ``error:`` line."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from emodub import __version__
from emodub.doctor import run_checks
from emodub.emotion.describe import describe_en
from emodub.emotion.space import EmotionVector
from emodub.emotion.text import text_to_emotion
from emodub.errors import EmodubError, InputError
from emodub.job import DubJob, Job, load_job, parse_job
from emodub.licences import MODELS
from emodub.progress import step_words
from emodub.threads import use_all_cores

CONSENT_HELP = "Required: the voice owner's consent to this cloning (yours too: 'my own voice'); kept in the report and the tags."

app = typer.Typer(
    help="emodub — say new lines in a cloned voice with the emotion you want, at the length you need.\n\n"
    "Synthetic speech: every output is tagged as made by emodub. Clone only voices whose owner consented.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def _fail(message: str, code: int) -> None:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _errors_to_exit_codes():
    try:
        yield
    except InputError as error:
        _fail(str(error), 2)
    except EmodubError as error:
        _fail(str(error), 1)
    except KeyboardInterrupt:
        _fail("interrupted: nothing half-written was kept (every output is renamed into place only when whole)", 130)


STRICT_EXIT = 3  # --strict: verification missed after the last round
WATERMARK_HELP = ("Mark the speech with an inaudible watermark (PerTh) that `emodub detect` finds after re-encoding; "
                  "--no-watermark writes it unmarked, and the report and metadata say so.")
COMMERCIAL_HELP = ("Use only models whose terms allow commercial use (no zh-baker, joe or FER2013 face reader: Mandarin in "
                   "Kokoro, emotion from the voice alone); the report lists what was left out.")
PROFILE_NOTE = ("voice profile: first line in this voice — searching base voices × warps for the closest voice that keeps "
                "the words (about 40–60 s on one free core, several minutes on a busy machine; cached for later lines)")


@contextmanager
def _progress_hook():
    """A rich progress bar (with an estimate of the time left) fed by ``hook(step, completed, total)``.

    When stderr is no terminal the bar is off, but the one long first-use step (the voice
    profile search) is still announced, so a first line never looks hung.
    """
    with Progress(TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.percentage:>3.0f} %"),
                  TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as progress:
        tasks: dict[str, int] = {}

        def hook(step: str, completed: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step_words(step), total=total)
                if step == "voice profile":
                    err.print(PROFILE_NOTE, markup=False, highlight=False, soft_wrap=True)
            progress.update(tasks[step], completed=completed, total=total)

        yield hook


def _check_output(path: Path, inputs: list[Path], what: str = "output", suffixes: tuple[str, ...] = AUDIO_SUFFIXES) -> None:
    """Refuse an output with the wrong suffix, in a missing or unwritable folder, or that is one of the inputs."""
    from emodub.audio import check_writable_folder  # heavy (scipy): loaded only when used

    if path.suffix.lower() not in suffixes:
        raise InputError(f"{what} {str(path)!r} must end in {', '.join(suffixes)}")
    if not path.parent.exists():
        raise InputError(f"{what} folder {str(path.parent)!r} does not exist")
    check_writable_folder(path.parent, what)
    for source in inputs:
        if source.exists() and path.exists() and path.resolve() == source.resolve():
            raise InputError(f"{what} {str(path)!r} is an input file; emodub never overwrites its inputs")


def _run_job(job: Job, output: Path, report_path: Path | None, strict: bool = False) -> None:
    inputs = [p for _, p in job.referenced_files()]
    _check_output(output, inputs)  # before any model loads
    if report_path is not None:
        _check_output(report_path, inputs, "report", (".json",))
    from emodub.pipeline import synthesize_job, write_outputs  # heavy (scipy): loaded only when used

    with _progress_hook() as hook:
        synthesis, report = synthesize_job(job, hook=hook)
    write_outputs(synthesis, report, output, report_path)
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    vector = EmotionVector.from_dict(report.emotion_vector).describe_short() if report.emotion_vector else "reference's own"
    words = _heard_summary(report.intelligibility)
    typer.echo(f"wrote {output} ({report.duration_s:.3f} s, target {report.target_duration_s:.3f} s, "
               f"error {report.duration_error_ms:+.3f} ms, emotion: {vector}, "
               f"speaker similarity {report.speaker_similarity}{words}" + _verification_summary(report.verification) + ")")
    if report_path is not None:
        typer.echo(f"report {report_path}")
    if strict and report.verification is not None and not report.verification["passed"]:
        failed = [c["name"] for c in report.verification["checks"] if c["passed"] is False]
        _fail(f"verification missed ({', '.join(failed)}) after {len(report.verification['rounds'])} round(s) and --strict "
              f"was given; the best round was still written to {output}", STRICT_EXIT)


def _heard_summary(heard: dict | None) -> str:
    """', wer 0.00' (or cer): what the ear made of the line."""
    if heard is None:
        return ""
    metric = "wer" if "wer" in heard else "cer"
    return f", {metric} {heard[metric]:.2f}"


def _verification_summary(verification: dict | None) -> str:
    """', verification passed in 2 round(s), kept round 2: emotion intensity × 0.80 (words missed)'."""
    if verification is None:
        return ", not verified"
    rounds = verification["rounds"]
    summary = f", verification {'passed' if verification['passed'] else 'missed'} in {len(rounds)} round(s)"
    kept = next(r for r in rounds if r["kept"])
    if kept["round"] > 1 and kept["change"] != "as requested":
        summary += f", kept round {kept['round']}: {kept['change']}"  # a weakened request is never silent
    return summary


@app.command()
def say(
    text: Annotated[str, typer.Argument(help="The line to speak (English or Chinese).")],
    voice: Annotated[Path, typer.Option("--voice", help="Voice reference WAV, ideally 3–10 s of one speaker.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output audio file (.wav/.flac/.ogg).")],
    emotion: Annotated[str | None, typer.Option(help="Preset NAME[:INTENSITY], e.g. angry:0.8 or 悲伤:0.5.")] = None,
    emotion_text: Annotated[str | None, typer.Option(help="Description, e.g. 'angrily, voice shaking'.")] = None,
    emotion_audio: Annotated[Path | None, typer.Option(help="Second recording whose emotion to copy.")] = None,
    emotion_vector: Annotated[str | None, typer.Option(help="8 weights: happy,angry,sad,afraid,disgusted,melancholic,surprised,calm.")] = None,
    ratio: Annotated[float | None, typer.Option(help="Length as a ratio 0.75–1.25 of the natural length.")] = None,
    duration: Annotated[float | None, typer.Option(help="Exact length in seconds.")] = None,
    tokens: Annotated[int | None, typer.Option(help="Length in IndexTTS2 tokens (50.08 per second).")] = None,
    mode: Annotated[str | None, typer.Option(help="free | controlled (default: controlled when a length is given).")] = None,
    smoothness: Annotated[float, typer.Option(help="0 = uniform stretch, 1 = change pauses first.")] = 0.5,
    language: Annotated[str | None, typer.Option(help="en | zh (default: detected from the text).")] = None,
    base_voice: Annotated[str | None, typer.Option(help="Builtin base voice (joe, flite-slt, …; default: chosen by similarity).")] = None,
    engine: Annotated[str, typer.Option(help="Engine: builtin (default) or indextts2.")] = "builtin",
    model_dir: Annotated[Path | None, typer.Option(help="IndexTTS2 checkpoint folder (engine indextts2).")] = None,
    engine_version: Annotated[str, typer.Option(help="IndexTTS version: 2 or 2.5 (engine indextts2).")] = "2",
    consent: Annotated[str | None, typer.Option(help=CONSENT_HELP)] = None,
    report: Annotated[Path | None, typer.Option(help="Write a JSON report here.")] = None,
    verify: Annotated[bool, typer.Option(help="Check the output (length, similarity, emotion, WER) and retry misses.")] = True,
    max_rounds: Annotated[int, typer.Option(help="Most synthesis rounds when a check misses (1 = no retry).")] = 3,
    emotion_encoder: Annotated[Path | None, typer.Option(help="train-encoders folder: reads the emotion of --emotion-audio (builtin).")] = None,
    judge_encoder: Annotated[Path | None, typer.Option(help="Folder from train-encoders: the verification judge's emotion reader.")] = None,
    frame_match: Annotated[float | None, typer.Option(help="Builtin: 0 = clearest (default: on real voices any more "
                                                              "cost words) … 1 = closest to the voice.")] = None,
    naturalness_margin: Annotated[float | None, typer.Option(help="Builtin: MOS (DistillMOS) a clone may lose against the most "
                                                                     "natural base voice; default 0.3.")] = None,
    strict: Annotated[bool, typer.Option(help="Exit 3 when verification still misses after the last round.")] = False,
    watermark: Annotated[bool, typer.Option(help=WATERMARK_HELP)] = True,
    commercial: Annotated[bool, typer.Option(help=COMMERCIAL_HELP)] = False,
) -> None:
    """Speak TEXT in the voice of --voice with the chosen emotion and length.

    Base voices: joe (Piper, English), flite-slt/awb/rms/kal16 (English), espeak-en, zh-baker (Mandarin;
    weights trained on the Databaker corpus: non-commercial use only) and espeak-cmn (Mandarin, licence-clean
    fallback, hard to understand).
    """
    with _errors_to_exit_codes():
        sources = []
        if emotion:
            preset = EmotionVector.parse_preset(emotion)  # validates name and intensity
            name = emotion.partition(":")[0]
            sources.append({"method": "preset", "preset": name, "intensity": max(preset.to_list())})
        if emotion_text:
            sources.append({"method": "text", "description": emotion_text})
        if emotion_audio:
            sources.append({"method": "dual_audio", "audio": str(emotion_audio)})
        if emotion_vector:
            sources.append({"method": "vector", "vector": EmotionVector.parse_list(emotion_vector).to_list()})
        control = None if not sources else sources[0] if len(sources) == 1 else {"method": "mix", "sources": sources}
        lengths = {k: v for k, v in {"ratio": ratio, "target_duration_s": duration, "target_token_count": tokens}.items()
                   if v is not None}
        if mode is not None and mode not in ("free", "controlled"):
            raise InputError(f"--mode {mode!r} is not allowed; use free or controlled")
        chosen_mode = mode or ("controlled" if lengths else "free")
        data = {
            "text": text,
            "speaker_reference": str(voice),
            "emotion_control": control,
            "duration_control": {"mode": chosen_mode, "smoothness": smoothness, **lengths},
            "engine": {"name": engine, "base_voice": base_voice, "model_dir": None if model_dir is None else str(model_dir),
                       "version": engine_version, "emotion_encoder": None if emotion_encoder is None else str(emotion_encoder),
                       "frame_match": frame_match, "naturalness_margin": naturalness_margin},
            "consent": consent,
            "language": language,
            "verify": {"enabled": verify, "max_rounds": max_rounds,
                       "emotion_encoder": None if judge_encoder is None else str(judge_encoder)},
            "watermark": watermark,
            "commercial": commercial,
        }
        job = parse_job({k: v for k, v in data.items() if v is not None}, base_dir=Path.cwd())
        _run_job(job, output, report, strict)


@app.command()
def run(
    job_file: Annotated[Path, typer.Argument(help="YAML job file (see docs/job-file.md).")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output audio (default: the job's 'output', else JOB.wav here).")] = None,
    report: Annotated[Path | None, typer.Option(help="Write a JSON report here.")] = None,
    strict: Annotated[bool, typer.Option(help="Exit 3 when verification still misses after the last round.")] = False,
) -> None:
    """Run a YAML job file: one line (``text:``) or a dub (``video:``; see docs/job-file.md)."""
    with _errors_to_exit_codes():
        job = load_job(job_file)
        if isinstance(job, DubJob):
            target = output if output is not None else job.outputs.video
            _dub_one(job.video, job.script, job.voices, target, report or job.outputs.report, job.options(), force=True)
            return
        target = output if output is not None else job.output if job.output is not None else Path(f"{job_file.stem}.wav")
        _run_job(job, target, report, strict)


@app.command()
def emotion(
    description: Annotated[str, typer.Argument(help="Free description, English or Chinese, e.g. '悲伤地低语'.")],
) -> None:
    """Print the EmotionVector (and voice qualities) a description maps to, as JSON."""
    with _errors_to_exit_codes():
        result = text_to_emotion(description)
        typer.echo(json.dumps(result.to_json_dict(), ensure_ascii=False, indent=2))
        for warning in result.warnings:
            err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def analyze(
    media_file: Annotated[Path, typer.Argument(metavar="MEDIA", help="Video (mp4/mkv/mov/webm) or audio file.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the per-segment analysis here (.json).")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG timeline of the 8 emotions here.")] = None,
    fps: Annotated[float, typer.Option(help="Video frames analysed per second.")] = 5.0,
    face_weight: Annotated[float, typer.Option(help="Weight of the face in the fusion (0 = voice only).")] = 0.5,
    voice_weight: Annotated[float, typer.Option(help="Weight of the voice in the fusion (0 = face only).")] = 0.5,
    ser_model: Annotated[str | None, typer.Option(help="SER: 'acoustic' (default), a .json from train-ser, or a SpeechBrain folder.")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Calm speech of the same speaker: the acoustic SER's baseline.")] = None,
    emotion_encoder: Annotated[Path | None, typer.Option(help="Folder from train-encoders: its emotion encoder is the SER.")] = None,
) -> None:
    """Recognise how the person in MEDIA feels, per speech segment: face + voice, fused and described."""
    from emodub.audio import atomic_output, load_audio  # heavy (scipy): loaded only when used
    from emodub.emotion.analysis import analyze_media, plot_timeline  # heavy (scipy): loaded only when used
    from emodub.emotion.speech import Baseline, load_ser  # heavy (scipy): loaded only when used

    with _errors_to_exit_codes():
        for path, suffix, what in ((json_out, ".json", "--json output"), (plot, ".png", "--plot output")):
            if path is not None:
                _check_output(path, [media_file], what, (suffix,))
        if emotion_encoder is not None and ser_model is not None:
            raise InputError("give --ser-model or --emotion-encoder, not both")
        if emotion_encoder is not None:
            from emodub.train import EncoderSER  # heavy (scipy, torch): loaded only when used

            ser = EncoderSER(emotion_encoder)
        else:
            ser = load_ser(ser_model, baseline=Baseline.from_speech(load_audio(baseline, what="baseline")) if baseline else None)
        with _progress_hook() as hook:
            result = analyze_media(media_file, frame_rate_hz=fps, face_weight=face_weight, voice_weight=voice_weight,
                                   ser=ser, progress=hook)
        for segment in result.segments:
            face = f"face {segment.face.vector.dominant()} {segment.face.confidence:.2f}" if segment.face else "face —"
            voice = f"voice {segment.voice.vector.dominant()} {segment.voice.confidence:.2f}" if segment.voice else "voice —"
            typer.echo(f"{segment.start_s:7.2f}–{segment.end_s:7.2f} s  {segment.description_en:<32} {segment.description_zh:<12} "
                       f"({face}; {voice}; confidence {segment.confidence:.2f})")
        overall = result.overall()
        if overall is not None:
            typer.echo(f"overall: {describe_en(overall)}  [{overall.describe_short()}]")
        for warning in result.warnings:
            err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
        if json_out is not None:
            with atomic_output(json_out) as tmp:
                tmp.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
            typer.echo(f"analysis {json_out}")
        if plot is not None:
            with atomic_output(plot) as tmp:
                plot_timeline(result, tmp)
            typer.echo(f"plot {plot}")


@app.command("train-ser")
def train_ser(
    corpus_dir: Annotated[Path, typer.Argument(help="Folder of labelled clips (RAVDESS, CREMA-D, ESD or <emotion>/ folders).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write (.json), for --ser-model.")],
    corpus_format: Annotated[str, typer.Option("--format", help="auto | ravdess | crema-d | esd | folders.")] = "auto",
) -> None:
    """Train a speech-emotion classifier on a labelled corpus and save it for `analyze --ser-model`."""
    from emodub.audio import atomic_output  # heavy (scipy): loaded only when used
    from emodub.emotion.ser_training import read_corpus  # heavy (scipy): loaded only when used
    from emodub.emotion.ser_training import train_ser as fit  # heavy (scipy): loaded only when used

    with _errors_to_exit_codes():
        _check_output(output, [], "model output", (".json",))
        clips, unlabelled = read_corpus(corpus_dir, corpus_format)
        if not clips:
            raise InputError(f"no labelled audio found in {str(corpus_dir)!r} as format {corpus_format!r} "
                             f"({len(unlabelled)} audio files without a readable label)")
        if unlabelled:
            err.print(f"warning: {len(unlabelled)} audio files have no readable label and were left out, e.g. {unlabelled[0]}",
                      markup=False, highlight=False, soft_wrap=True)
        with _progress_hook() as hook:
            result = fit(clips, progress=lambda done, total: hook("features", done, total))
        for note in result.skipped:
            err.print(f"warning: skipped {note}", markup=False, highlight=False, soft_wrap=True)
        with atomic_output(output) as tmp:
            result.model.save(tmp)
        accuracy = f"{result.cv_accuracy:.2f}" if result.cv_accuracy is not None else "n/a (fewer than 5 clips in a class)"
        typer.echo(f"wrote {output}: {result.n_clips} clips, classes {result.counts}, 5-fold accuracy {accuracy}")


@app.command("train-encoders")
def train_encoders_command(
    corpus_dir: Annotated[Path, typer.Argument(help="CORPUS/<speaker>/<emotion>/*.wav, or RAVDESS / CREMA-D / ESD naming.")],
    out: Annotated[Path, typer.Option(help="Folder for the trained encoders (encoders.pt + encoders.json).")],
    report: Annotated[Path | None, typer.Option(help="Write the held-out report here (.json).")] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs (passes over the training clips, in batches of 32 one-second crops).")] = 150,
    grl_lambda: Annotated[float, typer.Option(help="Final strength λ of the gradient reversal (Ganin schedule from 0).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the split and the weights.")] = 0,
    mel_warp: Annotated[float, typer.Option(help="Vocal-tract length perturbation: stretch each crop's mel axis by up to "
                                                 "± this share (0 = off; 0.1 helped unseen speakers with the GRL).")] = 0.0,
    hold_out_speaker: Annotated[list[str] | None, typer.Option(help="Leave this speaker out of training and score emotion on it "
                                                                       "(repeatable).")] = None,
) -> None:
    """Train emotion and speaker encoders with gradient reversal; report accuracy and leakage with and without it."""
    from emodub.audio import atomic_output  # heavy (scipy): loaded only when used
    from emodub.train import read_corpus, train_and_report  # heavy (scipy, torch): loaded only when used

    with _errors_to_exit_codes():
        if epochs < 1:
            raise InputError(f"epochs {epochs!r} is not allowed; it must be ≥ 1")
        if not grl_lambda >= 0:
            raise InputError(f"--grl-lambda {grl_lambda!r} is not allowed; it must be ≥ 0")
        if not 0 <= mel_warp < 0.5:
            raise InputError(f"--mel-warp {mel_warp!r} is not allowed; it must be in 0..0.5 (0.1 stretches the mel axis by ±10 %)")
        if report is not None:
            _check_output(report, [], "report", (".json",))
        clips = read_corpus(corpus_dir)
        if not clips:
            raise InputError(f"no clips with speaker and emotion labels under {str(corpus_dir)!r} "
                             "(expected <speaker>/<emotion>/*.wav, or RAVDESS / CREMA-D / ESD names)")
        with _progress_hook() as hook:
            result = train_and_report(clips, out, epochs=epochs, grl_lambda=grl_lambda, seed=seed,
                                      held_out_speakers=tuple(hold_out_speaker or ()), mel_warp=mel_warp, progress=hook)
        for key in ("without_grl", "with_grl"):
            r = result[key]
            typer.echo(f"{key}: emotion accuracy {r['emotion_accuracy']:.2f}, speaker accuracy {r['speaker_accuracy']:.2f}, "
                       f"emotion leakage {r['emotion_leakage']:.2f} (chance {r['emotion_chance']:.2f}), "
                       f"speaker leakage {r['speaker_leakage']:.2f} (chance {r['speaker_chance']:.2f})"
                       + (f", emotion accuracy on unseen speakers {r['unseen_speaker_emotion_accuracy']:.2f}"
                          if "unseen_speaker_emotion_accuracy" in r else ""))
        if report is not None:
            with atomic_output(report) as tmp:
                tmp.write_text(json.dumps(result, indent=2))
        typer.echo(f"saved {result['saved']} ({result['clips']} clips: {result['train']} train, {result['test']} held out)")


DUB_SUFFIXES = (".mp4", ".mkv", ".mov")


def _write_template(video: Path, template: Path, force: bool, speakers: int | None, fps: float) -> None:
    from emodub.dub import write_template  # heavy (scipy): loaded only when used

    if template.exists() and not force:
        raise InputError(f"template {str(template)!r} already exists; fill it in and pass it with --script, or use --force")
    with _progress_hook() as hook:
        made = write_template(video, template, speakers=speakers, frame_rate_hz=fps, hook=hook)
    words = (f"the original dialogue transcribed ({made.language})" if made.transcribed
             else "placeholders (no ear installed to transcribe the dialogue)")
    typer.echo(f"wrote template {template}: {made.cues} cues from {made.segments} speech segments and {made.cuts} shot cuts, "
               f"{len(made.speakers)} speaker(s) ({', '.join(made.speakers)}), with {words}; "
               "edit the words (keep or change the speaker and emotion tags), then run again with --script")


def _dub_one(video: Path, script: Path, voices: dict[str, Path], output: Path, report: Path | None, options, force: bool) -> bool:
    """Dub one video; False when skipped because its outputs exist."""
    from emodub.dub import changed_since, dub_video, output_paths  # heavy (scipy): loaded only when used

    inputs = [video, script, *voices.values()]
    _check_output(output, inputs, "output", DUB_SUFFIXES)
    for path in output_paths(output)[1:] + ([report] if report else []):
        _check_output(path, inputs, "output", (path.suffix.lower(),))
    if not force and output.exists():
        changed = changed_since(output, inputs)
        since = f", but {', '.join(map(str, changed))} changed after it was made" if changed else ""
        typer.echo(f"skipped {video}: {output} exists{since} (use --force to redo it)")
        return False
    with _progress_hook() as hook:
        result = dub_video(video, script, voices, output, options=options, report_path=report, hook=hook)
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if result.cast:
        for speaker in result.cast["speakers"]:
            spans = ", ".join(f"{a:.1f}–{b:.1f} s" for a, b in speaker["reference_spans"])
            typer.echo(f"{speaker['label']}: voice cloned from the video ({spans}) ► {speaker['reference_file']}")
    for cue in result.cues:
        detected = (cue.detected or {}).get("description") or {"en": "unknown"}
        note = f" — {cue.warnings[-1]}" if cue.status != "dubbed" and cue.warnings else ""
        error = f"{cue.duration_error_ms:+.3f} ms" if cue.duration_error_ms is not None else "n/a"
        who = f" [{', '.join(str(s) for s in cue.speakers)}]" if any(cue.speakers) else ""
        typer.echo(f"cue {cue.index}{who}: {cue.status}, detected {detected['en']}, used {cue.emotion_source}, length error {error}"
                   f"{_heard_summary(cue.intelligibility)}{note}")
    layout = result.audio_layout
    typer.echo(f"wrote {output} (audio {layout['layout']}, {layout['codec']}), {output.with_suffix('.wav')}, {output.with_suffix('.srt')}, "
               f"report {report or output.with_suffix('.json')} in {result.timings_s['total']:.1f} s")
    return True


VOICE_HELP = ("Voice reference WAV (3–10 s): FILE for everyone, or NAME=FILE for one speaker (repeatable). "
              "A speaker without a voice is cloned from their own speech in the video.")


@app.command()
def dub(
    video: Annotated[Path, typer.Argument(help="Video file, or a folder of videos (each with <name>.srt beside it or in --script).")],
    script: Annotated[Path | None, typer.Option(help="Script of new lines: SRT, WebVTT or ASS/SSA, any encoding (a folder for batch). "
                                                        "Without it: write a template with the original dialogue and stop.")] = None,
    voice: Annotated[list[str] | None, typer.Option("--voice", help=VOICE_HELP)] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output video (.mp4/.mkv/.mov); a folder for batch.")] = None,
    report: Annotated[Path | None, typer.Option(help="JSON report (default: OUTPUT with .json).")] = None,
    emotion: Annotated[str | None, typer.Option(help="Preset NAME[:INTENSITY] fused with the detected emotion.")] = None,
    emotion_text: Annotated[str | None, typer.Option(help="Description fused with the detected emotion.")] = None,
    emotion_weight: Annotated[float, typer.Option(help="Share of --emotion/--emotion-text against the detected emotion (0..1).")] = 0.5,
    original_prosody: Annotated[bool, typer.Option(help="Use the original speech as the emotion reference (dual audio).")] = True,
    base_voice: Annotated[str | None, typer.Option(help="Builtin base voice (default: chosen by similarity).")] = None,
    fps: Annotated[float, typer.Option(help="Video frames read per second for face expression.")] = 5.0,
    workers: Annotated[int | None, typer.Option(
        help="Processes working in parallel: a video's cues, or for a folder, whole videos (default: cores, at most 8).")] = None,
    force: Annotated[bool, typer.Option(help="Redo outputs that already exist.")] = False,
    separator: Annotated[str | None, typer.Option(help="Source separation you have installed (demucs): removes the old voice.")] = None,
    consent: Annotated[str | None, typer.Option(help=CONSENT_HELP)] = None,
    emotion_encoder: Annotated[Path | None, typer.Option(help="Folder from train-encoders: reads the original voice's emotion.")] = None,
    frame_match: Annotated[float | None, typer.Option(help="0 = clearest (default) … 1 = closest to the new voice (share of "
                                                              "the envelope from its frames).")] = None,
    naturalness_margin: Annotated[float | None, typer.Option(help="MOS (DistillMOS) a clone may lose against the most natural "
                                                                     "base voice; default 0.3.")] = None,
    max_rounds: Annotated[int, typer.Option(help="Verification rounds per cue (the ear, length, similarity; 1 = no retry).")] = 3,
    speakers: Annotated[int | None, typer.Option(help="How many people speak in the video (default: found by the cast step).")] = None,
    audio_codec: Annotated[str | None, typer.Option(help="Codec of the output track (default: the source's where the container "
                                                            "holds it, else AAC, or ALAC/FLAC for a lossless source).")] = None,
    sync: Annotated[str, typer.Option(help="fit: a line out of the 0.75–1.25 range is spoken at the limit when it fits; "
                                           "strict: it is not dubbed.")] = "fit",
    ray: Annotated[str | None, typer.Option(help="Dub a folder on a Ray cluster: ADDRESS (HOST:PORT, ray://HOST:PORT, auto) "
                                                    "or 'local' (start one here, --workers CPUs). Needs emodub[ray].")] = None,
    ray_cue_group: Annotated[int, typer.Option(help="With --ray: cues per task when a long video is spread over the cluster.")] = 8,
    ray_shared: Annotated[bool, typer.Option(help="With --ray: every node sees the input and output paths (shared storage); "
                                                  "else the driver ships the bytes.")] = False,
    watermark: Annotated[bool, typer.Option(help=WATERMARK_HELP)] = True,
    commercial: Annotated[bool, typer.Option(help=COMMERCIAL_HELP)] = False,
) -> None:
    """Dub VIDEO: new lines from --script in the voices of --voice (or the video's own), with the emotion of the original performance."""
    from emodub.dub import DubOptions, default_workers, voice_map  # heavy (scipy): loaded only when used
    from emodub.media import check_media_path  # heavy (scipy): loaded only when used

    with _errors_to_exit_codes():
        given = EmotionVector.parse_preset(emotion) if emotion else None

        def dub_options() -> DubOptions:  # checked before anything is read; a template (no --script) clones nothing, needs no consent
            return DubOptions(emotion=given, emotion_text=emotion_text, emotion_weight=emotion_weight, original_prosody=original_prosody,
                              base_voice=base_voice, frame_rate_hz=fps, workers=workers or default_workers(), consent=consent,
                              separator=separator, emotion_encoder=emotion_encoder, frame_match=frame_match, max_rounds=max_rounds,
                              speakers=speakers, audio_codec=audio_codec, sync=sync, naturalness_margin=naturalness_margin,
                              watermark=watermark, commercial=commercial)

        voices = voice_map(voice or [])
        for name, path in voices.items():
            if not path.is_file():
                raise InputError(f"voice reference {str(path)!r}{'' if name == '*' else f' (of {name})'} does not exist")
        options = dub_options() if video.is_dir() or script is not None else None
        if options is not None and video.is_dir():
            _dub_batch(video, script, voices, output, options, force, ray, ray_cue_group, ray_shared, workers)
            return
        if ray is not None:
            raise InputError(f"--ray dubs a folder of videos; {str(video)!r} is one video (dub it without --ray)")
        check_media_path(video)
        if options is None:
            template = output.with_suffix(".srt") if output is not None else Path(f"{video.stem}.template.srt")
            _write_template(video, template, force, speakers, fps)
            return
        if output is None:
            raise InputError("-o/--output is required: the dubbed video to write (.mp4/.mkv/.mov)")
        _dub_one(video, script, voices, output, report, options, force)


def _dub_batch(folder: Path, scripts: Path | None, voices: dict[str, Path], output: Path | None, options, force: bool,
               ray: str | None, cue_group: int, shared: bool, workers: int | None) -> None:
    """Every video of FOLDER (with <name>.srt); locally or on Ray; one failure does not stop the others."""
    from emodub.batch import LocalRunner, RayRunner, plan_batch, run_batch  # heavy (scipy): loaded only when used
    from emodub.media import VIDEO_SUFFIXES  # heavy (scipy): loaded only when used

    if output is None:
        raise InputError("for a folder of videos, -o must be an existing folder; got None")
    items = plan_batch(folder, scripts, output, VIDEO_SUFFIXES)
    if ray is not None:
        runner = RayRunner(ray, num_cpus=workers, cue_group=cue_group, shared=shared)
    else:
        runner = LocalRunner(hook_for=lambda item: _progress_hook())

    def done(result) -> None:
        if result.status == "failed":
            err.print(f"error: {result.video}: {result.error}", markup=False, highlight=False, soft_wrap=True)
        elif result.status == "skipped":
            since = f", but {result.error}" if result.error else " (use --force to redo it)"
            typer.echo(f"skipped {result.video}: {result.output} exists{since}")
        else:
            cues = ", ".join(f"{n} {status}" for status, n in result.cues.items())
            typer.echo(f"wrote {result.output} ({cues}) in {result.seconds:.1f} s on {result.node}")

    results = run_batch(items, voices, options, runner, force=force, done=done)
    typer.echo(f"batch report {output / 'batch.json'}: {sum(r.status == 'done' for r in results)} done, "
               f"{sum(r.status == 'skipped' for r in results)} skipped, {sum(r.status == 'failed' for r in results)} failed")
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


@app.command()
def detect(
    files: Annotated[list[Path], typer.Argument(help="Audio or video files to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file on stdout, in a list.")] = False,
) -> None:
    """Say for each FILE whether it carries emodub's watermark (with the detector's confidence) and its emodub tags.

    Exit 0: every file is marked; 1: some file is not; 2: a file cannot be checked (nothing is read then).
    """
    from emodub import watermark  # heavy (scipy): loaded only when used

    with _errors_to_exit_codes():
        infos = [watermark.check_detectable(path) for path in files]  # every file checked before the detector loads
        watermark.require()
        found = []
        with _progress_hook() as hook:
            for number, info in enumerate(infos):
                hook("detect", number, len(infos))
                found.append(watermark.detect_file(info))
            hook("detect", len(infos), len(infos))
    if as_json:
        typer.echo(json.dumps([f.to_dict() for f in found], ensure_ascii=False, indent=2))
    else:
        for f in found:
            where = f" (strongest at {f.detection.at_s:.1f} s, {f.detection.marked_windows}/{f.detection.windows} windows)" \
                if f.detection.found and f.detection.windows > 1 else ""
            verdict = "watermark found" if f.detection.found else "no watermark"
            tags = "emodub tags: " + f.tags.get("comment", f.tags.get("software", "")) if f.tagged else "no emodub tags"
            typer.echo(f"{f.path}: {verdict}, confidence {f.detection.confidence:.2f}{where}; {tags}")
    if not all(f.detection.found for f in found):
        raise typer.Exit(1)


@app.command()
def cast(
    video: Annotated[Path, typer.Argument(help="Video or audio file whose speakers to find.")],
    out_dir: Annotated[Path | None, typer.Option("-o", "--out-dir", help="Folder for cast.json and one WAV reference per speaker "
                                                                            "(default: <name>.cast beside the video).")] = None,
    speakers: Annotated[int | None, typer.Option(help="How many people speak (default: found from the voices).")] = None,
) -> None:
    """Find who speaks when in VIDEO, with each speaker's speaking time and one clean reference, saved as JSON + WAV."""
    from emodub import layout, media  # heavy (scipy): loaded only when used
    from emodub.cast import diarize, save_cast  # heavy (scipy): loaded only when used

    with _errors_to_exit_codes():
        info = media.probe(video)
        if not info.has_audio:
            raise InputError(f"media file {str(video)!r} has no audio stream; there are no voices to find")
        folder = out_dir or video.with_name(f"{video.stem}.cast")
        if folder.exists() and not folder.is_dir():
            raise InputError(f"output folder {str(folder)!r} is a file")
        with _progress_hook() as hook:
            found = diarize(layout.extract_tracks(info).dialogue_mix(), n_speakers=speakers, progress=lambda d, t: hook("cast", d, t))
        paths = save_cast(found, folder)
        for speaker in found.speakers:
            spans = ", ".join(f"{a:.1f}–{b:.1f} s" for a, b in speaker.reference_spans)
            typer.echo(f"{speaker.label}: speaks {speaker.speaking_time_s:.1f} s in {len(speaker.turns)} turn(s); reference "
                       f"{speaker.reference_s:.1f} s from {spans} (SNR {speaker.reference_snr_db:.0f} dB) ► {paths.get(speaker.label)}")
            for warning in speaker.warnings:
                err.print(f"warning: {speaker.label}: {warning}", markup=False, highlight=False, soft_wrap=True)
        typer.echo(f"wrote {folder / 'cast.json'}; name the speakers in your script with these labels, or give "
                   "--voice LABEL=FILE to use another voice for one of them")


@app.command()
def doctor() -> None:
    """What is installed and usable here (engines, base voices, the ear, ffmpeg, Ray, the test browser), and how to fix what is not."""
    checks = run_checks()
    for check in checks:
        mark = "ok " if check.ok else ("MISSING" if check.required else "absent ")
        typer.echo(f"{mark:8} {check.name}: {check.detail}" + ("" if check.ok else f"  ► {check.fix}"))
    typer.echo("\nmodels that can make or judge an output (the report of each output names the ones it used):")
    for model in MODELS.values():
        use = "commercial use ok" if model.commercial else "NOT for commercial use (--commercial leaves it out)"
        typer.echo(f"  {model.role:<22} {model.weights} [{model.package}]: {model.licence}; {use}"
                   + ("" if model.commercial else f": {model.terms}"))
    missing = [c.name for c in checks if c.required and not c.ok]
    if missing:
        err.print(f"error: {len(missing)} required piece(s) missing: {', '.join(missing)}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)


MIN_TOKEN_CHARS = 16


def _check_bind(host: str, token: str | None) -> None:
    """Loopback by default; any other address only with a token (a studio holds people's voices)."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise InputError(f"--host {host!r} is not an IP address (use 127.0.0.1, or an interface's address with --token)") from None
    if not loopback and not token:
        raise InputError(f"--host {host!r} is not a loopback address; binding to it without --token is refused "
                         "(anyone on the network could upload and download voices)")
    if token is not None and (len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token)):
        raise InputError(f"--token of {len(token)} character(s) is refused: it needs at least {MIN_TOKEN_CHARS} characters and no "
                         "spaces (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))')")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind: loopback by default; any other needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8731,
    data_dir: Annotated[Path, typer.Option(help="Jobs (SQLite) and their files.")] = Path("emodub-studio"),
    workers: Annotated[int, typer.Option(help="Jobs run at once (one process each); the rest wait in the queue.", min=1)] = 1,
    token: Annotated[str | None, typer.Option(help="Every API call then needs 'Authorization: Bearer TOKEN'.",
                                                 envvar="EMODUB_TOKEN")] = None,
    max_upload_mb: Annotated[int, typer.Option(help="Largest upload accepted (413 beyond it).", min=1)] = 2048,
    allow_host: Annotated[list[str] | None, typer.Option(
        help="Another name the studio answers to (a reverse proxy's public name); repeatable. Requests naming any other "
             "host are refused (DNS rebinding).")] = None,
) -> None:
    """The web studio: upload, dub, review each line beside the original's emotion, regenerate one line, download."""
    with _errors_to_exit_codes():
        _check_bind(host, token)
        if data_dir.exists() and not data_dir.is_dir():
            raise InputError(f"--data-dir {str(data_dir)!r} is a file; give a folder")
        import uvicorn

        from emodub.service import create_app  # heavy (fastapi, scipy, uvicorn): loaded only when used

        data_dir.mkdir(parents=True, exist_ok=True)
        studio = create_app(data_dir, workers=workers, token=token, max_upload_mb=max_upload_mb, host=host,
                            allowed_hosts=tuple(allow_host or ()))
        typer.echo(f"emodub studio on http://{host}:{port}/ (data in {data_dir}, {workers} worker(s)); API docs at /docs")
        uvicorn.run(studio, host=host, port=port, log_level="warning")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option(help="Folder for the demo outputs.")] = Path("out"),
) -> None:
    """Run the main job on built-in material: the seed job, then a dub of a generated clip."""
    from emodub.dub import DubOptions, dub_video  # heavy (scipy): loaded only when used
    from emodub.synthetic import make_demo_material  # heavy (scipy): loaded only when used

    with _errors_to_exit_codes():
        material = Path(str(resources.files("emodub") / "demo_material"))  # package data: works from a wheel too
        seed = material / "seed_job.yaml"
        voice = material / "voice_samples" / "character_A.wav"
        if not seed.exists() or not voice.exists():
            raise InputError(f"demo material under {str(material)!r} is missing; reinstall emodub")
        out_dir.mkdir(parents=True, exist_ok=True)
        _run_job(load_job(seed), out_dir / "seed_job.wav", out_dir / "seed_job.json")
        typer.echo("building the demo clip (a happy 'actor': drawn face, builtin speech in flite's awb voice) …")
        video, script = make_demo_material(out_dir / "demo")
        output = out_dir / "demo" / "dubbed.mp4"
        with _progress_hook() as hook:
            result = dub_video(video, script, {"*": voice}, output, hook=hook,
                               options=DubOptions(consent="demo: synthetic voices generated by flite, no real person"))
        cue = result.cues[0]
        detected = (cue.detected or {}).get("description") or {"en": "unknown"}
        typer.echo(f"original {video}\nscript   {script}\ndubbed   {output}\naudio    {output.with_suffix('.wav')}\n"
                   f"subtitles {output.with_suffix('.srt')}\nreport   {output.with_suffix('.json')}")
        error = f"{cue.duration_error_ms:+.3f} ms" if cue.duration_error_ms is not None else "n/a"
        typer.echo(f"detected emotion: {detected['en']} (confidence {(cue.detected or {}).get('confidence', 0):.2f}); "
                   f"cue {cue.status}, length error {error}, start error {cue.start_error_ms} ms")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"emodub {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """emodub command line."""


def entry() -> None:
    """Console-script entry: thread pools sized first (every core for this process); typer usage errors exit 2 as well."""
    try:
        use_all_cores()
    except InputError as error:
        err.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    sys.exit(app())

