"""Domain-adaptive pre-training measured: WNUT-17 NER from the plain encoder against one pre-trained on WNUT-17's text.

    .venv/bin/python bench/pretrain_wnut17.py [--mlm-epochs 2] [--epochs 3] [--seeds 0 1] [--quick]

1. ``tfner.pretrain`` continues masked-LM training of the offline MiniLM on the words of
   WNUT-17's train, dev and test sentences joined by spaces — the text only, no labels (as the
   issue asks: the test text is seen unlabelled, the usual transductive setting of domain
   adaptation papers; say so when quoting the figure).
2. ``tfner.fit`` on WNUT-17 train with dev selection, from the plain encoder and from the
   pre-trained one, same settings and seeds; test entity F1 (seqeval default) of each.

Writes ``results/pretrain-wnut17-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mlm-epochs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="NER fine-tuning epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--whole-word", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a few hundred sentences, one epoch each (smoke check)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()

    import tfner
    from tfner.data.datasets import wnut17_path

    splits = {s: tfner.read_conll(wnut17_path(s)) for s in ("train", "dev", "test")}
    texts = [" ".join(s.words) for split in splits.values() for s in split if s.words]
    train, dev = splits["train"], splits["dev"]
    mlm_epochs, epochs, seeds = args.mlm_epochs, args.epochs, args.seeds
    if args.quick:
        texts, train, dev, mlm_epochs, epochs, seeds = texts[:400], train[:300], dev[:200], 1, 1, seeds[:1]
    with tempfile.TemporaryDirectory() as tmp:
        adapted = tfner.pretrain(texts, Path(tmp) / "encoder", epochs=mlm_epochs, whole_word=args.whole_word, seed=0)
        runs: dict[str, list[dict]] = {"plain encoder": [], "domain pre-trained": []}
        for seed in seeds:
            for name, encoder in (("plain encoder", "all-MiniLM-L6-v2"), ("domain pre-trained", str(adapted.output_dir))):
                tagger = tfner.fit(train, dev, encoder=encoder, epochs=epochs, seed=seed, verbose=1)
                test = tagger.evaluate(str(wnut17_path("test")))
                runs[name].append({"seed": seed, "test_f1": test.f1, "test_precision": test.precision,
                                   "test_recall": test.recall, "dev_f1_per_epoch": [e.f1 for e in tagger.dev_evaluations_],
                                   "per_type_f1": {t: v["f1-score"] for t, v in test.entities.items()}})
                print(f"{name}, seed {seed}: WNUT-17 test entity F1 {test.f1:.4f}", flush=True)
    means = {name: statistics.mean(r["test_f1"] for r in rs) for name, rs in runs.items()}
    for name, mean in means.items():
        print(f"{name:20s} mean test F1 {mean:.4f} over seeds {seeds}")
    record.write(args.out, "pretrain-wnut17", {
        "quick": args.quick, "mlm_texts": len(texts), "mlm_epochs": mlm_epochs, "whole_word": args.whole_word,
        "mlm": adapted.epochs, "ner_epochs": epochs, "train_sentences": len(train), "seeds": seeds,
        "runs": runs, "mean_test_f1": means})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
