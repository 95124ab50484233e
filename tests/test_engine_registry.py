"""The engine registry: base.py imports no engine, shipped engines load on first use, installed packages add engines."""

import subprocess
import sys
import textwrap

import pytest

from emodub.engines.base import engine_names, get_engine
from emodub.errors import InputError

PLUGIN = '''
"""An engine another package ships: flite's kal voice, read at its own length."""
from emodub.engines.base import Synthesis, SynthesisRequest
from emodub.engines.builtin.base_voice import synthesize_base


class FliteKal:
    name = "flite-kal"

    def __init__(self, **options):
        self.options = options

    def synthesize(self, request: SynthesisRequest) -> Synthesis:
        audio = synthesize_base("flite-kal16", request.text)
        return Synthesis(audio, self.name, audio.duration_s, audio.duration_s)
'''


def run_python(code: str, *paths: str) -> str:
    env_path = ":".join([*paths, *sys.path])
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_registry_loads_no_engine():
    loaded = run_python("""
        import sys
        import emodub.engines.base as base
        print(base.engine_names(), sorted(m for m in sys.modules if m.startswith("emodub.engines.") and m != "emodub.engines.base"))
    """)
    assert loaded == "['builtin', 'indextts2'] []"


def test_a_package_adds_an_engine_through_its_entry_point(tmp_path):
    (tmp_path / "flite_kal_engine.py").write_text(PLUGIN)
    info = tmp_path / "flite_kal_engine-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flite-kal-engine\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[emodub.engines]\nflite-kal = flite_kal_engine:FliteKal\n")
    said = run_python("""
        from emodub.audio import Audio
        from emodub.engines.base import SynthesisRequest, engine_names, get_engine, natural_length_s
        import numpy as np
        engine = get_engine("flite-kal", seed=3)
        request = SynthesisRequest(text="Hello there, this is a plug-in.", speaker_reference=Audio(np.zeros(16000, np.float32), 16000))
        print(engine_names(), engine.options, round(natural_length_s(engine, request), 1) > 1.0)
    """, str(tmp_path))
    assert said == "['builtin', 'flite-kal', 'indextts2'] {'seed': 3} True"


def test_an_unknown_engine_names_the_known_ones():
    with pytest.raises(InputError, match=r"engine 'nope' is not known; available: builtin, indextts2"):
        get_engine("nope")
    assert {"builtin", "indextts2"} <= set(engine_names())


def test_a_voice_prepared_ahead_is_ready_for_its_lines(reference):
    """The dub learns each voice before its workers start: a line in that voice then searches nothing."""
    from emodub.audio import Audio
    from emodub.engines.base import SynthesisRequest, prepare_voice

    new_voice = Audio(reference.samples * 0.97, reference.sample_rate_hz)  # a voice no other test has profiled
    request = SynthesisRequest(text="A voice learned ahead of its lines.", speaker_reference=new_voice, base_voice="flite-slt")
    ticks: list[tuple[int, int]] = []
    prepare_voice(get_engine("builtin"), request, lambda done, total: ticks.append((done, total)))
    assert ticks and all(0 <= done <= total for done, total in ticks)
    steps: list[str] = []
    result = get_engine("builtin", progress=lambda step, done, total: steps.append(step)).synthesize(request)
    assert "voice profile" not in steps and result.audio.duration_s > 1.0


def test_a_broken_plug_in_is_named_in_one_line(tmp_path):
    info = tmp_path / "broken_engine-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-engine\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[emodub.engines]\nbroken = no_such_module:Engine\n")
    said = run_python("""
        from emodub.engines.base import get_engine
        from emodub.errors import EngineError
        try:
            get_engine("broken")
        except EngineError as error:
            print(error)
    """, str(tmp_path))
    assert said == "engine 'broken' (no_such_module:Engine) could not be loaded: No module named 'no_such_module'"
