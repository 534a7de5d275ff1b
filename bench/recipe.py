"""The defaults matrix: ``tfner.fit(train, dev)`` with no options against today's defaults and tuned recipes.

    .venv/bin/python bench/recipe.py [--cells conll2003:50 conll2003:200 ...] [--seeds 0 1] \
        [--contenders old new] [--search-trials 8] [--torch-python ../venv-torch/bin/python]

A cell is a corpus and a number of training sentences (``full``: all of train). For each cell
and seed, one random sample of train (``random.Random(seed)``, drawn again until it holds every
entity type; the same sample for every contender, so the comparison is paired) is fitted with the corpus's own dev set and scored once
on its test set:

* ``old``     the defaults before the recipe (3 epochs, 5e-5, batch 32, softmax, sentence context);
* ``new``     ``tfner.fit(train, dev)`` with no option: the recipe (tfner.tagging.recipe,
  tfner.training.schedule) chooses;
* ``new-softmax`` the same with ``head="softmax"``: the recipe's head is ``"auto"`` (a CRF), so this
  asks whether the CRF is the better default; ``new-crf`` (``head="crf"``) is kept for the runs made
  before ``head="auto"``, when ``new`` meant the softmax head;
* ``new-auto``  the same with ``context="auto"`` (packed windows where train marks documents: does packing
  win?); ``new-sentence`` (``context="sentence"``) is kept for the runs made while ``"auto"`` was the
  default (2026-12-03), now the same as ``new``;
* ``new-nodev`` ``tfner.fit(train)``: no dev, scored on test like the others (all of train trains for the
  whole schedule; before, a seeded tenth was held out from 1,000 sentences on: the ``new-nodev`` rows of
  results/recipe-20261204T005757Z measured that rule, and ``new-nodev-all`` the one that replaced it,
  now the same as ``new-nodev``);
  ``new-holdout`` ``tfner.fit(train, 0.1)``: a tenth of train held out to select;
* ``multitask`` (CoNLL-2003) ``tfner.fit(train, dev, tasks={"ner": 3, "pos": 1, "chunk": 2})``: POS and
  chunk heads beside NER at their default weights (``tfner.config.AUX_WEIGHT``); ``multitask-equal`` weighs
  every task 1 (the default before); each scored on test NER, POS accuracy and chunk F1; compare with ``new``;
* ``new-rounds`` ``tfner.fit(train, dev)`` as ``new``, every round's weights kept in memory; after the fit each
  round's weights score dev and test, with each sentence's entity counts (true positives, false positives,
  false negatives, conlleval's chunking; one string, ``"tp,fp,fn tp,fp,fn ..."``), so any rule that picks a round from dev can be scored on test from
  the record (``rounds``; ``test_f1`` is the round ``restore_best`` picks, the first of the best dev F1,
  ``test_f1_final`` the last round's); every round runs (no early stopping: a run with the default patience
  is the same run up to its stop, so the stop can be replayed from the record; runs before 2026-12-04 18:30
  UTC kept the default patience, ``rounds_run`` says how many rounds ran);
``--fit-options '{"max_length": 256, "window_overlap": 63}'`` adds options to every ``new*`` contender's fit
(recorded in the row's ``fit_options`` and ``config``).

* ``search``  ``tfner.search`` on dev over learning rate, batch size, epochs, head and context
  (``--search-trials``), its best tagger scored on test;
* ``torch``   the PyTorch reference loop (3 epochs, 5e-5, batch 32: the usual Hugging Face
  settings), where ``--torch-python`` names an environment with torch; the loop reads the cell's
  files with its own few lines (a sized cell: its first N sentences, not the seeded sample).

Every row records test F1, wall time (fit and scoring; not the extra scoring below) and, for
tfner, the updates and epochs run; a model trained with document context is also scored with each
test sentence alone (``test_f1_sentence_by_sentence``: every sentence its own document, so no
window holds a neighbour). Results are written after every row (``results/recipe-<UTC time>.json``),
so a long matrix stopped halfway keeps what it measured; the table is printed at the end. Corpora are read from
../shared/data (CoNLL-2003 is research-only and never shipped; a missing corpus is skipped
with a message); WNUT-17 ships with tfner.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CELLS = ("conll2003:50", "conll2003:200", "conll2003:1000", "conll2003:full", "wnut17:full", "ncbi_disease:200",
         "ncbi_disease:full")
#: the defaults before the recipe, spelled out
OLD = {"epochs": 3, "learning_rate": 5e-5, "batch_size": 32, "head": "softmax", "context": "sentence"}
MULTITASK = {"ner": 3, "pos": 1, "chunk": 2}
# epochs None is the recipe's budget of updates (8 dev scorings a trial); 3 and 10 are passes, each scored on dev
# (the earlier space's 3-20 passes gave a 50-sentence sample at most 140 updates and up to 20 full-dev scorings a
# trial: one search of 8 trials ran an hour without finishing)
SEARCH_SPACE = {"learning_rate": (2e-5, 2e-4, "log"), "batch_size": [8, 16, 32], "epochs": [None, 3, 10],
                "head": ["softmax", "crf"], "context": ["sentence", "packed"]}


def splits(corpus: str) -> dict[str, Path] | None:
    """train/dev/test files of ``corpus``, or None where they are absent."""
    if corpus == "wnut17":
        from tfner.data.datasets import wnut17_path

        return {s: Path(wnut17_path(s)) for s in ("train", "dev", "test")}
    names = {"conll2003": ("eng.train", "eng.testa", "eng.testb"),
             "ncbi_disease": ("train.tsv", "devel.tsv", "test.tsv")}[corpus]
    files = {s: SHARED / corpus / n for s, n in zip(("train", "dev", "test"), names, strict=True)}
    return files if all(p.exists() for p in files.values()) else None


def sample_with_every_type(sentences, size: int, seed: int):
    """``size`` sentences drawn by ``random.Random(seed)``, drawn again (same generator) until every entity type of
    ``sentences`` occurs: dev and test are then scored on all their types, with nothing read as O."""
    types = {t[2:] for s in sentences for t in s.tags if t != "O"}
    rng = random.Random(seed)
    for _ in range(1_000):
        sample = rng.sample(sentences, size)
        if {t[2:] for s in sample for t in s.tags if t != "O"} == types:
            return sample
    raise SystemExit(f"no sample of {size} sentences holds every type of {sorted(types)}")


def run_tfner(sample, dev, test, seed: int, options: dict) -> dict:
    import tfner

    t0 = time.perf_counter()
    tagger = tfner.fit(sample, dev, seed=seed, verbose=0, **options)
    score = tagger.evaluate(test)
    seconds = time.perf_counter() - t0
    stats = tagger.train_stats_
    updates = stats["schedule"]["round_updates"] * len(stats["epoch_seconds"])
    row = {"test_f1": score.f1, "seconds": seconds, "updates": updates,
           "epochs_run": updates / stats["steps_per_epoch"], "recipe": stats["recipe"],
           "schedule": stats["schedule"], "config": tagger.config_.to_dict(),
           "batch_sizes": stats.get("batch_sizes"), "labelled_words_per_s": stats["labelled_tokens_per_epoch"]
           * updates / stats["steps_per_epoch"] / stats["seconds"]}
    if "tasks" in options:  # run_multitask scores the further tasks
        row["tagger"] = tagger
    if tagger.config_.context != "sentence":  # the same model, each test sentence its own document: no context
        import dataclasses

        alone = [dataclasses.replace(s, document=i) for i, s in enumerate(test)]
        row["test_f1_sentence_by_sentence"] = tagger.evaluate(alone).f1
    return row


def sentence_counts(gold_tags, pred_tags) -> list[list[int]]:
    """Each sentence's ``[true positives, false positives, false negatives]`` under conlleval's chunking."""
    from tfner.data.schemes import entities

    counts = []
    for gold, pred in zip(gold_tags, pred_tags, strict=True):
        g, p = set(entities(gold)), set(entities(pred))
        counts.append([len(g & p), len(p - g), len(g - p)])
    return counts


def f1_of(counts) -> float:
    tp, fp, fn = (sum(c[i] for c in counts) for i in range(3))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def run_rounds(sample, dev, test, seed: int) -> dict:
    """``new`` with every round's weights kept: each round scored on dev and test after the fit."""
    import tensorflow as tf

    import tfner
    from tfner.tagging import inputs, scoring

    class KeepRounds(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.weights_by_round = []

        def on_epoch_end(self, epoch, logs=None):
            self.weights_by_round.append(self.model.get_weights())

    keep = KeepRounds()
    t0 = time.perf_counter()
    # every round runs (patience 8 of 8 rounds never stops): a run with the default patience is the same run up to
    # its stop (dev scoring changes no weight, the learning-rate schedule spans the budget either way), so its stop
    # and its choice can be replayed from the record too (``rounds_run`` says how many ran)
    tagger = tfner.fit(sample, dev, seed=seed, verbose=0, restore_best=False, patience=8, callbacks=[keep])
    seconds = time.perf_counter() - t0
    state = tagger._check_fitted()
    fit_dev_f1 = [float(v) for v in tagger.history_["val_entity_f1"]]
    dev_sents, test_sents = (inputs.read(d, "data", state.config, main_only=True) for d in (dev, test))
    rounds = []
    for r, weights in enumerate(keep.weights_by_round):
        keep.model.set_weights(weights)
        scored = {}
        for name, sents in (("dev", dev_sents), ("test", test_sents)):
            kept: list = []
            ev = scoring.score(state, sents, "default", kept)
            counts = sentence_counts(kept[1], kept[2])
            scored[f"{name}_f1"] = ev.f1
            scored[f"{name}_f1_from_counts"] = f1_of(counts)
            scored[f"{name}_counts"] = " ".join(",".join(map(str, c)) for c in counts)  # compact: one string
        scored["dev_f1_during_fit"] = fit_dev_f1[r]
        rounds.append(scored)
    best = max(range(len(rounds)), key=lambda r: (fit_dev_f1[r], -r))  # the first of the best, as restore_best
    stats = tagger.train_stats_
    updates = stats["schedule"]["round_updates"] * len(stats["epoch_seconds"])
    return {"test_f1": rounds[best]["test_f1"], "test_f1_final": rounds[-1]["test_f1"], "best_round": best,
            "seconds": seconds, "updates": updates, "epochs_run": updates / stats["steps_per_epoch"],
            "recipe": stats["recipe"], "schedule": stats["schedule"], "config": tagger.config_.to_dict(),
            "rounds_run": len(rounds), "rounds": rounds}


def run_multitask(sample, dev, test, seed: int, weights: dict | None) -> dict:
    row = run_tfner(sample, dev, test, seed, {"tasks": MULTITASK, "task_weights": weights})
    tagger = row.pop("tagger")
    row["test_pos_accuracy"] = tagger.evaluate_task(test, "pos").accuracy
    row["test_chunk_f1"] = tagger.evaluate_task(test, "chunk").f1
    row["task_weights"] = [[t.name, t.weight] for t in tagger.tasks_]
    return row


def run_search(sample, dev, test, seed: int, trials: int) -> dict:
    import tfner

    t0 = time.perf_counter()
    result = tfner.search(sample, dev, space=SEARCH_SPACE, trials=trials, seed=seed, verbose=0)
    if result.best_tagger is None:
        return {"test_f1": None, "seconds": time.perf_counter() - t0, "trials": trials}
    score = result.best_tagger.evaluate(test)
    return {"test_f1": score.f1, "seconds": time.perf_counter() - t0, "trials": trials,
            "best_dev_f1": result.best_f1, "best_config": result.best_config.to_dict()}


def run_torch(python: str, corpus: str, files: dict[str, Path], size: int | None, seed: int) -> dict:
    from tfner.config import TaggerConfig
    from tfner.modeling.encoder import resolve

    cmd = [python, str(REPO / "bench" / "torch_reference.py"), "--encoder", resolve(TaggerConfig().encoder),
           "--files", str(files["train"]), str(files["dev"]), str(files["test"]), "--epochs", "3", "--seed", str(seed), "--warmup-ratio", "0.1",
           "--weight-decay", "0.01"]
    if size is not None:
        cmd += ["--train-limit", str(size)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"test_f1": None, "error": done.stderr[-2000:], "seconds": time.perf_counter() - t0}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    row = {"test_f1": result.get("test_f1"), "seconds": time.perf_counter() - t0, "torch": result.get("torch")}
    if size is not None:
        row["note"] = "trains on the first N sentences (the loop's own sampling), not the seeded sample"
    return row


def table(rows: list[dict]) -> str:
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    contenders = list(dict.fromkeys(r["contender"] for r in rows))
    head = "| cell | " + " | ".join(f"{c} test F1 (s)" for c in contenders) + " |"
    lines = [head, "|" + "---|" * (len(contenders) + 1)]
    for cell in cells:
        out = []
        for c in contenders:
            got = [r for r in rows if r["cell"] == cell and r["contender"] == c and r["test_f1"] is not None]
            out.append("-" if not got else f"{100 * statistics.mean(r['test_f1'] for r in got):.2f} "
                       f"({statistics.mean(r['seconds'] for r in got):.0f}; {len(got)} seed{'s' * (len(got) > 1)})")
        lines.append(f"| {cell} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", default=list(CELLS), help="corpus:size (size a number or 'full')")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--contenders", nargs="+", choices=("old", "new", "new-softmax", "new-crf", "new-auto", "new-sentence", "new-nodev",
                                                          "new-nodev-all", "new-holdout", "new-rounds",
                                                          "multitask", "multitask-equal", "search", "torch"),
                        default=["old", "new", "new-softmax"])
    parser.add_argument("--search-trials", type=int, default=8)
    parser.add_argument("--torch-python", help="python of an environment with torch (bench/torch_reference.py)")
    parser.add_argument("--quick", action="store_true", help="conll2003:50 (or wnut17:50), seed 0, old and new")
    parser.add_argument("--fit-options", type=json.loads, default={},
                        help="JSON options added to every new* contender's fit, e.g. '{\"max_length\": 256}'")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    extra = args.fit_options
    cells, seeds = args.cells, args.seeds
    if args.quick:
        cells, seeds = ["conll2003:50" if splits("conll2003") else "wnut17:50"], [0]

    import tfner

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"recipe-{stamp}.json"
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for cell in cells:
        corpus, _, size_text = cell.partition(":")
        files = splits(corpus)
        if files is None:
            print(f"SKIPPED {cell}: {corpus} not found in {SHARED} (research-only corpora are never shipped)")
            continue
        aux = {"pos": 1, "chunk": 2} if corpus == "conll2003" and any(c.startswith("multitask") for c in args.contenders) else None
        train_all = [s for s in tfner.read_conll(files["train"], aux_columns=aux) if s.words]
        dev, test = (tfner.read_conll(files[k], aux_columns=aux) for k in ("dev", "test"))
        size = None if size_text == "full" else int(size_text)
        for seed in seeds:
            sample = train_all if size is None else sample_with_every_type(train_all, size, seed)
            for contender in args.contenders:
                if (contender == "torch" and args.torch_python is None) or (contender.startswith("multitask") and aux is None):
                    continue
                if contender == "old":
                    row = run_tfner(sample, dev, test, seed, OLD)
                elif contender == "new":
                    row = run_tfner(sample, dev, test, seed, {**extra})
                elif contender in ("new-softmax", "new-crf"):
                    row = run_tfner(sample, dev, test, seed, {"head": contender.removeprefix("new-"), **extra})
                elif contender in ("new-auto", "new-sentence"):
                    row = run_tfner(sample, dev, test, seed, {"context": contender.removeprefix("new-"), **extra})
                elif contender in ("new-nodev", "new-nodev-all"):
                    row = run_tfner(sample, None, test, seed, {**extra})
                elif contender == "new-rounds":
                    row = run_rounds(sample, dev, test, seed)
                elif contender == "new-holdout":
                    row = run_tfner(sample, 0.1, test, seed, {**extra})
                elif contender.startswith("multitask"):
                    row = run_multitask(sample, dev, test, seed, {"pos": 1.0, "chunk": 1.0} if contender.endswith("equal") else None)
                elif contender == "search":
                    row = run_search(sample, dev, test, seed, args.search_trials)
                else:
                    row = run_torch(args.torch_python, corpus, files, size, seed)
                rows.append({"cell": cell, "corpus": corpus, "size": size or len(train_all), "seed": seed,
                             "contender": contender, **row,
                             **({"fit_options": extra} if extra and contender.startswith("new") else {})})
                f1 = "-" if row["test_f1"] is None else f"{row['test_f1']:.4f}"
                print(f"{cell:18s} seed {seed} {contender:7s} test F1 {f1} ({row['seconds']:.0f} s"
                      + (f", {row['updates']} updates" if "updates" in row else "") + ")", flush=True)
                record_rows(path, args, cells, seeds, rows)
    print("\n" + table(rows))
    print(f"wrote {path}")
    return 0


def record_rows(path: Path, args, cells, seeds, rows) -> None:
    body = {"when": path.stem.split("-", 1)[1], "command": " ".join(["bench/recipe.py", *sys.argv[1:]]),
            "machine": record.machine(), "cells": cells, "seeds": seeds, "contenders": args.contenders,
            "old_defaults": OLD, "search_space": {k: list(v) for k, v in SEARCH_SPACE.items()}, "rows": rows,
            "table": table(rows)}
    path.write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
