"""The README demo: fine-tune the offline encoder on WNUT-17, evaluate, export, predict.

Run with ``make demo`` (which installs first) or ``python -m tfner.demo [--epochs N]``;
``--max-sentences N`` reads only each split's first N sentences (a quick check of the whole path).
"""

from __future__ import annotations

import argparse
import os
import time

SAMPLE = "Elon Musk said Tesla will open a new factory in Berlin, and fans of Star Wars cheered on Twitter."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tfner.demo", description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--export-dir", default="saved_models/wnut17")
    parser.add_argument("--logdir", default="runs/wnut17")
    parser.add_argument("--max-sentences", type=int, help="only the first N sentences of each split")
    args = parser.parse_args(argv)

    from tfner import logs  # tfner first: it selects tf-keras before anything touches tf.keras

    # A line per epoch (verbose=2) without the libraries' logs that come with it in the library
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
    print(f"Fine-tuning all-MiniLM-L6-v2 (offline) on WNUT-17 train for {args.epochs} epochs; "
          f"TensorBoard logs in {args.logdir}")
    # A small encoder on a small data set: a higher peak learning rate and smaller batches than
    # the BERT-base defaults (5e-5, 32) reach a useful F1 within the demo's time budget.
    tagger = tfner.fit(split("train"), split("dev"), epochs=args.epochs, learning_rate=args.learning_rate,
                       batch_size=args.batch_size, logdir=args.logdir, verbose=2)
    stats = tagger.train_stats_
    print(f"trained in {stats['seconds']:.0f} s "
          f"({stats['labelled_tokens_per_epoch'] * args.epochs / stats['seconds']:.0f} labelled words/s)")

    ev = tagger.evaluate(split("dev"))
    print("\nWNUT-17 dev, per-type entity F1 (seqeval):")
    for kind, f1 in ev.per_type_f1().items():
        print(f"  {kind:15s} {f1:.4f}")
    print(f"  {'micro avg':15s} {ev.f1:.4f}  (P {ev.precision:.4f}, R {ev.recall:.4f})")
    os.makedirs(args.logdir, exist_ok=True)
    curves, confusion = os.path.join(args.logdir, "history.png"), os.path.join(args.logdir, "dev_confusion.png")
    tagger.plot_history(curves)
    ev.plot_confusion(confusion)
    print(f"pictures: {curves} (loss and dev F1 per epoch), {confusion} (dev entity types, gold vs predicted)")
    test = tagger.evaluate(split("test"))
    print(f"WNUT-17 test (held out; dev chose the epoch): entity F1 {test.f1:.4f} "
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
