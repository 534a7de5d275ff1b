"""How often the export's in-graph WordPiece differs from the fast tokenizer used in training.

    .venv/bin/python bench/wordpiece_parity.py [--encoder all-MiniLM-L6-v2]

Training tokenizes pre-split words with the encoder's fast (Rust) tokenizer; the
``predict_text`` signature splits, normalises and cuts words inside the TensorFlow graph
(:mod:`tfner.serving.graph_pieces`). For every word of WNUT-17 (shipped) and CoNLL-2003 (read
from ../shared/data when present, never copied), this compares the ids of the graph's pieces
with the fast tokenizer's ids for the same word (a corpus word that the graph splits further,
such as ``!!``, counts as identical when the concatenated pieces are). Writes a JSON record to
bench/results/ and prints the share of identical words per file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "conll2003"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    import tensorflow as tf

    import tfner  # noqa: F401  (tf-keras before TensorFlow's keras is touched)
    from tfner.data.datasets import wnut17_path
    from tfner.data.readers import read_conll
    from tfner.modeling.encoder import load_tokenizer
    from tfner.serving.text_graph import TextTagger, text_options

    tok = load_tokenizer(args.encoder)
    graph = TextTagger(None, ["O"], **text_options(tok, max_length=128, overlap=32))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def pieces_per_text(texts):
        words, pieces = graph.word_pieces(texts)
        rows = tf.gather(words["row"], pieces.value_rowids())
        return tf.RaggedTensor.from_value_rowids(pieces.flat_values, rows, nrows=tf.size(texts, out_type=tf.int64))

    files = {f"wnut17/{s}": wnut17_path(s) for s in ("train", "dev", "test")}
    for name in ("eng.train", "eng.testa", "eng.testb"):
        if (SHARED / name).exists():
            files[f"conll2003/{name}"] = SHARED / name
        else:
            print(f"conll2003/{name}: not found under {SHARED}; skipped (research-only, never shipped)")
    results, total, same = {}, 0, 0
    for name, path in files.items():
        words = [w for sentence in read_conll(path) for w in sentence.words]
        distinct = sorted(set(words))
        t0 = time.perf_counter()
        fast = [ids or [tok.unk_token_id] for ids in tok(distinct, add_special_tokens=False)["input_ids"]]
        got: list[list[int]] = []
        for i in range(0, len(distinct), 4096):
            chunk = tf.constant([w.encode("utf-8") for w in distinct[i:i + 4096]])
            got.extend(pieces_per_text(chunk).to_list())
        identical = {w: f == g for w, f, g in zip(distinct, fast, got, strict=True)}
        differ = [w for w in distinct if not identical[w]]
        n_same = sum(identical[w] for w in words)
        results[name] = {"words": len(words), "identical": n_same, "share_identical": n_same / len(words),
                         "distinct_words": len(distinct), "distinct_differing": len(differ),
                         "differing_examples": differ[:50], "seconds": round(time.perf_counter() - t0, 2)}
        total, same = total + len(words), same + n_same
        print(f"{name}: {n_same}/{len(words)} words identical ({100 * n_same / len(words):.3f}%), "
              f"{len(differ)} distinct words differ {differ[:5]}")
    print(f"all: {same}/{total} ({100 * same / total:.3f}%)")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"when": stamp, "command": " ".join(["bench/wordpiece_parity.py", *sys.argv[1:]]),
              "encoder": args.encoder, "files": results, "words": total, "identical": same,
              "versions": {"tensorflow": tf.__version__, "tensorflow_text": __import__("tensorflow_text").__version__}}
    out = args.out / f"wordpiece-parity-{stamp}.json"
    out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
