"""Where ``predict_text``'s time goes as the request grows: the text path, the model, and chunk sizes.

    .venv/bin/python bench/serve_breakdown.py [--sentences 512] [--rounds 2]

On CoNLL-2003 test sentences (../shared/data, never copied; WNUT-17 test when absent) and a
throwaway MiniLM tagger (a short fit: speed does not depend on the weights), at batch 8 and 64,
interleaved request by request (ms a text):

* ``whole``: the in-graph text path with the model (:class:`tfner.serving.text_graph.TextTagger`);
* ``text path``: the same with the model replaced by zeros (decoding, WordPiece, windows, span
  assembly);
* ``model``: the model alone on the windows the text path gives it (the fast tokenizer's ids,
  sorted by length and cut into chunks of at most ``chunk_tokens`` padded tokens, as the graph
  does), traced once for any shape;
* texts/s of ``whole`` at several ``chunk_tokens``.

If ``whole`` is about ``model``, a request's scaling with batch size is the encoder's own: the
text path cannot make batch 64 cheaper per text than the model makes it. Writes a JSON record
to bench/results/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402
from serve_speed import texts_and_tagger  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONLL = REPO.parent / "shared" / "data" / "conll2003" / "eng.testb"
CHUNKS = (256, 512, 1024, 4096)


def chunked_ids(tokenizer, texts: list[str], budget: int) -> list[tuple[list[list[int]], list[list[int]]]]:
    """The request's windows (one a text: these texts fit one), sorted by length, in chunks of at most ``budget``
    padded tokens (at least one window a chunk), each padded to its longest: ``(ids, mask)`` a chunk."""
    rows = sorted((tokenizer(t.split(), is_split_into_words=True)["input_ids"] for t in texts), key=len)
    chunks: list[list[list[int]]] = []
    for row in rows:
        if chunks and (len(chunks[-1]) + 1) * len(row) <= budget:
            chunks[-1].append(row)
        else:
            chunks.append([row])
    return [([r + [0] * (len(c[-1]) - len(r)) for r in c], [[1] * len(r) + [0] * (len(c[-1]) - len(r)) for r in c])
            for c in chunks]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    import tensorflow as tf

    from tfner.serving.graph_windows import CHUNK_TOKENS
    from tfner.serving.text_graph import TextTagger, text_options

    source, texts, tagger = texts_and_tagger(args.sentences)
    options = text_options(tagger.tokenizer_, max_length=tagger.config_.max_length,
                           overlap=tagger.config_.window_overlap, decode="argmax")
    too_long = [t for t in texts if len(tagger.tokenizer_(t.split(), is_split_into_words=True)["input_ids"])
                > tagger.config_.max_length]
    if too_long:  # the model-alone route gives each text one window
        print(f"{len(too_long)} text(s) need more than one window: left out")
        texts = [t for t in texts if t not in set(too_long)]
    spec = [tf.TensorSpec([None], tf.string)]
    n_labels = len(tagger.labels_)

    def zeros(ids, mask):
        return tf.zeros(tf.concat([tf.shape(ids), [n_labels]], 0))

    def traced(logits_fn, chunk_tokens):
        return tf.function(TextTagger(logits_fn, tagger.labels_, chunk_tokens=chunk_tokens, **options).tag,
                           input_signature=spec)

    whole = {c: traced(tagger.module_._logits, c) for c in CHUNKS}
    path_alone = traced(zeros, CHUNK_TOKENS)
    model = tf.function(tagger.module_._logits, input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2)

    figures = {"source": source.name, "texts": len(texts), "rounds": args.rounds, "chunk_tokens": CHUNK_TOKENS,
               "batches": {}}
    for batch in (8, 64):
        requests = [texts[i:i + batch] for i in range(0, len(texts), batch)]
        strings = [tf.constant(r) for r in requests]
        windows = [[(tf.constant(i), tf.constant(m)) for i, m in chunked_ids(tagger.tokenizer_, r, CHUNK_TOKENS)]
                   for r in requests]
        seconds = {"whole": 0.0, "text path": 0.0, "model": 0.0, **{f"whole, chunk {c}": 0.0 for c in CHUNKS}}
        for f in [*whole.values(), path_alone]:  # traced before timing
            f(strings[0])
        for ids, mask in windows[0]:
            model(ids, mask)
        for _ in range(args.rounds):
            for s, w in zip(strings, windows, strict=True):
                t0 = time.perf_counter()
                path_alone(s)
                seconds["text path"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                for ids, mask in w:
                    model(ids, mask).numpy()
                seconds["model"] += time.perf_counter() - t0
                for c, f in whole.items():
                    t0 = time.perf_counter()
                    f(s)
                    seconds[f"whole, chunk {c}"] += time.perf_counter() - t0
        seconds["whole"] = seconds[f"whole, chunk {CHUNK_TOKENS}"]
        n = args.rounds * len(texts)
        row = {"ms_per_text": {k: 1000 * v / n for k, v in seconds.items()},
               "texts_per_s": {k: n / v for k, v in seconds.items()}}
        figures["batches"][str(batch)] = row
        ms = row["ms_per_text"]
        print(f"batch {batch:2d}: whole {ms['whole']:.2f} ms a text, text path alone {ms['text path']:.2f}, "
              f"model alone {ms['model']:.2f}; texts/s by chunk_tokens "
              + ", ".join(f"{c}: {row['texts_per_s'][f'whole, chunk {c}']:.0f}" for c in CHUNKS), flush=True)
    eight, sixty_four = (figures["batches"][b]["ms_per_text"] for b in ("8", "64"))
    figures["batch64_over_batch8"] = {k: eight[k] / sixty_four[k] for k in ("whole", "model")}
    print(f"batch 64 against batch 8, texts/s: whole {figures['batch64_over_batch8']['whole']:.2f}x, "
          f"model alone {figures['batch64_over_batch8']['model']:.2f}x")
    record.write(args.out, "serve-breakdown", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
