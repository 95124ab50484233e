"""The IndexTTS2 adapter: checkpoint checks, the mapping of every emotion path, the length fit.

The official ``indextts`` package and its checkpoints cannot be installed here (GitHub-only
package, weights on the model hub); the tests that need them run when they are present and
say why they are skipped otherwise.
"""

import importlib
import importlib.util
import inspect
import os
from pathlib import Path

import pytest

from emodub.audio import load_audio
from emodub.emotion.space import EmotionVector
from emodub.engines.base import SynthesisRequest, get_engine
from emodub.engines.builtin import world
from emodub.engines.indextts2 import AUX_FILES, MODULES, check_model_dir, infer_arguments
from emodub.errors import EngineError, InputError
from emodub.timing import DurationPlan
from test_cli import emodub

HAVE_UPSTREAM = importlib.util.find_spec("indextts") is not None
CHECKPOINTS = os.environ.get("EMODUB_INDEXTTS_DIR")


def complete_folder(root: Path) -> Path:
    (root / "config.yaml").write_text("gpt_checkpoint: gpt.pth\ns2mel_checkpoint: s2mel.pth\nw2v_stat: wav2vec2bert_stats.pt\n"
                                      "emo_matrix: feat2.pt\nspk_matrix: feat1.pt\ndataset:\n  bpe_model: bpe.model\n")
    for name in ("gpt.pth", "s2mel.pth", "wav2vec2bert_stats.pt", "feat1.pt", "feat2.pt", "bpe.model", *AUX_FILES.values()):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


def test_missing_model_dir_is_refused(tmp_path):
    with pytest.raises(InputError, match="needs a checkpoint folder"):
        check_model_dir(None, "2")
    with pytest.raises(InputError, match="does not exist"):
        check_model_dir(tmp_path / "nowhere", "2")
    with pytest.raises(InputError, match="not supported"):
        check_model_dir(tmp_path, "3")


def test_incomplete_folder_lists_what_is_missing_and_where_to_get_it(tmp_path):
    with pytest.raises(InputError) as error:
        check_model_dir(tmp_path, "2.5")
    message = str(error.value)
    for name in ("config.yaml", "gpt.pth", "bpe.model", "hf_cache/campplus_cn_common.bin", "hf download IndexTeam/IndexTTS-2.5"):
        assert name in message


def test_complete_folder_gives_upstream_aux_paths(tmp_path):
    paths = check_model_dir(complete_folder(tmp_path), "2")
    assert set(paths) == {"w2v_bert", "semantic_codec", "campplus", "bigvgan"}
    assert Path(paths["w2v_bert"]).is_dir() and Path(paths["bigvgan"]).is_dir() and Path(paths["campplus"]).is_file()


@pytest.mark.skipif(HAVE_UPSTREAM, reason="the indextts package is installed")
def test_without_the_package_the_engine_says_how_to_get_it(tmp_path):
    with pytest.raises(EngineError, match="official 'indextts' package"):
        get_engine("indextts2", model_dir=complete_folder(tmp_path), version="2")


