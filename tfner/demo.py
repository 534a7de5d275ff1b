"""The README demo: fine-tune the offline encoder on WNUT-17, evaluate, export, predict.

Run with ``make demo`` (which installs first) or ``python -m tfner.demo``: ``tfner.fit(train, dev)`` with
tfner's default recipe (batch size, learning rate and budget chosen from the corpus and the encoder, said on
the console). ``--epochs``, ``--learning-rate`` and ``--batch-size`` override it; ``--max-sentences N`` reads
only each split's first N sentences (a quick check of the whole path: add ``--epochs 1``, or the recipe's
minimum budget of updates for a small corpus applies).
"""

from __future__ import annotations

import argparse
import os
import time

SAMPLE = "Elon Musk said Tesla will open a new factory in Berlin, and fans of Star Wars cheered on Twitter."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tfner.demo", description=__doc__)
    parser.add_argument("--epochs", type=int, help="passes over train (default: the recipe's budget of updates)")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, help="windows a batch (default: the recipe's)")
    parser.add_argument("--export-dir", default="saved_models/wnut17")
    parser.add_argument("--logdir", default="runs/wnut17")
    parser.add_argument("--max-sentences", type=int, help="only the first N sentences of each split (with --epochs 1 for a quick check: "
                        "the recipe gives a small corpus at least 600 updates)")
    args = parser.parse_args(argv)

    from tfner import logs  # tfner first: it selects tf-keras before anything touches tf.keras

    # A line per round (verbose=2) without the libraries' logs that come with it in the library
    # (the demo is an application; TFNER_LIBRARY_LOGS=1 shows them).
    with logs.quiet_libraries(0):
        run(args)


def run(args: argparse.Namespace) -> None:
    import tfner
    from tfner.data.datasets import wnut17_path

    def split(name: str):
        path = wnut17_path(name)
        return path if args.max_sentences is None else tfner.read_conll(path)[:args.max_sentences]

    t0 = time.perf_counter()
    print(f"Fine-tuning all-MiniLM-L6-v2 (offline) on WNUT-17 train; TensorBoard logs in {args.logdir}")
    asked = {name: value for name, value in (("epochs", args.epochs), ("learning_rate", args.learning_rate),
                                             ("batch_size", args.batch_size)) if value is not None}
    tagger = tfner.fit(split("train"), split("dev"), logdir=args.logdir, verbose=2, **asked)
    stats = tagger.train_stats_
    updates = stats["schedule"]["round_updates"] * len(stats["epoch_seconds"])  # rounds run (early stopping ends some)
    words = stats["labelled_tokens_per_epoch"] * updates / stats["steps_per_epoch"]
    print(f"trained {updates:,} updates in {stats['seconds']:.0f} s ({words / stats['seconds']:.0f} labelled words/s)")

    ev = tagger.evaluate(split("dev"))
    print("\nWNUT-17 dev, per-type entity F1 (seqeval):")
    for kind, f1 in ev.per_type_f1().items():
        print(f"  {kind:15s} {f1:.4f}")
    print(f"  {'micro avg':15s} {ev.f1:.4f}  (P {ev.precision:.4f}, R {ev.recall:.4f})")
    os.makedirs(args.logdir, exist_ok=True)
    curves, confusion = os.path.join(args.logdir, "history.png"), os.path.join(args.logdir, "dev_confusion.png")
    tagger.plot_history(curves)
    ev.plot_confusion(confusion)
    print(f"pictures: {curves} (loss and dev F1 per round), {confusion} (dev entity types, gold vs predicted)")
    test = tagger.evaluate(split("test"))
    print(f"WNUT-17 test (held out; dev chose the round): entity F1 {test.f1:.4f} "
          f"(P {test.precision:.4f}, R {test.recall:.4f})")

    path = tagger.export(args.export_dir)
    print(f"\nexported SavedModel: {path}")
    served = tfner.load(path)
    print(f"\nentities in: {SAMPLE!r}")
    for span in served.predict([SAMPLE])[0]:
        print(f"  [{span.start}, {span.end}) {span.label:15s} {span.text!r} score={span.score:.3f}")
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
