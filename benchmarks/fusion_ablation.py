"""What issue 19's changes to the fusion model are worth, measured the way training is.

Subject-wise macro-F1 (and accuracy, MAE) of the fusion model with and without the context
channels (``device.features``: without, it takes the seed's 8 channels and 40 statistics,
as the seed's baselines do), each with and without its decision offsets (``host.decision``;
undone exactly from the same fits: argmax of log p − offsets). The folds, seeds, windows
and training are those of ``python -m host train`` (``host.train``), so the "with both" line
equals the training report's fusion row. Figures only, never pass/fail; SIMULATED when the
dataset is. Two trainings (with and without the context; the offsets are undone from the
same fits), about 3 minutes each on this machine's 2 cores when nothing else runs.

    python benchmarks/fusion_ablation.py --dataset data/cohort [--folds 5]
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import numpy as np

from device.argtypes import positive_int
from host import models, train
from host.decision import decide
from host.train_report import metrics


def out_of_fold(data: train.WindowSet, config: train.TrainConfig) -> tuple[np.ndarray, ...]:
    """Subject-wise out-of-fold levels of the fusion model, with and without its offsets."""
    w = data.windows
    tuned = np.full(len(w.labels), -1)
    untuned = tuned.copy()
    for k, (fit_val, test) in enumerate(
        train.folds("subject", w.labels, w.groups, config.folds, config.seed)
    ):
        fit, val = train.validation_split(
            fit_val, "subject", w.labels, w.groups, config.val_fraction, config.seed + k
        )
        res = train.fit_and_predict("fusion", w, fit, val, test, config, config.seed + k)
        tuned[test] = res.probabilities.argmax(axis=1)
        untuned[test] = decide(res.probabilities, -res.offsets)
    return tuned, untuned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=Path("data/cohort"))
    parser.add_argument("--folds", type=positive_int, default=train.TrainConfig().folds)
    args = parser.parse_args()
    config = train.TrainConfig(folds=args.folds)
    data = train.load_windows(args.dataset, step=config.window_step_samples)
    provenance = ", ".join(sorted(data.provenance)).upper()
    print(f"{len(data.windows.labels)} windows of {data.n_sessions} sessions ({provenance})")
    fusion = models.DEEP_MODELS["fusion"]
    for context in (True, False):
        models.DEEP_MODELS["fusion"] = fusion._replace(
            build=functools.partial(models.build_fusion, context=context)
        )
        train.CONTEXT_MODELS = ("fusion", "boosted_trees_context") if context else ()
        for offsets, levels in zip(("with", "without"), out_of_fold(data, config)):
            m = metrics(data.windows.labels, levels)
            print(
                f"fusion, {'with' if context else 'without'} context channels, {offsets} "
                f"decision offsets: subject-wise macro-F1 {m['macro_f1']:.3f}, accuracy "
                f"{m['accuracy']:.3f}, MAE {m['mae_level']:.3f} levels, recall per level "
                f"{' '.join(f'{r:.2f}' for r in m['recall'])}",
                flush=True,
            )


if __name__ == "__main__":
    main()
