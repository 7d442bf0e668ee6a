"""The video model on disk: a Keras file and its metadata, read back only when they agree.

A video model folder (the bundled one is ``models/video/``) holds:

- ``cnn_bilstm.keras`` (or ``cnn_lstm.keras``): the network of :mod:`host.video.fatigue_net`;
- ``video_model.json``: what it takes (window, stride, frame rate, the kinematic feature
  names, the wavelet levels, the voxel grid), its classes and labelling rule, the
  standardisation of the wavelet matrices, provenance (``simulated``: the workers of
  :mod:`hwsim.workers`), how it was trained, its test metrics, software versions, and the
  SHA-256 and size of the Keras file.

:func:`load_video_model` refuses, in one line naming the file and the key, a model whose
file does not match the metadata (hash, inputs), or metadata that is not this format.
:meth:`VideoModel.window_probabilities` gives the fatigue probability of every window of a
kinematics file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.inference import sha256_of
from host.session import DatasetError
from host.video.model_inputs import Standardiser, frame_step, window_arrays, window_starts
from host.video.model_spec import MODEL_FPS, STRIDE_FRAMES, WINDOW_FRAMES
from host.video.pipeline import VideoFeatures
from host.video.track import VideoError
from host.video.voxels import VOXEL_SIZE

__all__ = [
    "FORMAT",
    "META_FILE",
    "VideoModel",
    "WindowProbabilities",
    "input_metadata",
    "load_video_model",
    "read_metadata",
    "write_video_model",
]

FORMAT = "nirs-fatigue video model"
VERSION = 1
META_FILE = "video_model.json"
#: Classes, in the order of the sigmoid's 0 and 1 (seed 000 §IV: the split at Borg 7).
CLASSES = ("not fatigued", "fatigued")
#: Windows predicted at once (memory: one window's voxels are 14 MB as float32).
PREDICT_BATCH = 8


class ModelFileError(DatasetError):
    """A video model folder that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class WindowProbabilities:
    """The video model's answer for each window of a kinematics file.

    Attributes
    ----------
    start_s, end_s : ndarray (n_windows,), float64
        First and last frame's time of each window, s on the track's clock.
    p_fatigued : ndarray (n_windows,), float64
        Probability that the window is fatigued (Borg ≥ 7), 0–1.
    """

    start_s: np.ndarray
    end_s: np.ndarray
    p_fatigued: np.ndarray

    @property
    def centre_s(self) -> np.ndarray:
        """Middle of each window, s."""
        return (self.start_s + self.end_s) / 2


@dataclass
class VideoModel:
    """A loaded video model: the Keras network and its metadata (``video_model.json``)."""

    folder: Path
    meta: dict[str, Any]
    network: Any
    standardiser: Standardiser

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.meta["inputs"]["feature_names"])

    def describe(self) -> str:
        """One line: architecture, provenance and the test metrics."""
        m = self.meta
        test = m.get("metrics", {}).get("test", {})
        figures = ""
        if isinstance(test.get("accuracy"), float):
            figures = f": test accuracy {test['accuracy']:.3f}"
            share = test.get("fatigued_share")
            if isinstance(share, float):  # what always answering the larger class scores
                figures += f" (always the more common class: {max(share, 1 - share):.3f})"
            if isinstance(test.get("macro_f1"), float):
                figures += f", macro-F1 {test['macro_f1']:.3f}"
        return (
            f"video model {m['architecture']} ({self.folder}), trained on "
            f"{m['provenance']} data{figures}"
        )

    def check_features(self, vf: VideoFeatures) -> None:
        """Raise VideoError unless ``vf`` has this model's features, levels and frame rate."""
        names = self.feature_names
        source = vf.track.source
        if tuple(vf.feature_names) != names:
            raise VideoError(
                source,
                f"its {len(vf.feature_names)} kinematic features are not the "
                f"{len(names)} the video model in {self.folder} was trained on",
            )
        levels = int(self.meta["inputs"]["wavelet_levels"])
        if vf.n_levels != levels:
            raise VideoError(
                source, f"{vf.n_levels} wavelet levels; the video model takes {levels}"
            )
        frame_step(vf.track.fps, source)

    def window_probabilities(
        self, vf: VideoFeatures, progress: Callable[[int, int], None] | None = None
    ) -> WindowProbabilities:
        """Fatigue probability of every window (450 frames every 100, at 15 fps) of ``vf``.

        Raises
        ------
        VideoError
            The track is shorter than one window, at a frame rate the model cannot take, or
            its features are not the model's.
        """
        self.check_features(vf)
        step = frame_step(vf.track.fps, vf.track.source)
        n_model = (vf.track.n_frames + step - 1) // step
        starts = window_starts(n_model)
        if len(starts) == 0:
            window_s = WINDOW_FRAMES / MODEL_FPS
            raise VideoError(
                vf.track.source,
                f"{vf.track.duration_s:.1f} s long, shorter than one window of the video "
                f"model ({window_s:.0f} s = {WINDOW_FRAMES} frames at {MODEL_FPS:g} frames/s)",
            )
        p = np.zeros(len(starts))
        for i in range(0, len(starts), PREDICT_BATCH):
            batch = starts[i : i + PREDICT_BATCH]
            voxels, wavelets = window_arrays(vf, batch, self.standardiser)
            out = self.network.predict_on_batch({"voxels": voxels, "wavelets": wavelets})
            p[i : i + len(batch)] = np.asarray(out, dtype=np.float64).reshape(-1)
            if progress is not None:
                progress(min(i + PREDICT_BATCH, len(starts)), len(starts))
        t = vf.track.time_s
        first = starts * step
        last = np.minimum(first + (WINDOW_FRAMES - 1) * step, len(t) - 1)
        return WindowProbabilities(t[first], t[last], p)


