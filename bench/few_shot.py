"""Few-shot learning curves: CoNLL-2003 test entity F1 against the number of labelled training sentences.

    .venv/bin/python bench/few_shot.py [--sizes 50 100 200 500 1000] [--seeds 0 1] \
        [--starts plain pretrained wnut17] [--pretrained-encoder DIR] [--quick]

For each size and seed, one random sample of CoNLL-2003 train sentences (the same sample for
every starting point, so the comparison is paired) is fine-tuned from each starting point:

* ``plain``      the offline MiniLM as shipped;
* ``pretrained`` the MiniLM after ``tfner.pretrain`` (masked LM, one epoch) on the words of
  CoNLL-2003 train + dev, no labels (or ``--pretrained-encoder``, an encoder folder made before);
* ``wnut17``     ``init_from`` a tagger fitted on WNUT-17 (tfner defaults, 3 epochs): its encoder,
  already tuned for NER on tweets. The label sets share only ``O``, so the classifier starts
  fresh apart from that row; the encoder is fixed for the first epoch (``freeze_encoder_epochs=1``).

No dev set (a few-shot user does not have 3,250 labelled sentences to select with): every run
trains a fixed number of epochs, ``max(3, min(20, ceil(1000 / size)))`` (about the same number
of sentence passes for the small sizes), batch 16, tfner's other defaults, and is scored once
on the whole test file. Reads CoNLL-2003 from ../shared/data (research-only, never shipped);
skips with a message where it is absent. Writes ``results/few-shot-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "conll2003"
STARTS = ("plain", "pretrained", "wnut17")


def epochs_for(size: int) -> int:
    return max(3, min(20, math.ceil(1000 / size)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 500, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--starts", nargs="+", choices=STARTS, default=list(STARTS))
    parser.add_argument("--pretrained-encoder", type=Path, help="an encoder folder from tfner.pretrain to reuse")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--test-limit", type=int, help="score on the first N test sentences only")
    parser.add_argument("--quick", action="store_true", help="sizes 20 and 50, one seed, 300 test sentences")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    files = {split: args.data / name for split, name in (("train", "eng.train"), ("dev", "eng.testa"), ("test", "eng.testb"))}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        print(f"SKIPPED: CoNLL-2003 not found ({', '.join(missing)}). It is research-only and is read from "
              "../shared/data/conll2003, never shipped with tfner.")
        return 0
    sizes, seeds, test_limit = args.sizes, args.seeds, args.test_limit
    if args.quick:
        sizes, seeds, test_limit = [20, 50], seeds[:1], 300

    import tfner
    from tfner.data.datasets import wnut17_path

    train_all = [s for s in tfner.read_conll(files["train"]) if s.words]
    test = tfner.read_conll(files["test"])[:test_limit]
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        start_from: dict[str, dict] = {"plain": {"encoder": "all-MiniLM-L6-v2"}}
        if "pretrained" in args.starts:
            if args.pretrained_encoder is None:
                t0 = time.perf_counter()
                texts = [" ".join(s.words) for split in ("train", "dev") for s in tfner.read_conll(files[split]) if s.words]
                if args.quick:
                    texts = texts[:500]
                adapted = tfner.pretrain(texts, Path(tmp) / "encoder", epochs=1, seed=0)
                timings["pretrain"] = time.perf_counter() - t0
                start_from["pretrained"] = {"encoder": str(adapted.output_dir)}
                print(f"pre-trained on {len(texts):,} CoNLL-2003 texts: held-out perplexity "
                      f"{adapted.epochs[-1].get('held_out_perplexity')}", flush=True)
            else:
                start_from["pretrained"] = {"encoder": str(args.pretrained_encoder)}
        if "wnut17" in args.starts:
            t0 = time.perf_counter()
            wnut_train = tfner.read_conll(wnut17_path("train"))
            source = tfner.fit(wnut_train[:300] if args.quick else wnut_train, epochs=1 if args.quick else 3, verbose=1)
            saved = source.save(Path(tmp) / "wnut17-tagger")
            timings["wnut17_tagger"] = time.perf_counter() - t0
            start_from["wnut17"] = {"init_from": str(saved), "freeze_encoder_epochs": 1}
        rows = []
        for size in sizes:
            for seed in seeds:
                sample = random.Random(seed).sample(train_all, size)
                for start in args.starts:
                    t0 = time.perf_counter()
                    tagger = tfner.fit(sample, epochs=epochs_for(size), batch_size=args.batch_size, seed=seed,
                                       verbose=0, **start_from[start])
                    result = tagger.evaluate(test)
                    rows.append({"start": start, "size": size, "seed": seed, "epochs": epochs_for(size),
                                 "test_f1": result.f1, "test_precision": result.precision, "test_recall": result.recall,
                                 "per_type_f1": {t: v["f1-score"] for t, v in result.entities.items()},
                                 "seconds": time.perf_counter() - t0})
                    print(f"{size:5d} sentences, seed {seed}, {start:10s}: test F1 {result.f1:.4f} "
                          f"({rows[-1]['seconds']:.0f} s)", flush=True)
    summary = {}
    for start in args.starts:
        for size in sizes:
            f1s = [r["test_f1"] for r in rows if r["start"] == start and r["size"] == size]
            summary[f"{start}/{size}"] = {"mean": statistics.mean(f1s), "min": min(f1s), "max": max(f1s),
                                          "stdev": statistics.stdev(f1s) if len(f1s) > 1 else 0.0, "runs": len(f1s)}
    record.write(args.out, "few-shot", {
        "quick": args.quick, "sizes": sizes, "seeds": seeds, "starts": args.starts, "batch_size": args.batch_size,
        "epochs_rule": "max(3, min(20, ceil(1000 / size)))", "test_sentences": len(test),
        "start_settings": {k: {kk: ("<temporary folder>" if kk in ("init_from",) or (k == "pretrained" and kk == "encoder"
                                                                     and args.pretrained_encoder is None) else vv)
                               for kk, vv in v.items()} for k, v in start_from.items()},
        "setup_seconds": timings, "runs": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