@pytest.mark.parametrize("version", ["2", "2.5"])
@pytest.mark.parametrize("path", ["speaker", "dual_audio", "vector", "description"])
def test_every_emotion_path_maps_onto_infer(reference, version, path):
    kwargs = {}
    if path == "vector":
        kwargs["emotion"] = EmotionVector.from_dict({"angry": 1.0, "surprised": 0.5})
    if path == "description":
        kwargs["emotion_text"] = "angrily, voice shaking"
    if path == "dual_audio":
        kwargs["emotion_alpha"] = 0.6
    request = SynthesisRequest(text="Open the door.", speaker_reference=reference, **kwargs)
    args = infer_arguments(request, version, speaker_path="spk.wav", emotion_path="emo.wav" if path == "dual_audio" else None,
                           output_path="out.wav", duration_factor=1.2 if version == "2.5" else None)
    assert args["spk_audio_prompt"] == "spk.wav" and args["text"] == "Open the door." and args["use_random"] is False
    if path == "dual_audio":
        assert (args["emo_audio_prompt"], args["emo_alpha"]) == ("emo.wav", 0.6)
    if path == "vector":  # upstream normalize_emo_vec: bias, then the sum capped at 0.8
        angry, surprised = 1.0 * 0.875, 0.5 * 0.6875
        scale = 0.8 / (angry + surprised)
        assert args["emo_vector"][1] == pytest.approx(angry * scale, abs=1e-5)
        assert args["emo_vector"][6] == pytest.approx(surprised * scale, abs=1e-5)
        assert sum(args["emo_vector"]) == pytest.approx(0.8, abs=1e-5)
    else:
        assert "emo_vector" not in args
    if path == "description":
        assert args["use_emo_text"] is True and args["emo_text"] == "angrily, voice shaking"
    if version == "2.5":
        assert args["lang"] == "EN" and args["duration_factor"] == 1.2
    else:
        assert "lang" not in args and "duration_factor" not in args


def test_duration_factor_outside_the_upstream_range_is_refused(reference):
    request = SynthesisRequest(text="你好", speaker_reference=reference)
    assert infer_arguments(request, "2.5", speaker_path="s", emotion_path=None, output_path="o")["lang"] == "ZH"
    with pytest.raises(InputError, match="duration_factor"):
        infer_arguments(request, "2.5", speaker_path="s", emotion_path=None, output_path="o", duration_factor=2.5)


@pytest.mark.parametrize("target_s", [1.5, 2.2, 3.7])
def test_length_fit_on_finished_audio_is_exact(reference_path, target_s):
    audio = load_audio(reference_path)
    fitted = world.fit_length(audio, target_s)
    assert abs(fitted.duration_s - target_s) * 1000 <= 1000 / fitted.sample_rate_hz


def test_cli_needs_a_model_dir(tmp_path, reference_path):
    proc = emodub("say", "Hello.", "--voice", reference_path, "--engine", "indextts2", "--consent", "test voice", "-o", tmp_path / "o.wav")
    assert proc.returncode == 2 and "checkpoint folder" in proc.stderr


def test_cli_an_incomplete_checkpoint_folder_is_bad_input(tmp_path, reference_path):
    (tmp_path / "ckpt").mkdir()
    proc = emodub("say", "Hello.", "--voice", reference_path, "--engine", "indextts2", "--model-dir", tmp_path / "ckpt",
                  "--consent", "test voice", "-o", tmp_path / "o.wav")
    assert proc.returncode == 2 and "lacks config.yaml" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.skipif(not HAVE_UPSTREAM, reason="the official indextts package is not installed (GitHub-only; not on PyPI)")
@pytest.mark.parametrize("version", ["2", "2.5"])
def test_mapping_matches_the_installed_upstream_signature(reference, version):
    module = importlib.import_module(MODULES[version])
    parameters = inspect.signature(module.IndexTTS2.infer).parameters
    request = SynthesisRequest(text="Hi there.", speaker_reference=reference, emotion=EmotionVector.preset("sad"), emotion_text="sadly")
    args = infer_arguments(request, version, speaker_path="s", emotion_path="e", output_path="o",
                           duration_factor=1.0 if version == "2.5" else None)
    assert set(args) <= set(parameters)


@pytest.mark.skipif(not CHECKPOINTS, reason="EMODUB_INDEXTTS_DIR is not set: no IndexTTS checkpoints to run")
def test_real_model_lands_the_length(reference):
    engine = get_engine("indextts2", model_dir=CHECKPOINTS, version=os.environ.get("EMODUB_INDEXTTS_VERSION", "2"))
    result = engine.synthesize(SynthesisRequest(text="Give me one good reason.", speaker_reference=reference,
                                                emotion=EmotionVector.preset("angry", 0.8),
                                                duration=DurationPlan("controlled", target_duration_s=2.0)))
    assert abs(result.audio.duration_s - 2.0) <= 0.001 and result.applied["emo_vector_sent"] is not None