def _fail(path: Path, problem: str) -> ModelFileError:
    return ModelFileError(path, problem)


def read_metadata(folder: Path) -> dict[str, Any]:
    """``folder``'s ``video_model.json``, checked as :func:`load_video_model` checks it
    (without loading the network).

    Raises
    ------
    ModelFileError
        Missing, not JSON, of another format or version, or a key the commands read
        missing or of the wrong kind.
    """
    if Path(folder).is_file():
        raise _fail(
            folder, "is a file: a video model is a folder (video_model.json and its network)"
        )
    return _read_meta(Path(folder))


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(path, "no such file: a video model folder holds video_model.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"not readable as JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _fail(path, f"'format' is not {FORMAT!r}: not a video model's metadata")
    version = meta.get("version")
    if type(version) is not int or version != VERSION:  # not True, not 1.0
        raise _fail(path, f"'version' is {version!r}; this program reads {VERSION}")
    inputs = meta.get("inputs")
    expected = {
        "window_frames": WINDOW_FRAMES,
        "stride_frames": STRIDE_FRAMES,
        "model_fps": MODEL_FPS,
        "voxel_size": VOXEL_SIZE,
    }
    if not isinstance(inputs, dict):
        raise _fail(path, "'inputs' missing or not an object")
    for key, value in expected.items():
        if inputs.get(key) != value:
            raise _fail(
                path, f"inputs.{key} is {inputs.get(key)!r}; this program's model takes {value}"
            )
    for key in ("feature_names", "wavelet_levels", "standardiser"):
        if key not in inputs:
            raise _fail(path, f"'inputs.{key}' missing")
    for key in ("keras_file", "artefacts"):
        if key not in meta:
            raise _fail(path, f"'{key}' missing")
    _check_described(meta, path)
    return meta


def _check_described(meta: dict[str, Any], path: Path) -> None:
    """The keys the commands read, of the kinds they read (one line naming the key)."""
    for key in ("architecture", "provenance", "keras_file"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise _fail(path, f"'{key}' missing, empty or not a text")
    keras_file = meta["keras_file"]
    if Path(keras_file).name != keras_file or not keras_file.endswith(".keras"):
        raise _fail(path, f"'keras_file' is {keras_file!r}: the name of a .keras file beside it")
    if meta.get("classes") != list(CLASSES):
        raise _fail(
            path, f"'classes' is {meta.get('classes')!r}; this program's are {list(CLASSES)}"
        )
    for key in ("metrics", "artefacts"):
        if key in meta and not isinstance(meta[key], dict):
            raise _fail(path, f"'{key}' is not an object")
    entry = meta["artefacts"].get(keras_file)
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        raise _fail(path, f"'artefacts' holds no sha256 for {keras_file!r}")
    test = meta.get("metrics", {}).get("test", {})
    if not isinstance(test, dict):
        raise _fail(path, "'metrics.test' is not an object")
    for key in ("accuracy", "f1_fatigued", "macro_f1", "fatigued_share"):
        value = test.get(key)
        if value is not None and not (
            type(value) in (int, float) and math.isfinite(value) and 0 <= value <= 1
        ):
            raise _fail(path, f"metrics.test.{key} is {value!r}; allowed: a number from 0 to 1")
    inputs = meta["inputs"]
    names = inputs["feature_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _fail(path, "inputs.feature_names is not a list of texts")
    if not isinstance(inputs["wavelet_levels"], int) or inputs["wavelet_levels"] < 1:
        raise _fail(path, "inputs.wavelet_levels is not a whole number ≥ 1")
    sd = inputs["standardiser"]
    for key in ("mean", "sd"):
        values = sd.get(key) if isinstance(sd, dict) else None
        try:
            array = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            array = np.zeros(0)
        if array.shape != (len(names),) or not np.isfinite(array).all():
            raise _fail(
                path,
                f"inputs.standardiser.{key} must be {len(names)} finite numbers, one per "
                "feature name",
            )
        if key == "sd" and not (array > 0).all():
            raise _fail(path, "inputs.standardiser.sd must be > 0 for every feature")


def load_video_model(folder: Path) -> VideoModel:
    """The video model in ``folder`` (``video_model.json`` + its Keras file), checked.

    Raises
    ------
    ModelFileError
        Metadata missing or of another format or version; inputs other than this
        program's windows; the Keras file missing, or not the file the metadata records
        (SHA-256), or whose inputs differ from the metadata's.
    """
    folder = Path(folder)
    meta = _read_meta(folder)
    meta_path = folder / META_FILE
    keras_path = folder / str(meta["keras_file"])
    entry = meta["artefacts"][meta["keras_file"]]  # checked by _read_meta
    if not keras_path.is_file():
        raise _fail(keras_path, f"missing: {meta_path} names it as the network")
    if sha256_of(keras_path) != entry.get("sha256"):
        raise _fail(
            keras_path,
            f"not the file {meta_path} records (sha256 differs): copy the whole folder again",
        )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    import host.video.fatigue_net  # noqa: F401  (registers the network's own layers)

    try:
        network = keras.saving.load_model(keras_path, compile=False)
    except Exception as exc:  # Keras raises many kinds for a bad file
        raise _fail(keras_path, f"not a readable Keras model ({type(exc).__name__})") from None
    inputs = meta["inputs"]
    shapes = {t.name.split(":")[0]: tuple(t.shape[1:]) for t in network.inputs}
    want = {
        "voxels": (WINDOW_FRAMES, VOXEL_SIZE, VOXEL_SIZE, VOXEL_SIZE, 1),
        "wavelets": (WINDOW_FRAMES, len(inputs["feature_names"]), int(inputs["wavelet_levels"]), 1),
    }
    if shapes != want:
        raise _fail(keras_path, f"its inputs {shapes} are not those {meta_path} describes ({want})")
    if network.name != meta["architecture"]:
        raise _fail(
            keras_path,
            f"is a {network.name} network; {meta_path} says architecture "
            f"{meta['architecture']!r}",
        )
    return VideoModel(folder, meta, network, Standardiser.from_json(inputs["standardiser"]))


def input_metadata(
    feature_names: list[str] | tuple[str, ...], n_levels: int, standardiser: Standardiser
) -> dict[str, Any]:
    """``video_model.json``'s ``inputs``: what :func:`load_video_model` checks a network
    and a kinematics file against (this program's windows, the features, the levels, the
    voxel grid, the standardisation)."""
    return {
        "window_frames": WINDOW_FRAMES,
        "stride_frames": STRIDE_FRAMES,
        "model_fps": MODEL_FPS,
        "voxel_size": VOXEL_SIZE,
        "feature_names": list(feature_names),
        "wavelet_levels": int(n_levels),
        "standardiser": standardiser.to_json(),
    }


def write_video_model(folder: Path, network: Any, meta: dict[str, Any]) -> Path:
    """Save ``network`` and its metadata into the new or empty ``folder``; returns the json.

    ``meta`` gives everything but ``format``, ``version``, ``classes`` (this program's
    :data:`CLASSES`), ``keras_file`` and ``artefacts``, which are added here. All or
    nothing: both files are written into a temporary folder beside ``folder`` and it is
    renamed into place, so a full disk or an interruption leaves no half model (and
    whatever was in ``folder`` untouched).

    Raises:
        OSError: The folder cannot be written (nothing left behind).
    """
    import shutil
    import tempfile

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        part.chmod(0o777 & ~umask)  # a folder as mkdir makes it (mkdtemp's is the owner's only)
        keras_file = f"{network.name}.keras"
        network.save(part / keras_file)
        entry = {
            "sha256": sha256_of(part / keras_file),
            "bytes": (part / keras_file).stat().st_size,
        }
        full = {
            "format": FORMAT,
            "version": VERSION,
            "classes": list(CLASSES),
            **meta,
            "keras_file": keras_file,
            "artefacts": {keras_file: entry},
        }
        (part / META_FILE).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
        if folder.is_dir():
            folder.rmdir()  # empty, as the caller checked; OSError if not
        part.replace(folder)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    return folder / META_FILE
