"""Serving speed: the export's ``predict_text`` against ``serving_default`` plus Python-side tokenization.

    .venv/bin/python bench/serve_speed.py [--sentences 512] [--rounds 2]

Builds a tagger on the offline MiniLM encoder (a short fit on a few sentences: speed does not
depend on the weights), exports it, loads the SavedModel in this process and times, on
CoNLL-2003 test sentences (../shared/data, never copied; WNUT-17 test when absent), texts/s at
batch 1, 8 and 64 and p50/p99 latency at batch 1 for:

* ``predict_text``: raw UTF-8 strings in, dense entities out (everything in the graph);
* ``serving_default`` + Python: the client splits words, runs the fast tokenizer and windows in
  Python (``tfner.data.alignment``), pads, calls ``serving_default``, maps tags back to words and
  assembles spans: what a client of an ids-in signature has to do;
* ``Tagger.predict``: the tagger in memory (Python, no export), texts in, :class:`Span` lists out.

Contenders alternate batch by batch (A B A B ...) on the same texts, so machine noise hits
all alike. Then a fresh process that imports only TensorFlow (and tensorflow-text) loads the
export and serves every text through ``predict_text`` at batch 8, as a TF Serving host would,
and reports its peak RSS. Writes a JSON record to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONLL = REPO.parent / "shared" / "data" / "conll2003" / "eng.testb"


def texts_and_tagger(count: int):
    """The serving suites' inputs: ``(source file, texts, tagger)``, up to ``count`` CoNLL-2003 test sentences
    (WNUT-17 test without ../shared/data) joined by spaces, and a throwaway tagger fitted on the first 64 (its
    speed is measured, not its accuracy)."""
    import tfner
    from tfner.data.datasets import wnut17_path

    source = CONLL if CONLL.exists() else wnut17_path("test")
    sentences = [s for s in tfner.read_conll(source) if s.words][:count]
    texts = [" ".join(s.words) for s in sentences]
    print(f"{len(texts)} texts from {source.name}; fitting a throwaway tagger for its export ...")
    return source, texts, tfner.fit(sentences[:64], epochs=1, batch_size=16, verbose=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the sentences per batch size")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    import tensorflow as tf

    from tfner.data import alignment, pipeline
    from tfner.data.schemes import entities
    from tfner.data.words import split_words

    source, texts, tagger = texts_and_tagger(args.sentences)
    with tempfile.TemporaryDirectory() as tmp:
        version = tagger.export(Path(tmp) / "ner")
        loaded = tf.saved_model.load(str(version))
        text_fn, ids_fn = loaded.signatures["predict_text"], loaded.signatures["serving_default"]
        tok, cfg, labels = tagger.tokenizer_, tagger.config_, tagger.labels_

        def run_text(batch):
            out = text_fn(text=tf.constant([t.encode("utf-8") for t in batch]))
            return [int(n) for n in out["num_entities"].numpy()]

        def run_ids(batch):
            split = [split_words(t) for t in batch]
            words = [[w for w, _, _ in s] for s in split]
            windows = alignment.encode(tok, words, None, None, max_length=cfg.max_length, overlap=cfg.window_overlap)
            padded = pipeline.pad_batch(windows, tok.pad_token_id)
            out = ids_fn(input_ids=tf.constant(padded["input_ids"]), attention_mask=tf.constant(padded["attention_mask"]))
            word_ids = alignment.collect(windows, [len(w) for w in words], list(out["label_ids"].numpy()))
            return [len(entities([labels[i] for i in ids])) for ids in word_ids]

        def run_memory(batch):
            return [len(spans) for spans in tagger.predict(batch)]

        contenders = {"predict_text": run_text, "serving_default+python": run_ids, "Tagger.predict": run_memory}
        for fn in contenders.values():  # trace and warm up
            fn(texts[:8])
        results: dict = {name: {} for name in contenders}
        for batch_size in (1, 8, 64):
            batches = [texts[i:i + batch_size] for i in range(0, len(texts), batch_size)]
            if batch_size == 1:
                batches = batches[:200]
            seconds = {name: 0.0 for name in contenders}
            latencies: dict[str, list[float]] = {name: [] for name in contenders}
            n_texts = 0
            for _ in range(args.rounds):
                for batch in batches:
                    for name, fn in contenders.items():
                        t0 = time.perf_counter()
                        fn(batch)
                        dt = time.perf_counter() - t0
                        seconds[name] += dt
                        latencies[name].append(dt)
                    n_texts += len(batch)
            for name in contenders:
                row = {"texts_per_s": n_texts / seconds[name], "batches": len(latencies[name])}
                if batch_size == 1:
                    row["p50_ms"] = 1000 * float(np.percentile(latencies[name], 50))
                    row["p99_ms"] = 1000 * float(np.percentile(latencies[name], 99))
                results[name][f"batch_{batch_size}"] = row
                extra = (f", p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms"
                         if batch_size == 1 else "")
                print(f"batch {batch_size:>2} {name:>24}: {row['texts_per_s']:8.1f} texts/s{extra}")
        # the two routes must agree on what they serve
        agree = run_text(texts[:64]) == run_ids(texts[:64]) == run_memory(texts[:64])
        print(f"entity counts agree on 64 texts: {agree}")
        served = _serve_alone(version, texts)
        print(f"a fresh serving process (TensorFlow only): peak RSS {served['peak_rss_mb']:.0f} MB "
              f"({served['peak_rss_mb_after_load']:.0f} MB after loading), {served['texts_per_s']:.1f} texts/s")

    record.write(args.out, "serve-speed", {"source": source.name,
              "texts": len(texts), "rounds": args.rounds, "results": results, "entity_counts_agree": agree,
              "peak_rss_mb": served["peak_rss_mb"], "serving_process": served})
    return 0


SERVE_ALONE = """
import json, resource, sys, time
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the export's WordPiece op)
fn = tf.saved_model.load(sys.argv[1]).signatures["predict_text"]
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
texts = [line.encode("utf-8") for line in sys.stdin.read().split("\\n") if line]
fn(text=tf.constant(texts[:8]))
t0 = time.perf_counter()
for i in range(0, len(texts), 8):
    fn(text=tf.constant(texts[i:i + 8]))
seconds = time.perf_counter() - t0
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "peak_rss_mb_after_load": loaded, "texts_per_s": len(texts) / seconds, "batch": 8}))
"""


def _serve_alone(version: Path, texts: list[str]) -> dict:
    """Peak RSS and texts/s of a process that only loads the export and serves ``texts`` (batch 8)."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", SERVE_ALONE, str(version)], input="\n".join(texts),
                          capture_output=True, text=True, check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    raise SystemExit(main())
