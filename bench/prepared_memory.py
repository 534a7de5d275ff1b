"""Peak memory of fit as the corpus grows: in-memory files against prepared TFRecord shards.

    .venv/bin/python bench/prepared_memory.py [--sizes 1 4 16]

WNUT-17 train (shipped with tfner) replicated 1x, 4x and 16x (3,394 to 54,304 sentences),
one epoch each, in a fresh process per run (peak RSS from getrusage): once fitting the CoNLL
file directly, once from a folder written by ``tfner.prepare`` (the preparing happens in
another process, so its memory is not counted). The encoder is the offline MiniLM's tokenizer
with a tiny random BERT (2 layers, hidden 32) so that a run takes seconds: what grows with the
corpus is the data, not the model. Writes bench/results/prepared-memory-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RUN = r"""
import json, resource, sys, time
import tfner
t0 = time.perf_counter()
tagger = tfner.fit(sys.argv[1], encoder=sys.argv[2], pretrained=False, epochs=1, batch_size=32, verbose=0,
                   max_length=64, window_overlap=16)
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - t0, "windows": tagger.train_stats_["windows"]}))
"""


def run(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import record
    from transformers import BertConfig

    import tfner
    from tfner.data.datasets import wnut17_path
    from tfner.modeling.encoder import load_tokenizer

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        enc = Path(tmp) / "encoder"
        load_tokenizer(tfner.TaggerConfig().encoder).save_pretrained(enc)
        BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=64, max_position_embeddings=128).save_pretrained(enc)
        text = wnut17_path("train").read_text(encoding="utf-8").rstrip("\n") + "\n\n"
        for size in args.sizes:
            corpus = Path(tmp) / f"train-{size}x.conll"
            corpus.write_text(text * size, encoding="utf-8")
            folder = Path(tmp) / f"prepared-{size}x"
            run("import sys, tfner; tfner.prepare(sys.argv[1], sys.argv[2], encoder=sys.argv[3], max_length=64, "
                "window_overlap=16); print('{}')", str(corpus), str(folder), str(enc))
            for route, data in (("in memory", corpus), ("prepared shards", folder)):
                result = run(RUN, str(data), str(enc))
                rows.append({"size": size, "route": route, **result})
                print(f"{size:3d}x  {route:16s} {result['windows']:7d} windows  peak RSS {result['peak_rss_mb']:8.1f} MB"
                      f"  {result['seconds']:6.1f} s")
    record.write(args.out, "prepared-memory", {"rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
