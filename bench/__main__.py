"""One entry point for tfner's benchmarks: ``python -m bench <suite> [--quick] [--dry-run]`` (or ``make bench``).

Suites (each a script in this folder writing ``bench/results/<name>-<UTC time>.json``):

* ``accuracy``     CoNLL-2003 (../shared/data; skipped with a message when absent) and WNUT-17, 3 epochs, seeds 0 and 1
* ``train-speed``  tfner configurations and the PyTorch loop, interleaved (``--torch-python`` for the loop)
* ``serve-speed``  ``predict_text`` against ``serving_default`` + Python tokenization, then where its time goes
                   (the text path, the model alone, chunk sizes) at batch 8 and 64
* ``memory``       peak RSS of ``fit`` on 1x/4x/16x WNUT-17, files against prepared shards
* ``data``         reading, alignment and tf.data against the training rate
* ``parity``       the in-graph WordPiece against the fast tokenizer on the corpora
* ``hardware``     matmul rates at the model's shapes, one step broken down, achieved FLOP/s, scaling estimate
* ``pretrain``     WNUT-17 NER from the plain encoder against one pre-trained (masked LM) on WNUT-17's text
* ``few-shot``     CoNLL-2003 test F1 from 50-1,000 training sentences: plain, domain pre-trained, WNUT-17-transferred
* ``multitask``    CoNLL-2003 NER with POS and chunk heads on the same encoder (seed 1: against accuracy's seed-1 run)
* ``recipe``       the defaults matrix: ``tfner.fit(train, dev)`` with no options against the old defaults, a search
                   and the PyTorch loop, CoNLL-2003 50 to full, WNUT-17, NCBI disease 200 and full, 2 seeds
* ``all``          every suite above, in that order

After the suites run, ``bench/report.py`` regenerates bench/README.md's generated tables and
``bench/plots/*.png`` from every file in ``results/``.

``--quick`` runs each suite at a size that finishes in minutes (a smoke check, not figures to
quote); ``--dry-run`` prints the commands and runs nothing. Suites run one after another, never
side by side (their timings would disturb each other).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: suite -> list of (script, full arguments, quick arguments)
SUITES: dict[str, list[tuple[str, list[str], list[str]]]] = {
    "accuracy": [("conll2003.py", ["--epochs", "3", "--seed", "0"], ["--epochs", "1", "--train-limit", "300"]),
                 ("conll2003.py", ["--epochs", "3", "--seed", "1"], []),
                 ("conll2003.py", ["--corpus", "wnut17", "--epochs", "3", "--seed", "0"],
                  ["--corpus", "wnut17", "--epochs", "1", "--train-limit", "300"]),
                 ("conll2003.py", ["--corpus", "wnut17", "--epochs", "3", "--seed", "1"], [])],
    "train-speed": [("train_speed.py", [], ["--sentences", "200", "--epochs", "1", "--rounds", "1"])],
    "serve-speed": [("serve_speed.py", [], ["--sentences", "64", "--rounds", "1"]),
                    ("serve_breakdown.py", [], ["--sentences", "128", "--rounds", "1"])],
    "memory": [("prepared_memory.py", ["--sizes", "1", "4", "16"], ["--sizes", "1", "2"])],
    "data": [("data_speed.py", ["--epochs", "3"], ["--epochs", "2"])],
    "parity": [("wordpiece_parity.py", [], [])],
    "hardware": [("hardware.py", [], ["--quick"])],
    "pretrain": [("pretrain_wnut17.py", [], ["--quick"])],
    "few-shot": [("few_shot.py", [], ["--quick"])],
    "multitask": [("conll2003.py", ["--multitask", "--epochs", "3", "--seed", "1"],
                   ["--multitask", "--epochs", "1", "--train-limit", "300"])],
    "recipe": [("recipe.py", ["--contenders", "old", "new", "new-softmax", "search", "torch"], ["--quick"])],
}


def commands(suite: str, *, quick: bool, torch_python: str | None) -> list[list[str]]:
    names = list(SUITES) if suite == "all" else [suite]
    out = []
    for name in names:
        for script, full, short in SUITES[name]:
            if quick and not short and name == "accuracy":
                continue  # one quick accuracy run is enough for a smoke check
            args = short if quick else full
            if script in ("train_speed.py", "recipe.py") and torch_python:
                args = [*args, "--torch-python", torch_python]
            out.append([sys.executable, str(HERE / script), *args])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", choices=[*SUITES, "all"])
    parser.add_argument("--quick", action="store_true", help="small sizes: minutes, a smoke check")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--torch-python", help="python of an environment with torch, for the PyTorch loop (train-speed, recipe)")
    args = parser.parse_args(argv)
    failed = 0
    for cmd in commands(args.suite, quick=args.quick, torch_python=args.torch_python):
        print("$", " ".join(shlex.quote(c) for c in cmd), flush=True)
        if not args.dry_run:
            failed += subprocess.run(cmd, cwd=HERE.parent).returncode != 0
    if not args.dry_run:
        from bench import report

        report.main([])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
