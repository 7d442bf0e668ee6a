"""Keras → ONNX → int8 RKNN, verified in the same run; the device loads the result."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest

from device.inference import ModelError, load_model


@pytest.fixture(scope="module")
def converted(tiny_training, tiny_dataset, tmp_path_factory):
    from host.convert import convert

    models = tmp_path_factory.mktemp("converted") / "models"
    shutil.copytree(tiny_training["models"], models)
    lines: list[str] = []
    meta = convert(models, tiny_dataset, log=lines.append)
    return models, meta, lines


def test_conversion_writes_static_onnx_rknn_and_verified_figures(converted):
    models, meta, lines = converted
    ops = {n.op_type for n in onnx.load(str(models / "fusion.onnx")).graph.node}
    assert not ops & {"Loop", "Scan", "If"} and "MatMul" in ops  # the unrolled LSTM
    q = meta["quantisation"]
    assert q["target"] == "rv1103" and q["data"] == "simulated"
    assert q["calibration_windows"] > 0 and q["windows"] > 0
    # A two-epoch model has flat probabilities, where int8 flips the top class most easily;
    # the shipped model is held to 98 % (README), this one to 90 %.
    assert q["top1_agreement"] >= 0.9
    assert 0 <= q["max_probability_error"] < 0.2
    assert set(meta["artefacts"]) == {"fusion.keras", "fusion.onnx", "fusion.rknn"}
    assert json.loads((models / "model.json").read_text())["quantisation"] == q
    assert [line[:5] for line in lines[:4]] == ["[1/4]", "[2/4]", "[3/4]", "     "]
    assert (models / "rknn_build.log").stat().st_size > 0  # the toolkit's chatter, kept aside


def test_device_loads_the_bundle_and_predicts_like_keras(converted, tiny_dataset):
    import keras

    from host.train import load_windows

    models, meta, _ = converted
    model = load_model(models, backend="onnx")
    w = load_windows(tiny_dataset).windows
    seq, st = w.sequences[:5], w.stats[:5]
    reference = keras.saving.load_model(models / "fusion.keras").predict(
        list(model.normaliser.apply(seq, st)), verbose=0
    )
    got = np.stack([model.predict(a, b) for a, b in zip(seq, st)])
    np.testing.assert_allclose(got, reference, atol=1e-5)
    with pytest.raises(ModelError, match=r"sequence must have shape \(100, 8\)"):
        model.predict(seq[0][:50], st[0])
    model.close()


def test_a_corrupt_or_missing_artefact_is_refused_by_name(converted, tmp_path):
    models, _, _ = converted
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    with open(copy / "fusion.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ModelError, match=r"fusion.onnx: corrupt or replaced: sha256"):
        load_model(copy, backend="onnx")
    (copy / "fusion.rknn").unlink()
    with pytest.raises(ModelError, match=r"fusion.rknn: model file missing"):
        load_model(copy, backend="rknn")
    (copy / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"model.json: unreadable"):
        load_model(copy)
