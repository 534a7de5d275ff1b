"""Training speed, interleaved: tfner's recipes against a plain PyTorch loop on the same sentences.

    .venv/bin/python bench/train_speed.py --torch-python ../venv-torch/bin/python [--rounds 2]

Each contender trains, in its own process, on the first ``--sentences`` sentences of
CoNLL-2003's train file for ``--epochs`` epochs (batch 32, lr 5e-5, 10% warm-up, weight decay
0.01, max_length 128) and reports real (non-padding) sub-word tokens per second of training
steps (no scoring), over the whole run and over its last epoch alone (steady state: the
TensorFlow contenders trace their step in the first epoch, a cost a long run amortises; the
PyTorch loop has none). Contenders run one after the other in rounds, in a rotated order, so
a slow spell of a shared machine hits all of them; the table gives each one's median and its
ratio to the PyTorch loop's median. The PyTorch side is ``bench/torch_reference.py
--speed-only`` in its own environment (see that file). Writes ``results/train-speed-*.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record as bench_record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "conll2003"

ELEMENTWISE = "tfner float32, tf-keras element-wise AdamW update"
PACKED = "tfner float32, packed windows (batch 8, overlap 63)"
PACKED_BF16 = "tfner mixed_bfloat16, packed windows (batch 8, overlap 63)"
PACKED_DEFAULTS = "tfner float32, packed defaults (windows of 256, batch 4, overlap 63, half alone)"
#: an upper bound, not a recipe: every speed option tfner has, and dropout off (which tfner does not offer)
CEILING = "ceiling: mixed_bfloat16, packed (batch 8, overlap 63), frozen embeddings, no dropout"
#: tfner contenders: TaggerConfig options on top of the shared settings.
TFNER = {
    "tfner float32": {},
    "tfner mixed_bfloat16": {"precision": "mixed_bfloat16"},
    "tfner float32, frozen embeddings": {"freeze_embeddings": True},
    "tfner mixed_bfloat16, frozen embeddings": {"precision": "mixed_bfloat16", "freeze_embeddings": True},
    "tfner float32, CRF head": {"head": "crf"},
    # documents packed into full, overlapping windows (issue 22): tokens counted once, as sentence windows hold them
    # no sentence trained alone (packed context's default is half), so every window is as full as its document allows
    PACKED: {"context": "packed", "batch_size": 8, "window_overlap": 63, "sentences_alone": 0.0},
    PACKED_BF16: {"context": "packed", "batch_size": 8, "window_overlap": 63, "sentences_alone": 0.0,
                  "precision": "mixed_bfloat16"},
    # packed context as fit() defaults it: windows of 256 overlapping by 63, half the sentences alone
    PACKED_DEFAULTS: {"context": "packed", "batch_size": 4, "max_length": 256, "window_overlap": 63},
    # the same as "tfner float32" with tf-keras' own element-wise AdamW update (tfner before its fused kernel)
    ELEMENTWISE: {},
    # how fast packed windows train with every cost tfner can drop dropped: bfloat16 (where the CPU has it), no
    # update of the word embeddings, and (patched in run_tfner) every dropout rate 0, the random masks' cost
    CEILING: {"context": "packed", "batch_size": 8, "window_overlap": 63, "sentences_alone": 0.0,
              "precision": "mixed_bfloat16", "freeze_embeddings": True},
}
TORCH = "PyTorch loop (float32)"
#: TensorFlow recipes a user would otherwise follow (bench/tf_recipes.py).
RECIPES = {
    "HF TF example recipe (float32)": "hf",
    "classic pad-to-128, batch 16 (float32)": "pad128",
}


def run_tfner(options: dict, sentences: int, epochs: int, data: Path, *, elementwise: bool = False,
              no_dropout: bool = False) -> dict:
    import tfner

    zeroed: list[str] = []
    if no_dropout:  # every dropout layer's rate 0 once the model is built (Keras' Dropout is then the identity)
        import tensorflow as tf

        from tfner.modeling import dropout

        seeded = dropout.checkpointed_dropout

        def without_dropout(model, seed):
            for layer in model.submodules:
                if isinstance(layer, tf.keras.layers.Dropout):
                    layer.rate = 0.0
                    zeroed.append(layer.name)
            return seeded(model, seed)

        dropout.checkpointed_dropout = without_dropout

    if elementwise:  # tf-keras' update_step and weight decay instead of the fused kernel (clipping unchanged)
        import tensorflow as tf

        from tfner.training import optim

        optim.AdamW.update_step = tf.keras.optimizers.AdamW.update_step
        optim.AdamW._apply_weight_decay = tf.keras.optimizers.AdamW._apply_weight_decay

    train = tfner.read_conll(data / "eng.train")[:sentences]
    # the PyTorch loop's settings; its softmax head too (head="auto" would train the CRF: its own contender)
    settings = {"batch_size": 32, "window_overlap": 32, "max_length": 128, "head": "softmax", **options}
    tagger = tfner.fit(train, epochs=epochs, learning_rate=5e-5, warmup_ratio=0.1, weight_decay=0.01,
                       verbose=0, **settings)
    stats = tagger.train_stats_
    # the useful work: the real tokens of the sentences' own windows. Packed windows compute more positions than
    # that (their overlap); they are counted as the sentence windows of the same words, so every contender is
    # credited with the same tokens for the same sentences.
    per_epoch = _sentence_tokens(tagger, train) if options.get("context") == "packed" else stats["tokens_per_epoch"]
    tokens = per_epoch * epochs
    return {"tokens": tokens, "seconds": stats["seconds"], "real_tokens_per_s": tokens / stats["seconds"],
            "last_epoch_real_tokens_per_s": per_epoch / stats["epoch_seconds"][-1],
            "computed_real_tokens_per_epoch": stats["tokens_per_epoch"],
            "labelled_words_per_s": stats["labelled_tokens_per_epoch"] * epochs / stats["seconds"],
            "precision": stats["precision"], "head": tagger.config_.head,
            "dropout_layers_zeroed": len(zeroed) if no_dropout else 0, "peak_rss_mb": _peak_rss_mb()}


def _sentence_tokens(tagger, train) -> int:
    """Real sub-word tokens of ``train`` encoded sentence by sentence (the sentence-level contenders' count)."""
    from tfner.data import alignment

    windows = alignment.encode(tagger.tokenizer_, [s.words for s in train], None, None, max_length=128, overlap=32)
    return int(sum(w.length for w in windows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=2500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--torch-python", help="python of an environment with torch (bench/torch_reference.py)")
    parser.add_argument("--only", choices=[*TFNER, *RECIPES], help=argparse.SUPPRESS)  # one run, in a child
    parser.add_argument("--contenders", nargs="+", choices=[*TFNER, *RECIPES, TORCH],
                        help="run only these (default: all; the PyTorch loop needs --torch-python)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()

    if args.only in RECIPES:
        from tf_recipes import run

        import tfner

        train = tfner.read_conll(args.data / "eng.train")[:args.sentences]
        print(json.dumps(run(RECIPES[args.only], train, args.epochs)))
        return 0
    if args.only:
        print(json.dumps(run_tfner(TFNER[args.only], args.sentences, args.epochs, args.data,
                                   elementwise=args.only == ELEMENTWISE, no_dropout=args.only == CEILING)))
        return 0
    if not (args.data / "eng.train").exists():
        print(f"SKIPPED: CoNLL-2003 not found in {args.data} (research-only; never shipped with tfner).")
        return 0

    from tfner.config import TaggerConfig
    from tfner.modeling.encoder import resolve

    commands = {name: [sys.executable, __file__, "--only", name, "--sentences", str(args.sentences),
                       "--epochs", str(args.epochs), "--data", str(args.data)] for name in [*TFNER, *RECIPES]}
    if args.torch_python:
        commands[TORCH] = [args.torch_python, str(REPO / "bench" / "torch_reference.py"), "--speed-only",
                           "--encoder", resolve(TaggerConfig().encoder), "--data", str(args.data),
                           "--train-limit", str(args.sentences), "--epochs", str(args.epochs),
                           "--warmup-ratio", "0.1", "--weight-decay", "0.01"]
    names = [n for n in commands if not args.contenders or n in args.contenders]
    runs: dict[str, list[dict]] = {name: [] for name in names}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            done = subprocess.run(commands[name], capture_output=True, text=True, env=env, cwd=REPO, check=False)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{name} failed (exit {done.returncode})")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[name].append(result)
            print(f"round {r + 1}: {name}: {result['real_tokens_per_s']:.0f} real tokens/s "
                  f"({result['last_epoch_real_tokens_per_s']:.0f} in the last epoch)", flush=True)

    median = {name: statistics.median(x["real_tokens_per_s"] for x in runs[name]) for name in names}
    # the last epoch alone: tracing (TensorFlow's first steps) and start-up are behind every contender
    steady = {name: statistics.median(x["last_epoch_real_tokens_per_s"] for x in runs[name]) for name in names}
    base = median.get(TORCH)
    shipped = median.get("tfner float32")
    print(f"\n{args.sentences} CoNLL-2003 sentences, {args.epochs} epochs, {args.rounds} rounds, median:")
    for name in names:
        ratio = f"  {median[name] / base:.2f}x the PyTorch loop" if base else ""
        versus = f"  tfner float32 is {shipped / median[name]:.2f}x this" if shipped and name in RECIPES else ""
        print(f"  {name:45s} {median[name]:7.0f} real tokens/s (last epoch {steady[name]:.0f}){ratio}{versus}")

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {"when": stamp, "command": " ".join(["bench/train_speed.py", *sys.argv[1:]]),
              "machine": bench_record.machine(),
              "sentences": args.sentences, "epochs": args.epochs, "runs": runs, "median_real_tokens_per_s": median,
              "median_last_epoch_real_tokens_per_s": steady,
              "ratio_to_torch": {n: median[n] / base for n in names} if base else None,
              "tfner_float32_over": {n: shipped / median[n] for n in names} if shipped else None}
    path = args.out / f"train-speed-{stamp}.json"
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(f"wrote {path}")
    return 0


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
