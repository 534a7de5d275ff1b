"""The command line as a user runs it from a shell: subprocesses, real files, exit codes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import DEV, REPO, TRAIN
from tfner.config import TaggerConfig


def tfner_cli(*args: str, stdin: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "tfner", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=timeout)


def write_conll(path, sentences):
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(ws, ts, strict=True)) for ws, ts in sentences)
                    + "\n", encoding="utf-8")
    return str(path)


def test_every_config_field_has_a_flag_with_its_help():
    from tfner.cli import build_parser

    parser = build_parser()
    train = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    flags = {a.dest: a for a in train._actions}
    for f in dataclasses.fields(TaggerConfig):
        assert f.name in flags, f"no flag for {f.name}"
        assert f.metadata["help"] in flags[f.name].help


def test_help_does_not_import_tensorflow():
    code = ("import sys\nfrom tfner import cli\ntry:\n    cli.main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


@pytest.mark.parametrize("args", [["train"], ["nonsense"], ["train", "x.conll", "--output-dir", "o", "--epochs", "many"],
                                  ["train", "x.conll", "--output-dir", "o", "--head", "lstm"]])
def test_bad_arguments_are_one_line_and_exit_code_2(args):
    out = tfner_cli(*args)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("tfner")


@pytest.mark.slow
def test_train_evaluate_predict_export_inspect_serve_config(tiny_encoder, tmp_path):
    train, dev = write_conll(tmp_path / "train.conll", TRAIN), write_conll(tmp_path / "dev.conll", DEV)
    run = tmp_path / "run"
    out = tfner_cli("train", train, dev, "--output-dir", str(run), "--encoder", tiny_encoder, "--no-pretrained",
                    "--epochs", "8", "--learning-rate", "3e-3", "--warmup-ratio", "0", "--batch-size", "8",
                    "--max-length", "32", "--window-overlap", "4", "--seed", "1", "--verbose", "0")
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["tagger"] == str(run / "tagger") and (run / "tagger").is_dir()
    assert len(summary["dev_entity_f1"]) == 8

    predictions = tmp_path / "pred.conll"
    out = tfner_cli("evaluate", str(run), dev, "--predictions", str(predictions))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Entity-level" in out.stdout
    rows = [line.split() for line in predictions.read_text(encoding="utf-8").splitlines() if line]
    assert [r[:2] for r in rows] == [[w, t] for ws, ts in DEV for w, t in zip(ws, ts, strict=True)]

    out = tfner_cli("predict", str(run), stdin="Alice flew to Paris\nCarol met Bob in Rome\n")
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [r["text"] for r in lines] == ["Alice flew to Paris", "Carol met Bob in Rome"]
    for r in lines:
        assert all(r["text"][e["start"]:e["end"]] == e["text"] for e in r["entities"])
    assert any(e["label"] == "PER" for r in lines for e in r["entities"])

    base = tmp_path / "serving" / "ner"
    out = tfner_cli("export", str(run), str(base))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith(str(base / "1"))
    out = tfner_cli("inspect", str(base))
    assert out.returncode == 0, out.stderr[-3000:]
    info = json.loads(out.stdout)
    assert set(info["signatures"]) == {"serving_default", "predict_text"}
    assert info["servable"]["ok"] and info["labels"][0] == "O"
    out = tfner_cli("serve-config", str(base), "--model-name", "ner")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (base / "models.config").exists() and "tensorflow_model_server" in json.loads(out.stdout)["tensorflow_model_server"]

    out = tfner_cli("evaluate", str(run), str(tmp_path / "missing.conll"))
    # one line of tfner's (TensorFlow's own start-up lines may precede it: quieting them is issue 11's)
    ours = [line for line in out.stderr.splitlines() if line.startswith("tfner")]
    assert out.returncode == 1 and len(ours) == 1 and "missing.conll" in ours[0] and "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("suffix, text", [
    (".yaml", "epochs: 1\nbatch_size: 8\nhead: crf\nlength_buckets: [16]\n"),
    (".json", '{"epochs": 1, "batch_size": 8, "head": "crf", "length_buckets": [16]}'),
])
def test_train_reads_a_yaml_or_json_config_and_flags_override_it(tiny_encoder, tmp_path, suffix, text):
    config = tmp_path / f"options{suffix}"
    config.write_text(text, encoding="utf-8")
    train = write_conll(tmp_path / "train.conll", TRAIN[:8])
    out = tfner_cli("train", train, "--output-dir", str(tmp_path / "run"), "--config", str(config), "--encoder",
                    tiny_encoder, "--no-pretrained", "--max-length", "32", "--window-overlap", "4", "--batch-size", "4",
                    "--verbose", "0")
    assert out.returncode == 0, out.stderr[-2000:]
    saved = TaggerConfig.from_json((tmp_path / "run" / "tagger" / "tfner_config.json").read_text())
    assert (saved.epochs, saved.head, saved.length_buckets) == (1, "crf", (16,))
    assert saved.batch_size == 4  # the flag wins over the file


def test_a_broken_config_file_is_one_line_and_exit_code_1(tmp_path):
    config = tmp_path / "options.yaml"
    config.write_text("epochs: [1\n", encoding="utf-8")
    out = tfner_cli("train", "x.conll", "--output-dir", str(tmp_path / "run"), "--config", str(config))
    assert out.returncode == 1 and "options.yaml: not valid YAML" in out.stderr.strip().splitlines()[-1]
