"""The video model (seed 000 §III-C): its network, windows, labels, splits and model file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from host.video import fatigue_net as net  # noqa: E402
from host.video import model_spec as spec  # noqa: E402
from host.video.model_file import (  # noqa: E402
    META_FILE,
    ModelFileError,
    input_metadata,
    load_video_model,
    write_video_model,
)
from host.video.model_inputs import (  # noqa: E402
    Standardiser,
    fatigue_onset_s,
    frame_step,
    labelled_windows,
    window_arrays,
    window_starts,
)
from host.video.pipeline import extract_features  # noqa: E402
from host.video.track import VideoError  # noqa: E402
from host.video.train_video import Windows, split  # noqa: E402


@pytest.fixture(scope="module")
def worker_features():
    """Four minutes of a simulated worker, with its Borg ratings (SIMULATED)."""
    from hwsim.workers import simulate_worker

    track = simulate_worker(0, "medicine_bottle", seed=3, minutes=4.0)
    return extract_features(track)


@pytest.fixture(scope="module")
def network():
    return net.build_video_model(87, 6)


def test_the_seed_s_blocks_give_twenty_features_per_frame_and_one_probability(network):
    layers = {layer.name: layer for layer in network.layers}
    conv3d = [lay for lay in network.layers if type(lay).__name__ == "Conv3D"]
    conv2d = [lay for lay in network.layers if type(lay).__name__ == "Conv2D"]
    assert [c.strides for c in conv3d] == [(s,) * 3 for s in (1, 2, 3, 3)]
    assert [c.strides for c in conv2d] == [(s,) * 2 for s in (1, 2, 2)]
    # Four 3D blocks end at 1³ × 20: the deep feature vector of length 20 (seed §III-C).
    assert tuple(conv3d[-1].output.shape[1:]) == (1, 1, 1, net.FRAME_FEATURES)
    concat = next(lay for lay in network.layers if type(lay).__name__ == "Concatenate")
    assert tuple(concat.output.shape[1:]) == (spec.WINDOW_FRAMES, 2 * net.FRAME_FEATURES)
    bi = next(lay for lay in network.layers if type(lay).__name__ == "Bidirectional")
    assert bi.forward_layer.units == net.LSTM_UNITS == 50
    leaky = [lay for lay in network.layers if type(lay).__name__ == "LeakyReLU"]
    assert {lay.negative_slope for lay in leaky} == {0.1}
    dropout = [lay for lay in network.layers if type(lay).__name__ == "Dropout"]
    assert len(dropout) == 4 + 3 + 1 and {lay.rate for lay in dropout} == {0.3}
    assert network.output_shape == (None, 1)
    assert "fatigued" in layers


def test_the_lstm_variant_has_one_direction():
    model = net.build_video_model(87, 6, bidirectional=False)
    kinds = {type(lay).__name__ for lay in model.layers}
    assert "Bidirectional" not in kinds and "LSTM" in kinds
    assert model.name == "cnn_lstm"


def test_learning_rate_is_cut_by_ninety_percent_every_ten_epochs():
    assert net.learning_rate(0) == pytest.approx(1e-4)
    assert net.learning_rate(9) == pytest.approx(1e-4)
    assert net.learning_rate(10) == pytest.approx(1e-5)
    assert net.learning_rate(25) == pytest.approx(1e-6)


def test_frame_step_takes_multiples_of_fifteen_fps_only():
    assert frame_step(30.0) == 2
    assert frame_step(15.0) == 1
    assert frame_step(60.0) == 4
    with pytest.raises(VideoError, match=r"clip\.kin\.h5: frame rate 25 frames/s.*multiple of 15"):
        frame_step(25.0, "clip.kin.h5")


def test_windows_are_450_frames_every_100_within_each_part(worker_features):
    assert list(window_starts(449)) == []
    assert list(window_starts(450)) == [0]
    assert list(window_starts(1000)) == [0, 100, 200, 300, 400, 500]
    starts, labels = labelled_windows(worker_features)
    onset = fatigue_onset_s(worker_features)
    t = worker_features.track.time_s[::2]
    first_s, last_s = t[starts], t[np.minimum(starts + spec.WINDOW_FRAMES - 1, len(t) - 1)]
    # No window straddles the moment the rating reached 7 (seed §IV: two parts).
    assert np.all((last_s < onset) | (first_s >= onset))
    assert np.array_equal(labels, (first_s >= onset).astype(int))


def test_labels_follow_the_borg_rating_of_seven(worker_features):
    track = worker_features.track
    n = len(track.borg_time_s)
    ratings = np.where(np.arange(n) >= n // 2, 7.0, 3.0)
    vf = replace(worker_features, track=replace(track, borg_rating=ratings))
    assert fatigue_onset_s(vf) == track.borg_time_s[n // 2]
    never = replace(worker_features, track=replace(track, borg_rating=np.full(n, 6.0)))
    assert fatigue_onset_s(never) == np.inf
    assert labelled_windows(never)[1].sum() == 0
    unrated = replace(
        worker_features, track=replace(track, borg_time_s=np.zeros(0), borg_rating=np.zeros(0))
    )
    with pytest.raises(VideoError, match="no Borg ratings"):
        labelled_windows(unrated)


def test_window_arrays_take_every_second_frame_standardised(worker_features):
    vf = worker_features
    sd = Standardiser.fit([vf])
    voxels, wavelets = window_arrays(vf, np.array([0, 100]), sd)
    assert voxels.shape == (2, 450, 20, 20, 20, 1) and wavelets.shape == (2, 450, 87, 6, 1)
    assert np.array_equal(voxels[1, 3, ..., 0], vf.voxels.frame(2 * (100 + 3)))
    assert np.isfinite(wavelets).all()
    expected = (vf.wavelets[200 + 2 * 5] - sd.mean[:, None]) / sd.sd[:, None]
    known = np.isfinite(expected)
    assert np.allclose(wavelets[1, 5, ..., 0][known], expected[known], atol=1e-5)


def test_split_by_workers_keeps_each_person_on_one_side():
    rng = np.random.default_rng(0)
    sessions = np.repeat(np.arange(20), 30)
    windows = Windows(sessions, np.tile(np.arange(30) * 100, 20), rng.integers(0, 2, 600))
    people = [f"worker{i // 2:02d}" for i in range(20)]  # two tasks per person
    train, val, test, groups = split(windows, people, "workers", np.random.default_rng(1))
    sides = [{people[s] for s in part.session} for part in (train, val, test)]
    assert sides[0].isdisjoint(sides[1]) and sides[0].isdisjoint(sides[2])
    assert sides[1].isdisjoint(sides[2])
    assert len(sides[2]) == 1 and len(sides[1]) == 1 and len(sides[0]) == 8
    assert set(groups["test"]) == sides[2]
    # The seed's 8:1:1 over windows pools them: sessions land on every side.
    train, val, test, _ = split(windows, people, "windows", np.random.default_rng(1))
    assert (len(train), len(val), len(test)) == (480, 60, 60)
    assert set(test.session) & set(train.session)


def _meta(network, sd: Standardiser) -> dict:
    return {
        "architecture": network.name,
        "provenance": "simulated",
        "classes": ["not fatigued", "fatigued"],
        "inputs": input_metadata([f"f{i}" for i in range(87)], 6, sd),
        "metrics": {"test": {"accuracy": 0.5}},
    }


def test_model_file_round_trip_and_window_probabilities(tmp_path, network, worker_features):
    vf = worker_features
    sd = Standardiser.fit([vf])
    meta = _meta(network, sd)
    meta["inputs"]["feature_names"] = list(vf.feature_names)
    write_video_model(tmp_path / "m", network, meta)
    model = load_video_model(tmp_path / "m")
    assert "simulated" in model.describe()
    out = model.window_probabilities(vf)
    n_model = vf.track.n_frames // 2
    assert len(out.p_fatigued) == len(window_starts(n_model)) > 0
    assert np.all((out.p_fatigued >= 0) & (out.p_fatigued <= 1))
    assert np.allclose(out.end_s - out.start_s, (spec.WINDOW_FRAMES - 1) / spec.MODEL_FPS)
    with pytest.raises(VideoError, match=r"20\.0 s long, shorter than one window.*30 s"):
        model.window_probabilities(extract_features(_cut(vf.track, 600)))


def test_a_model_write_that_fails_leaves_no_half_model(tmp_path, network, monkeypatch):
    """A full disk in the middle of the save (the Keras file written, the metadata not):
    the empty --out folder train made stays empty, and nothing else is left beside it."""
    sd = Standardiser(np.zeros(87), np.ones(87))
    folder = tmp_path / "m"
    folder.mkdir()  # as train leaves it after trying it before training

    def full_disk(self, *args, **kwargs):
        if self.name == META_FILE:
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    real_write_text = Path.write_text
    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_video_model(folder, network, _meta(network, sd))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == [folder] and not any(folder.iterdir())
    write_video_model(folder, network, _meta(network, sd))  # then, with room: whole
    assert sorted(p.name for p in folder.iterdir()) == sorted([META_FILE, "cnn_bilstm.keras"])


def _cut(track, n):
    return replace(
        track,
        time_s=track.time_s[:n],
        xyz_px=track.xyz_px[:n],
        visibility=track.visibility[:n],
        keypoint_flags=track.keypoint_flags[:n],
        frame_flags=track.frame_flags[:n],
    )


def test_a_model_its_metadata_does_not_describe_is_refused(tmp_path, network):
    sd = Standardiser(np.zeros(87), np.ones(87))
    folder = tmp_path / "m"
    write_video_model(folder, network, _meta(network, sd))
    keras_file = folder / "cnn_bilstm.keras"
    data = keras_file.read_bytes()
    keras_file.write_bytes(data[:-10] + b"0123456789")
    with pytest.raises(ModelFileError, match=r"cnn_bilstm\.keras: not the file .* records"):
        load_video_model(folder)
    keras_file.write_bytes(data)
    meta = json.loads((folder / META_FILE).read_text())
    meta["inputs"]["feature_names"] = meta["inputs"]["feature_names"][:80]
    meta["inputs"]["standardiser"] = {"mean": [0.0] * 80, "sd": [1.0] * 80}
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r"its inputs .* are not those .* describes"):
        load_video_model(folder)
    meta["inputs"]["window_frames"] = 300
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r"inputs\.window_frames is 300.*takes 450"):
        load_video_model(folder)
    (folder / META_FILE).write_text("{")
    with pytest.raises(ModelFileError, match="not readable as JSON"):
        load_video_model(folder)
    with pytest.raises(ModelFileError, match="no such file"):
        load_video_model(tmp_path / "nowhere")


def test_bundled_video_model_matches_its_metadata():
    folder = Path(__file__).resolve().parents[1] / "models" / "video"
    model = load_video_model(folder)
    assert model.meta["provenance"] == "simulated"
    assert model.meta["training"]["split"] == "workers"
    assert set(model.meta["metrics"]["test"]) >= {"accuracy", "f1_fatigued", "macro_f1"}


def test_metadata_the_commands_read_is_checked_before_use(tmp_path, network):
    sd = Standardiser(np.zeros(87), np.ones(87))
    folder = tmp_path / "m"
    write_video_model(folder, network, _meta(network, sd))
    path = folder / META_FILE
    good = json.loads(path.read_text())
    cases = {
        "provenance missing": (lambda m: m.pop("provenance"), r"'provenance' missing"),
        "metrics a text": (lambda m: m.update(metrics="good"), r"'metrics' is not an object"),
        "86 means": (
            lambda m: m["inputs"]["standardiser"].update(mean=[0.0] * 86),
            r"standardiser\.mean must be 87 finite numbers",
        ),
        "text means": (
            lambda m: m["inputs"]["standardiser"].update(mean=["a"] * 87),
            r"standardiser\.mean must be 87 finite",
        ),
        "zero SD": (
            lambda m: m["inputs"]["standardiser"].update(sd=[0.0] * 87),
            r"standardiser\.sd must be > 0",
        ),
        "another architecture": (
            lambda m: m.update(architecture="cnn_lstm"),
            r"is a cnn_bilstm network; .* says architecture 'cnn_lstm'",
        ),
        # The breaker's: tracebacks or silent use before.
        "artefact a text": (
            lambda m: m["artefacts"].update({"cnn_bilstm.keras": "x"}),
            r"'artefacts' holds no sha256 for 'cnn_bilstm.keras'",
        ),
        "feature names at the top": (
            lambda m: m.update(feature_names=m["inputs"].pop("feature_names")),
            r"'inputs\.feature_names' missing",
        ),
        "artefacts in inputs": (
            lambda m: m["inputs"].update(artefacts=m.pop("artefacts")),
            r"'artefacts' missing",
        ),
        "empty provenance": (lambda m: m.update(provenance=""), r"'provenance' missing, empty"),
        "accuracy NaN": (
            lambda m: m["metrics"]["test"].update(accuracy=float("nan")),
            r"metrics\.test\.accuracy is nan; allowed: a number from 0 to 1",
        ),
        "share 5": (
            lambda m: m["metrics"]["test"].update(fatigued_share=5.0),
            r"metrics\.test\.fatigued_share is 5\.0",
        ),
        "version true": (lambda m: m.update(version=True), r"'version' is True"),
        "classes swapped": (
            lambda m: m.update(classes=["fatigued", "not fatigued"]),
            r"'classes' is \['fatigued', 'not fatigued'\]; this program's are",
        ),
        "keras file elsewhere": (
            lambda m: m.update(keras_file="/etc/passwd"),
            r"'keras_file' is '/etc/passwd': the name of a \.keras file beside it",
        ),
    }
    for name, (spoil, message) in cases.items():
        meta = json.loads(json.dumps(good))
        spoil(meta)
        path.write_text(json.dumps(meta))
        with pytest.raises(ModelFileError, match=message):
            load_video_model(folder)
        assert name
