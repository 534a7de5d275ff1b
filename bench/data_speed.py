"""Is the data layer ever the bottleneck? Reading + alignment + tf.data against the training step rate.

    .venv/bin/python bench/data_speed.py [--epochs 3]

On CoNLL-2003 train (../shared/data, never copied; WNUT-17 train when absent), times each
stage tfner runs before a training step, in one process, as ``fit`` runs them:

1. reading the column file into IOB2 sentences (``tfner.read_conll``);
2. tokenizing and aligning into windows (``tfner.data.alignment.encode``, the offline MiniLM tokenizer);
3. building the tf.data pipeline and iterating ``--epochs`` passes over its batches
   (shuffle, length buckets, padding, prefetch), the first pass filling the cache;

and compares the windows/s of each with the rate training consumes them, taken from the
latest committed ``train-speed`` or ``conll2003`` result (real tokens/s turned into
windows/s with this corpus's mean window length; the fastest tfner configuration measured,
so the comparison is the hardest the data layer faces). Writes bench/results/data-speed-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONLL = REPO.parent / "shared" / "data" / "conll2003" / "eng.train"


def latest_training_rate(results: Path) -> tuple[float | None, str | None]:
    """The fastest tfner training rate (real tokens/s) of the latest committed train-speed result."""
    for path in sorted(results.glob("train-speed-*.json"), reverse=True):
        medians = json.loads(path.read_text()).get("median_real_tokens_per_s", {})
        tfner_rows = {k: v for k, v in medians.items() if k.startswith("tfner")}
        if tfner_rows:
            name = max(tfner_rows, key=tfner_rows.get)
            return float(tfner_rows[name]), f"{path.name}: {name}"
    return None, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import record

    import tfner
    from tfner.data import alignment, pipeline
    from tfner.data.datasets import wnut17_path
    from tfner.modeling.encoder import load_tokenizer

    source = CONLL if CONLL.exists() else wnut17_path("train")
    t0 = time.perf_counter()
    sentences = tfner.read_conll(source)
    read_s = time.perf_counter() - t0
    labels = ["O"] + sorted({t for s in sentences for t in s.tags if t != "O"})
    label_to_id = {t: i for i, t in enumerate(labels)}
    tokenizer = load_tokenizer(tfner.TaggerConfig().encoder)
    t0 = time.perf_counter()
    windows = alignment.encode(tokenizer, [s.words for s in sentences], [s.tags for s in sentences], label_to_id,
                               max_length=128, overlap=32)
    align_s = time.perf_counter() - t0
    buckets = pipeline.default_buckets(128)
    import tensorflow as tf

    t0 = time.perf_counter()
    ds = pipeline.make_dataset(windows, batch_size=args.batch_size, boundaries=buckets,
                               pad_id=tokenizer.pad_token_id, shuffle=True, seed=0)
    build_s = time.perf_counter() - t0
    passes = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        rows = 0
        for _, y in ds:
            rows += int(tf.shape(y)[0])
        passes.append(time.perf_counter() - t0)
        assert rows == len(windows), (rows, len(windows))  # every window, every pass
    words = sum(len(s.words) for s in sentences)
    tokens = sum(w.length for w in windows)
    mean_tokens = tokens / len(windows)
    rate, rate_source = latest_training_rate(args.out)
    train_windows_per_s = rate / mean_tokens if rate else None
    stages = {
        "read (counted in windows: sentences become these windows)": len(windows) / read_s,
        "align": len(windows) / align_s,
        "tf.data first pass (fills the cache)": len(windows) / passes[0],
        "tf.data later passes (median)": len(windows) / sorted(passes[1:])[len(passes[1:]) // 2] if passes[1:] else None,
    }
    print(f"{source.name}: {len(sentences)} sentences, {words} words, {len(windows)} windows, "
          f"{tokens} real sub-word tokens (mean {mean_tokens:.1f} per window)")
    print(f"read {read_s:.2f} s | align {align_s:.2f} s | dataset built in {build_s:.2f} s | passes "
          + ", ".join(f"{p:.2f} s" for p in passes))
    for name, value in stages.items():
        if value is None:
            continue
        ratio = f" = {value / train_windows_per_s:,.0f}x what training consumes" if train_windows_per_s else ""
        print(f"  {name:58s} {value:10,.0f} windows/s{ratio}")
    if train_windows_per_s:
        print(f"  {'training consumes':58s} {train_windows_per_s:10,.0f} windows/s "
              f"({rate:,.0f} real tokens/s, {rate_source})")
    record.write(args.out, "data-speed", {
        "source": source.name, "tensorflow": tf.__version__,
        "sentences": len(sentences), "words": words, "windows": len(windows), "real_tokens": tokens,
        "seconds": {"read": read_s, "align": align_s, "build": build_s, "passes": passes},
        "windows_per_s": stages, "training_windows_per_s": train_windows_per_s,
        "training_rate_source": rate_source,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
