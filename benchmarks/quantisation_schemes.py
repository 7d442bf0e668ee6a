"""Quantisation schemes for the RV1103 side by side: how often each flips the top class.

Converts the bundled Keras model once per scheme (each in a scratch copy of the models
folder; ``models/`` is not touched) and prints, for each, what ``python -m host
convert`` writes into ``model.json``: top-1 agreement with the float model on the
held-out windows, largest probability error, accuracies and ``.rknn`` size. Each
conversion takes 3-10 minutes on a 2-core PC (each prints its own time).

    python benchmarks/quantisation_schemes.py [--dataset data/cohort] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from host.convert import RKNN_FILE, convert, layers_from_lstm


def _lstm_only(model) -> list[str]:
    """The LSTM and the pooling right after it; the head stays int8."""
    return layers_from_lstm(model)[:2]


def _head_only(model) -> list[str]:
    """From the concatenation on; the LSTM stays int8."""
    return layers_from_lstm(model)[2:]


#: name → (precision, algorithm, int16 layer picker or None)
SCHEMES = {
    "int8/normal": ("int8", "normal", None),
    "int8/mmse": ("int8", "mmse", None),
    "int8/kl_divergence": ("int8", "kl_divergence", None),
    "hybrid lstm only/normal": ("hybrid", "normal", _lstm_only),
    "hybrid head only/normal": ("hybrid", "normal", _head_only),
    "hybrid head only/mmse": ("hybrid", "mmse", _head_only),
    "hybrid lstm onward/normal": ("hybrid", "normal", None),
    "hybrid lstm onward/mmse": ("hybrid", "mmse", None),
    "int16/normal": ("int16", "normal", None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--dataset", type=Path, default=Path("data/cohort"))
    parser.add_argument("--only", nargs="+", choices=sorted(SCHEMES), default=list(SCHEMES))
    args = parser.parse_args()
    rows = []
    for k, name in enumerate(args.only, 1):
        precision, algorithm, picker = SCHEMES[name]
        print(f"== scheme {k}/{len(args.only)}: {name}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            models = Path(tmp) / "models"
            shutil.copytree(args.models_dir, models)
            meta = convert(
                models,
                args.dataset,
                precision=precision,
                algorithm=algorithm,
                int16_layers=picker,
                log=lambda s: print(f"   {s}", flush=True),
            )
            q = meta["quantisation"]
            rows.append(
                f"| {name} | {q['top1_agreement']:.3f} | {q['max_probability_error']:.3f} | "
                f"{q['accuracy_float']:.3f} / {q['accuracy_quantised']:.3f} | "
                f"{meta['artefacts'][RKNN_FILE]['bytes'] / 1e3:.0f} kB |"
            )
    print(
        f"\n{q['windows']} held-out windows of {len(q['held_out_subjects'])} subjects "
        f"({q['data']} data), {q['calibration_windows']} calibration windows\n"
    )
    print(
        "| scheme | top-1 agreement | largest probability error | accuracy float / quantised "
        "| .rknn |"
    )
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
