"""emodub: transfer the emotion of a person in a video onto new, cloned-voice speech."""

from importlib.metadata import PackageNotFoundError, version

from emodub.emotion.space import EmotionVector, VoiceQualities, fuse
from emodub.emotion.text import text_to_emotion
from emodub.errors import EmodubError, EngineError, InputError, MediaError

try:
    __version__ = version("emodub")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"

__all__ = [
    "EmotionVector",
    "VoiceQualities",
    "fuse",
    "text_to_emotion",
    "EmodubError",
    "InputError",
    "EngineError",
    "MediaError",
    "__version__",
]
