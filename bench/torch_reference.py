"""Side-by-side reference: the same fine-tuning in PyTorch, to compare tfner's quality and speed.

Not part of tfner and not run by the tests. It needs its own environment with PyTorch:

    python3.11 -m venv .venv-torch
    .venv-torch/bin/pip install torch==2.13.0 "transformers>=4.57,<4.58" seqeval==1.2.2 safetensors
    .venv-torch/bin/python bench/torch_reference.py --encoder <all-MiniLM-L6-v2 directory>

It reads CoNLL-2003 (or ``--files TRAIN DEV TEST``: WNUT-17, NCBI disease, any IOB1/IOB2 files whose
last column is the tag, columns split by tabs or spaces) with its own few lines (a second route, independent of tfner's reader),
labels each word's first sub-token, and trains BertForTokenClassification with AdamW
(no decay on bias/LayerNorm), a linear schedule, global-norm clipping 1.0 and dynamic
padding, then prints dev/test entity F1 (seqeval, default mode) and real tokens/s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "conll2003"


def read_iob1(path: Path) -> list[tuple[list[str], list[str]]]:
    """IOB1 or IOB2 files (IOB2 passes through unchanged) as (words, IOB2 tags); a blank or tab-only line ends a sentence."""
    sentences, words, tags = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        cols = line.split("\t") if "\t" in line else line.split()
        if not cols or not cols[0].strip() or cols[0] == "-DOCSTART-":
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        words.append(cols[0])
        tags.append(cols[-1].strip())
    out = []
    for ws, ts in sentences:  # IOB1 -> IOB2
        prev, conv = "O", []
        for t in ts:
            if t.startswith("I-") and (prev == "O" or prev[2:] != t[2:]):
                t = "B-" + t[2:]
            conv.append(t)
            prev = t
        out.append((ws, conv))
    return out


def main() -> int:
    import numpy as np
    import torch
    from seqeval.metrics import classification_report, f1_score
    from transformers import AutoTokenizer, BertForTokenClassification, get_linear_schedule_with_warmup

    p = argparse.ArgumentParser()
    p.add_argument("--encoder", required=True)
    p.add_argument("--data", type=Path, default=DATA, help="the CoNLL-2003 folder")
    p.add_argument("--files", type=Path, nargs=3, metavar=("TRAIN", "DEV", "TEST"), help="other files instead of --data")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=5e-5)
    p.add_argument("--warmup-ratio", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-limit", type=int, default=None, help="train on the first N sentences only")
    p.add_argument("--speed-only", action="store_true", help="train, print tokens/s as JSON, score nothing")
    args = p.parse_args()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    paths = args.files or [args.data / f for f in ("eng.train", "eng.testa", "eng.testb")]
    train, dev, test = (read_iob1(f) for f in paths)
    labels_from = train
    train = train[:args.train_limit]
    labels = ["O"] + [f"{p}-{k}" for k in sorted({t[2:] for _, ts in labels_from for t in ts if t != "O"}) for p in "BI"]
    l2i = {t: i for i, t in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(args.encoder)
    model = BertForTokenClassification.from_pretrained(args.encoder, num_labels=len(labels))

    def encode(batch):
        enc = tok([w for w, _ in batch], is_split_into_words=True, truncation=True, max_length=128,
                  padding=True, return_tensors="pt")
        lab = torch.full(enc["input_ids"].shape, -100)
        for i, (_, ts) in enumerate(batch):
            prev = None
            for j, w in enumerate(enc.word_ids(i)):
                if w is not None and w != prev:
                    lab[i, j] = l2i[ts[w]]
                prev = w
        return enc, lab

    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=args.learning_rate, eps=1e-8)
    steps = args.epochs * -(-len(train) // args.batch_size)
    sched = get_linear_schedule_with_warmup(opt, int(args.warmup_ratio * steps), steps)

    def predict(data):
        model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(data), 64):
                batch = data[i:i + 64]
                enc, _ = encode(batch)
                ids = model(**enc).logits.argmax(-1)
                for k, (ws, _) in enumerate(batch):
                    tags, prev = ["O"] * len(ws), None
                    for j, w in enumerate(enc.word_ids(k)):
                        if w is not None and w != prev:
                            tags[w] = labels[int(ids[k, j])]
                        prev = w
                    out.append(tags)
        return out

    tokens, t0 = 0, time.perf_counter()
    dev_f1, epoch_tokens, epoch_seconds = [], [], []
    for _ in range(args.epochs):
        start_tokens, start_s = tokens, time.perf_counter()
        model.train()
        order = list(train)
        random.shuffle(order)
        for i in range(0, len(order), args.batch_size):
            enc, lab = encode(order[i:i + args.batch_size])
            tokens += int(enc["attention_mask"].sum())
            loss = model(**enc, labels=lab).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
        train_s = time.perf_counter() - t0
        epoch_tokens.append(tokens - start_tokens)
        epoch_seconds.append(time.perf_counter() - start_s)
        if args.speed_only:
            continue
        dev_f1.append(f1_score([t for _, t in dev], predict(dev)))
        print(f"dev entity F1 {dev_f1[-1]:.4f}", flush=True)
        t0 = time.perf_counter() - train_s
    if args.speed_only:
        print(json.dumps({"tokens": tokens, "seconds": train_s, "real_tokens_per_s": tokens / train_s,
                          "last_epoch_real_tokens_per_s": epoch_tokens[-1] / epoch_seconds[-1],
                          "threads": torch.get_num_threads()}))
        return 0
    test_pred = predict(test)
    print(classification_report([t for _, t in test], test_pred, digits=4))
    gold_test = [t for _, t in test]
    result = {"command": " ".join(["bench/torch_reference.py", *sys.argv[1:]]),
              "dev_f1_per_epoch": dev_f1, "test_f1": f1_score(gold_test, test_pred),
              "test_entities": classification_report(gold_test, test_pred, output_dict=True),
              "real_tokens_per_s": tokens / train_s, "seconds": train_s, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "args": {k: str(v) for k, v in vars(args).items()}}
    print(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
