"""Computed positions against real ones: how much of a training epoch is padding.

    .venv/bin/python bench/padding.py [--context packed] [--batch-size 8] [--max-length 128]

Builds the training windows of CoNLL-2003's train file (or ``--corpus wnut17``) as ``fit`` does,
then one epoch of the training dataset (shuffled, bucketed, padded per batch, as ``fit`` runs it),
and counts the positions the encoder computes (batch width x rows) against the real sub-word
tokens, and the labelled words. Needs only the tokenizer: no training. Prints one JSON line;
:func:`padding_figures` is what ``conll2003.py`` records with every run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "conll2003"


def padding_figures(config, tokenizer, train) -> dict:
    """One epoch of ``fit``'s training dataset under ``config`` (a TaggerConfig) over ``train``:
    ``computed`` positions, ``real`` tokens, ``labelled`` words, ``padding_share`` = 1 - real / computed,
    and ``computed_per_labelled`` word (the cost of a labelled word, context and padding included)."""
    import numpy as np

    from tfner.data import alignment, pipeline
    from tfner.tagging import inputs

    corpus = inputs.read_corpus(config, train, None)
    windows = inputs.windows_of(config, tokenizer, corpus, corpus.train)
    ds = pipeline.make_dataset(windows, shuffle=True, batch_size=config.batch_size,
                               boundaries=inputs.bucket_boundaries(config),
                               pad_id=tokenizer.pad_token_id, seed=config.seed)
    computed = 0
    for features, _ in ds:
        rows, width = features["input_ids"].shape
        computed += int(rows) * int(width)
    real = int(sum(w.length for w in windows))
    labelled = int(sum((alignment.main_labels(w) != alignment.IGNORE).sum() for w in windows))
    return {"windows": len(windows), "computed": computed, "real": real, "labelled": labelled,
            "padding_share": 1 - real / computed, "computed_per_labelled": computed / labelled,
            "mean_window": float(np.mean([w.length for w in windows]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=("conll2003", "wnut17"), default="conll2003")
    parser.add_argument("--context", choices=("sentence", "document", "packed"), default="sentence")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--window-overlap", type=int, default=None, help="default: tfner's (63 packed, else 32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--buckets", default=None, help="length bucket boundaries, comma-separated (default: fit's)")
    args = parser.parse_args()
    import tfner
    from tfner.config import TaggerConfig
    from tfner.modeling.encoder import load_tokenizer

    train = DATA / "eng.train"
    if args.corpus == "wnut17":
        from tfner.data.datasets import wnut17_path

        train = wnut17_path("train")
    elif not train.exists():
        print(f"{train} is absent (CoNLL-2003 is research-only and never shipped): nothing to measure")
        return 0
    buckets = tuple(int(b) for b in args.buckets.split(",")) if args.buckets else None
    config = TaggerConfig(context=args.context, batch_size=args.batch_size, max_length=args.max_length, seed=args.seed,
                          window_overlap=args.window_overlap,
                          length_buckets=buckets)
    figures = padding_figures(config, load_tokenizer(config.encoder), tfner.read_conll(train))
    print(json.dumps({"corpus": args.corpus, "context": args.context, "batch_size": args.batch_size,
                      "buckets": config.length_buckets, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
