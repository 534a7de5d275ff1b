"""Accuracy: fine-tune the offline encoder on CoNLL-2003 (or WNUT-17), select on dev, score test.

    make bench-conll2003            # or: .venv/bin/python bench/conll2003.py [--epochs 1] [--corpus wnut17]

Reads the original IOB1 release from ../shared/data/conll2003 (research-only: never copied
into the project). Prints per-epoch dev entity F1, the test entity report per type
(seqeval, conlleval mode), the token-level report over real words, and training speed in
real (non-padding) tokens per second; the test scores also in seqeval's strict mode, and the
token-level report (scikit-learn's, as the classic BERT-NER tutorials print it) is kept in the
record. ``--corpus wnut17`` runs the same on the WNUT-17 copy shipped with tfner. Writes a JSON
record to bench/results/ (``conll2003-*.json`` or ``wnut17-*.json``).

``--multitask`` (CoNLL-2003): the same NER training with two more heads on the shared encoder,
part of speech (column 2) and chunks (column 3, IOB1 read into IOB2), loss
``L_ner + w * (L_pos + L_chunk)`` (``--aux-weight w``, default 1); the record
(``multitask-conll2003-*.json``) adds test POS accuracy and chunk F1. Compare it with the NER-only
record of the same seed and epochs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import padding  # noqa: E402
import record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "conll2003"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=("conll2003", "wnut17"), default="conll2003")
    parser.add_argument("--data", type=Path, default=DATA, help="the CoNLL-2003 folder")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--window-overlap", type=int, default=None,
                        help="context shared by consecutive windows (default: tfner's, 63 packed, else 32)")
    parser.add_argument("--predict-overlap", type=int, default=None,
                        help="window overlap at evaluation (default: --window-overlap); test is also scored with the "
                             "training overlap")
    parser.add_argument("--sentences-alone", type=float, default=None,
                        help="share of training sentences also given windows of their own under packed context "
                             "(default: tfner's, 0.25 packed)")
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--no-bucketing", action="store_true", help="pad batches of random lengths (one bucket)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head", choices=("softmax", "crf"), default="softmax")
    parser.add_argument("--context", choices=("sentence", "document", "packed"), default="sentence")
    parser.add_argument("--freeze-embeddings", action="store_true", help="keep the embedding layer fixed")
    parser.add_argument("--precision", choices=("auto", "float32", "mixed_bfloat16"), default="float32")
    parser.add_argument("--multitask", action="store_true", help="also train POS and chunk heads (CoNLL-2003)")
    parser.add_argument("--aux-weight", type=float, default=1.0, help="loss weight of the POS and chunk heads")
    parser.add_argument("--train-limit", type=int, default=None, help="train on the first N sentences only")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()

    files = {split: args.data / name for split, name in (("train", "eng.train"), ("dev", "eng.testa"), ("test", "eng.testb"))}
    if args.corpus == "wnut17":
        from tfner.data.datasets import wnut17_path

        files = {split: wnut17_path(split) for split in ("train", "dev", "test")}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        print(f"SKIPPED: CoNLL-2003 not found ({', '.join(missing)}). It is research-only and is read from "
              "../shared/data/conll2003, never shipped with tfner.")
        return 0

    import tfner

    tasks = {}
    if args.multitask:
        if args.corpus != "conll2003":
            parser.error("--multitask needs CoNLL-2003's POS and chunk columns")
        tasks = {"tasks": {"ner": 3, "pos": 1, "chunk": 2},
                 "task_weights": {"pos": args.aux_weight, "chunk": args.aux_weight}}
    train = tfner.read_conll(files["train"], aux_columns={"pos": 1, "chunk": 2} if tasks else None)[:args.train_limit]
    tagger = tfner.fit(train, str(files["dev"]), **tasks, epochs=args.epochs, batch_size=args.batch_size,
                       learning_rate=args.learning_rate, max_length=args.max_length, verbose=2,
                       window_overlap=args.window_overlap, predict_overlap=args.predict_overlap,
                       warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay, seed=args.seed,
                       length_buckets=[] if args.no_bucketing else None, head=args.head, precision=args.precision,
                       context=args.context, sentences_alone=args.sentences_alone,
                       freeze_embeddings=args.freeze_embeddings,
                       logdir=str(REPO / "runs" / args.corpus))
    stats = tagger.train_stats_
    test = tagger.evaluate(str(files["test"]))
    strict = tagger.evaluate(str(files["test"]), mode="strict")
    constrained = train_overlap = None
    if args.predict_overlap is not None:  # the same model with the training windows' overlap at evaluation
        wide = tagger.config_
        tagger.config_ = wide.replace(predict_overlap=None)
        train_overlap = tagger.evaluate(str(files["test"]))
        tagger.config_ = wide
        print(f"\ntest with the training overlap ({tagger.config_.window_overlap}) at evaluation: entity F1 {train_overlap.f1:.4f}")
    if args.head == "softmax":  # the same model, its tags re-decoded: the best IOB2-valid sequence
        argmax_config = tagger.config_
        tagger.config_ = argmax_config.replace(decode="constrained")
        constrained = tagger.evaluate(str(files["test"]))
        tagger.config_ = argmax_config
    kept = tagger.kept_epoch_  # the epoch whose weights the tagger holds (restore_best), scored on test below
    dev = tagger.dev_evaluations_[kept]
    task_figures = {}
    for name in ("pos", "chunk") if tasks else ():
        result = tagger.evaluate_task(str(files["test"]), name)
        print(f"\ntest {name}:\n{result}")
        task_figures[name] = {"accuracy": result.accuracy, "words": result.words} if name == "pos" else {
            "f1": result.f1, "precision": result.precision, "recall": result.recall,
            "token_accuracy": result.tokens["accuracy"], "entities": result.entities}
        if name == "chunk":
            task_figures[name]["f1_strict"] = tagger.evaluate_task(str(files["test"]), name, mode="strict").f1
    tokens_s = stats["tokens_per_epoch"] * args.epochs / stats["seconds"]
    words_s = stats["labelled_tokens_per_epoch"] * args.epochs / stats["seconds"]

    print(f"\nkept epoch {kept + 1} (best on dev: {tagger.best_epoch_ + 1}; kept epoch's dev entity F1 {dev.f1:.4f})")
    print(f"\n{args.corpus} test ({files['test'].name}):\n{test}")
    print(f"\nstrict mode: entity F1 {strict.f1:.4f}")
    if constrained is not None:
        print(f"\nthe same model with decode='constrained':\n{constrained}")
    print(f"training: {stats['seconds']:.0f} s in training steps ({stats['fit_seconds']:.0f} s with dev scoring) "
          f"for {args.epochs} epoch(s), {stats['steps_per_epoch']} steps/epoch, "
          f"{tokens_s:.0f} real sub-word tokens/s ({words_s:.0f} labelled words/s), "
          f"{stats['replicas']} replica(s)")

    figures = {
        "corpus": args.corpus, "config": tagger.config_.to_dict(), "train_stats": stats,
        "dev_f1_per_epoch": [e.f1 for e in tagger.dev_evaluations_], "selected_epoch": kept + 1,
        "best_epoch": tagger.best_epoch_ + 1,
        "dev": {"f1": dev.f1, "precision": dev.precision, "recall": dev.recall, "per_type_f1": dev.per_type_f1()},
        "test": {"f1": test.f1, "precision": test.precision, "recall": test.recall, "entities": test.entities,
                 "token_accuracy": test.tokens["accuracy"], "tokens": test.tokens},
        "test_strict": {"f1": strict.f1, "precision": strict.precision, "recall": strict.recall,
                        "entities": strict.entities},
        "real_tokens_per_s": tokens_s, "labelled_words_per_s": words_s,
        "padding": padding.padding_figures(tagger.config_, tagger.tokenizer_, train),
        "test_train_overlap": None if train_overlap is None else {
            "f1": train_overlap.f1, "precision": train_overlap.precision, "recall": train_overlap.recall},
        "test_constrained": None if constrained is None else {
            "f1": constrained.f1, "precision": constrained.precision, "recall": constrained.recall,
            "entities": constrained.entities, "token_accuracy": constrained.tokens["accuracy"]},
    }
    if tasks:
        figures["test_tasks"] = task_figures
    record.write(args.out, f"multitask-{args.corpus}" if tasks else args.corpus, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
