"""python -m host video train and python -m host video compare: the video model's runs.

train trains the video model (host/video/train_video.py) on a folder of kinematics
files with Borg ratings; compare puts the test metrics of several runs in one table
beside the seed's figures (seed 000 §IV: CNN–Bi-LSTM 94.57 %, CNN-LSTM 88.57 % accuracy,
8:1:1 split).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from device.argtypes import non_negative_int, positive_float, positive_int
from host.video.model_file import META_FILE, ModelFileError, read_metadata
from host.video.model_spec import BATCH_SIZE, EPOCHS, LEARNING_RATE
from host.video.track import VideoError

#: Seed 000 §IV, accuracy on its 8:1:1 split of three people's videos.
SEED_ACCURACY = {"cnn_bilstm": 0.9457, "cnn_lstm": 0.8857}
ARCH_NAMES = {"cnn_bilstm": "CNN–Bi-LSTM", "cnn_lstm": "CNN-LSTM"}
SPLIT_NAMES = {
    "windows": "8:1:1 over windows (the seed's)",
    "workers": "by person (held-out people)",
}


def _seed(text: str) -> int:
    """--seed: 0 to 2**32 - 1, what numpy's and Keras's generators take."""
    value = non_negative_int(text)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 to 2**32 - 1, got {text!r}"
        )
    return value


def _train(args: argparse.Namespace) -> int:
    from host.video.cli import _writable_folder
    from host.video.train_video import describe_result, train

    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VideoError(out, "exists and is not an empty folder; give --out a new one")
    # Tried now, not after the training; made only when the model is written, so a
    # refused or interrupted run leaves no empty folder.
    _writable_folder(out / "video_model.json", "--out")
    if not args.data.is_dir():
        raise VideoError(args.data, "is not a folder; give --data the folder of .kin.h5 files")
    meta = train(
        args.data, out, arch=args.arch, how=args.split, epochs=args.epochs,
        windows_per_epoch=args.windows_per_epoch, learning_rate=args.learning_rate,
        batch_size=args.batch_size, seed=args.seed,
        say=lambda line: print(line, file=sys.stderr, flush=True),
    )  # fmt: skip
    print(describe_result(meta, out))  # the result on stdout, the progress on stderr
    return 0


def comparison_rows(runs: list[Path]) -> list[dict]:
    """One row per run folder: architecture, split, test metrics, how it was trained."""
    rows = []
    for run in runs:
        path = run / META_FILE
        try:
            meta = read_metadata(run)  # checked as analyse and session check it
            test, training = meta["metrics"]["test"], meta["training"]
            rows.append(
                {
                    "run": run.name,
                    "architecture": meta["architecture"],
                    "split": training["split"],
                    "provenance": meta["provenance"],
                    "accuracy": test["accuracy"],
                    "f1_fatigued": test["f1_fatigued"],
                    "macro_f1": test["macro_f1"],
                    "test_windows": test["windows"],
                    "fatigued_share": test["fatigued_share"],
                    "epochs": training["epochs"],
                    "windows_per_epoch": training["windows_per_epoch"],
                    "batch_size": training["batch_size"],
                    "learning_rate": training["learning_rate"],
                    "minutes": training["seconds"] / 60,
                }
            )
        except FileNotFoundError:
            raise ModelFileError(path, "no such file: give compare train's folders") from None
        except KeyError as exc:
            raise ModelFileError(
                path, f"not a trained video model's metadata: it has no {exc.args[0]!r}"
            ) from None
        except NotADirectoryError:
            raise ModelFileError(run, "is a file: give compare the folders train wrote") from None
        except (OSError, ValueError, TypeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ModelFileError(path, f"not a trained video model's metadata ({reason})") from None
    return rows


def comparison_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, the seed's figures beside them."""
    lines = [
        "| run | model | split | accuracy | majority-class accuracy | F1 (fatigued) | macro-F1 | "
        "test windows | trained | seed 000's accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["split"] != "windows", r["architecture"])):
        seed = SEED_ACCURACY.get(r["architecture"])
        seed_txt = f"{seed:.2%} (8:1:1, 3 real people)" if seed else "–"
        lines.append(
            f"| {r['run']} | {ARCH_NAMES.get(r['architecture'], r['architecture'])} "
            f"({r['provenance']}) | "
            f"{SPLIT_NAMES.get(r['split'], r['split'])} | {r['accuracy']:.1%} | "
            f"{max(r['fatigued_share'], 1 - r['fatigued_share']):.1%} | "
            f"{r['f1_fatigued']:.3f} | {r['macro_f1']:.3f} | {r['test_windows']} | "
            f"{r['epochs']} epoch{'s' if r['epochs'] != 1 else ''} × "
            f"{r['windows_per_epoch']} windows, batch {r['batch_size']}, "
            f"{r['minutes']:.1f} min | {seed_txt} |"
        )
    return "\n".join(lines) + "\n"


def _compare(args: argparse.Namespace) -> int:
    table = comparison_table(comparison_rows(args.runs))
    if args.out is not None:
        if args.out.exists():
            raise VideoError(args.out, "exists; move it away or give --out another name")
        if not args.out.parent.is_dir():
            raise VideoError(args.out, "--out: its folder does not exist")
        args.out.write_text(table, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    print(table, end="")
    return 0


def add_train_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``train`` and ``compare`` on ``python -m host video``'s subcommands."""
    from host.video.train_video import ARCHITECTURES, SPLITS

    p = sub.add_parser(
        "train",
        help="train the seed's CNN–Bi-LSTM (or CNN-LSTM) on kinematics files with ratings",
        description=(
            "Train the video model (seed 000's CNN–Bi-LSTM, or the CNN-LSTM) on a folder of "
            "kinematics files with Borg ratings: 30-s windows every 6.7 s, fatigued when Borg "
            "has reached 7, tested on held-out people (or the seed's 8:1:1 over windows). The "
            "defaults are the seed's schedule, which on two CPU cores takes about 0.4 s per "
            "window and epoch: ten simulated workers' 30-min sessions, about 23 h "
            "(docs/video_model.md: shorter runs). Progress on stderr, the result on stdout; "
            "the model folder is written all or nothing."
        ),
    )
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder of .kin.h5 files with Borg ratings (required: no default)",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="new or empty folder for the model (required: no default)",
    )
    p.add_argument(
        "--arch", choices=ARCHITECTURES, default="bilstm",
        help="Bi-LSTM (the seed's) or one-direction LSTM (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--split", choices=SPLITS, default="workers",
        help="test on held-out people, or the seed's 8:1:1 over windows (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=EPOCHS,
        help="passes over the training windows (default: %(default)s, the seed's)",
    )
    p.add_argument(
        "--windows-per-epoch", type=positive_int, default=None,
        help="training windows drawn at random per epoch (default: all of them)",
    )  # fmt: skip
    p.add_argument(
        "--learning-rate", type=positive_float, default=LEARNING_RATE,
        help="Adam's first rate, cut by 90 %% every 10 epochs (default: %(default)s, the seed's)",
    )  # fmt: skip
    p.add_argument(
        "--batch-size", type=positive_int, default=BATCH_SIZE,
        help="windows per Adam step; above 8, gradients of 8 at a time are accumulated "
        "(memory) (default: %(default)s, the seed's)",
    )  # fmt: skip
    p.add_argument(
        "--seed", type=_seed, default=2025,
        help="seed of the split, the windows drawn and the weights (default: %(default)s)",
    )  # fmt: skip
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "compare",
        help="the test metrics of trained runs in one table",
        description="The test metrics of runs 'train' wrote, one row each, beside seed 000's "
        "accuracy (CNN-Bi-LSTM 94.57 %, CNN-LSTM 88.57 %) and the accuracy of always "
        "answering the more common class.",
    )
    p.add_argument("runs", type=Path, nargs="+", help="folders written by train (required)")
    p.add_argument(
        "--out", type=Path, default=None, help="also write the table here (default: only print it)"
    )
    p.set_defaults(func=_compare)
