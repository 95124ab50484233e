from pathlib import Path

import pytest

from emodub.errors import InputError
from emodub.job import MixEmotion, TextEmotion, load_job, parse_job

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_seed_job_parses_as_is():
    job = load_job(EXAMPLES / "seed_job.yaml")
    assert job.text == "你怎么敢这样对我!"
    assert isinstance(job.emotion_control, TextEmotion)
    assert job.emotion_control.description == "angrily, voice shaking"
    assert job.duration_control.plan().ratio == 1.1
    assert job.speaker_reference.resolve() == (EXAMPLES / "voice_samples" / "character_A.wav").resolve()


def test_mix_job_parses():
    job = load_job(EXAMPLES / "mix_job.yaml")
    assert isinstance(job.emotion_control, MixEmotion)
    assert [s.method for s in job.emotion_control.sources] == ["audio", "text", "preset"]


def _job(**changes):
    data = {"text": "hello there", "speaker_reference": "voice_samples/character_A.wav",
            "emotion_control": {"method": "preset", "preset": "angry"}, "consent": "synthetic demo voice made with flite"}
    data.update(changes)
    return data


@pytest.mark.parametrize("data,match", [
    (_job(colour="red"), "unknown key 'colour'"),
    (_job(emotion_control={"method": "preset", "preset": "sad", "strength": 1}), "unknown key 'emotion_control.preset.strength'"),
    (_job(duration_control={"mode": "controlled", "ratio": 1.3}), "ratio 1.3 is outside the allowed range 0.75–1.25"),
    (_job(text="   "), "text '   ' is empty"),
    (_job(speaker_reference="missing.wav"), "speaker_reference file .*missing.wav' does not exist"),
    (_job(emotion_control={"method": "dual_audio", "audio": "nope.wav"}), "emotion_control.audio file .*nope.wav"),
    (_job(emotion_control={"method": "telepathy"}), "emotion_control"),
    ({"speaker_reference": "voice_samples/character_A.wav"}, "required key 'text' is missing"),
    (_job(emotion_control={"method": "preset", "preset": "sad", "intensity": 3}), "intensity"),
    (_job(engine={"emotion_encoder": "voice_samples"}), "no audio or dual_audio source"),
    (_job(engine={"name": "indextts2", "emotion_encoder": "voice_samples"}), "used by the builtin engine only"),
    (_job(verify={"enabled": False, "emotion_encoder": "voice_samples"}), "verification is off"),
    (_job(engine={"name": "indextts2", "frame_match": 0.3}), "frame_match is a setting of the builtin engine"),
    (_job(engine={"frame_match": 1.5}), "engine.frame_match"),
    (_job(emotion_control={"method": "audio"}, engine={"emotion_encoder": "no_such_folder"}), "engine.emotion_encoder file"),
    (_job(consent=None), "consent is required"),
    (_job(consent=" "), "consent is required"),
    ({k: v for k, v in _job().items() if k != "consent"}, "consent is required: cloning a voice needs its owner's consent"),
])
def test_bad_jobs_name_the_problem(data, match):
    with pytest.raises(InputError, match=match):
        parse_job(data, base_dir=EXAMPLES)


def test_not_a_mapping(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="mapping"):
        load_job(path)


def test_encoder_folders_resolve_against_the_job_folder():
    job = parse_job(_job(emotion_control={"method": "audio"}, engine={"emotion_encoder": "voice_samples"},
                         verify={"emotion_encoder": "voice_samples"}), base_dir=EXAMPLES)
    assert job.engine.emotion_encoder == job.verify.emotion_encoder == EXAMPLES / "voice_samples"
