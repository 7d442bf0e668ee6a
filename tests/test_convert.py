"""Keras → ONNX → quantised RKNN, verified in the same run; the device loads the result."""

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
    # The fallback with normal calibration: mmse (the shipped one's) takes longer.
    meta = convert(
        models, tiny_dataset, fallback="int8", fallback_algorithm="normal", log=lines.append
    )
    return models, meta, lines


def test_conversion_writes_static_onnx_rknn_and_verified_figures(converted):
    models, meta, lines = converted
    ops = {n.op_type for n in onnx.load(str(models / "fusion.onnx")).graph.node}
    assert not ops & {"Loop", "Scan", "If"} and "MatMul" in ops  # the unrolled LSTM
    q = meta["quantisation"]
    assert q["target"] == "rv1103" and q["data"] == "simulated"
    assert q["calibration_windows"] > 0 and q["windows"] > 0
    # A two-epoch model has flat probabilities, where quantisation flips the top class
    # most easily; the shipped model is held to 98 % (README), this one to 90 %.
    assert q["top1_agreement"] >= 0.9
    assert q["precision"] == "hybrid"  # the default: int8, the LSTM onwards in int16
    assert [n.split("_")[0] for n in q["int16_tensors"]] == [
        "lstm",
        "global",
        "concatenate",
        "dense",
        "probabilities",
    ]
    assert min(q["int16_tensors"].values()) > 0
    assert 0 <= q["max_probability_error"] < 0.2
    assert q["file"] == "fusion.rknn"
    assert set(meta["artefacts"]) == {
        "fusion.keras",
        "fusion.onnx",
        "fusion.rknn",
        "fusion_int8.rknn",
    }
    assert json.loads((models / "model.json").read_text())["quantisation"] == q
    steps = [line[:5] for line in lines if not line.startswith("WARNING")]
    assert steps[:6] == ["[1/5]", "[2/5]", "[3/5]", "     ", "[4/5]", "[5/5]"]
    assert (models / "rknn_build.log").stat().st_size > 0  # the toolkit's chatter, kept aside


def test_the_int8_fallback_and_both_versions_are_recorded(converted):
    from device.rknn_api import same_major_minor
    from host.convert import RUNTIME_VERSION, toolkit_version

    models, meta, lines = converted
    fallback = meta["quantisation_fallback"]
    assert (fallback["file"], fallback["precision"], fallback["int16_tensors"]) == (
        "fusion_int8.rknn",
        "int8",
        {},
    )
    assert fallback["windows"] == meta["quantisation"]["windows"] > 0
    assert fallback["top1_agreement"] >= 0.8  # all int8 on a flat two-epoch model
    assert (models / "fusion_int8.rknn").read_bytes()[:4] == b"RKNN"
    assert meta["rknn"] == {
        "toolkit_version": toolkit_version(),
        "runtime_version": RUNTIME_VERSION,
        "target": "rv1103",
        "models": ["fusion.rknn", "fusion_int8.rknn"],
    }
    assert "rknn-toolkit2" not in meta["tool_versions"]  # one place for it: rknn above
    warned = [line for line in lines if line.startswith("WARNING")]
    assert len(warned) == (0 if same_major_minor(toolkit_version(), RUNTIME_VERSION) else 1)


def test_device_loads_the_bundle_and_predicts_like_keras(converted, tiny_dataset):
    import keras

    from host.train import load_windows
    from host.windows import normalise

    models, meta, _ = converted
    model = load_model(models, backend="onnx")
    w = load_windows(tiny_dataset).windows
    seq, st = w.sequences[:5], w.stats[:5]
    reference = keras.saving.load_model(models / "fusion.keras").predict(
        list(normalise(model.normaliser, seq, st)), verbose=0
    )
    got = [model.predict(a.tolist(), b.tolist()) for a, b in zip(seq, st)]  # as the board
    assert all(isinstance(p, tuple) and len(p) == 5 for p in got)
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


# --- hybrid quantisation: which tensors go to int16 -------------------------------------

_STEP1_CFG = """custom_quantize_layers: {}
quantize_parameters:
    sequence:
        qtype: asym
        qmethod: layer
        dtype: float32
        min:
        -   -3.1
    fusion_1/conv1d_3_1/Relu:0-rs:
        qtype: asym
        dtype: int8
        scale:
        -   0.01
    fusion_1/lstm_2_1/lstm_cell_1/mul_2:0-rs:
        qtype: asym
        qmethod: layer
        dtype: int8
    fusion_1/dense_51_1/Relu:0-rs:
        qtype: asym
        dtype: int8
    fusion_1/dense_5_1/MatMul:0_mm:
        qtype: asym
        dtype: int8
    fusion_1/dense_5_1/MatMul:0_mm__float16:
        qtype: asym
        dtype: float16
"""


def test_mark_int16_sets_only_the_int8_tensors_of_the_named_layers():
    from host.convert import mark_int16

    text, counts = mark_int16(_STEP1_CFG, ["lstm_2", "dense_5", "dropout_1"])
    head, params = text.split("quantize_parameters:\n")
    assert head == (
        "custom_quantize_layers:\n"
        "    fusion_1/lstm_2_1/lstm_cell_1/mul_2:0-rs: int16\n"
        "    fusion_1/dense_5_1/MatMul:0_mm: int16\n"
    )  # not dense_51 (another layer), not the float16 tensor, not the conv
    assert params == _STEP1_CFG.split("quantize_parameters:\n")[1]  # untouched
    assert counts == {"lstm_2": 1, "dense_5": 1, "dropout_1": 0}


def test_mark_int16_refuses_a_file_it_does_not_know_or_a_model_without_those_layers():
    from host.convert import mark_int16

    with pytest.raises(ValueError, match="not the file hybrid_quantization_step1 writes"):
        mark_int16(_STEP1_CFG.replace("{}", "{a: int16}"), ["lstm_2"])
    with pytest.raises(ValueError, match=r"no int8 tensor of layers \['lstm_9'\]"):
        mark_int16(_STEP1_CFG, ["lstm_9"])


def test_the_int16_part_of_the_fusion_model_starts_at_its_lstm():
    from host.convert import layers_from_lstm
    from host.models import build_cnn, build_fusion

    model = build_fusion()
    names = layers_from_lstm(model)
    kinds = [type(model.get_layer(n)).__name__ for n in names]
    assert kinds == [
        "LSTM",
        "GlobalAveragePooling1D",
        "Concatenate",
        "Dense",
        "Dropout",
        "Dense",
    ]  # not the convolution, pooling or the statistics branch that feed it
    assert names[-1] == "probabilities"
    with pytest.raises(ValueError, match="has no LSTM layer"):
        layers_from_lstm(build_cnn())
