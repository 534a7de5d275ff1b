"""The command line: ``python -m tfner`` as a user runs it from a shell, and its commands in-process.

Real processes where the process is what is tested (``train`` through the entry point, a usage
error's exit code 2, ``--help`` without TensorFlow); the other commands run through
:func:`tfner.cli.main` in the test's process (the exit code it returns, what it prints), on the
files the ``train`` process wrote.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import DEV, REPO, TRAIN
from tfner import cli
from tfner.config import TaggerConfig


def tfner_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "tfner", *args], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=timeout)


def write_conll(path, sentences):
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(ws, ts, strict=True)) for ws, ts in sentences)
                    + "\n", encoding="utf-8")
    return str(path)


def test_every_config_field_has_a_flag_with_its_help():
    parser = cli.build_parser()
    train = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    flags = {a.dest: a for a in train._actions}
    for f in dataclasses.fields(TaggerConfig):
        assert f.name in flags, f"no flag for {f.name}"
        assert f.metadata["help"] in flags[f.name].help.replace("%%", "%")  # argparse shows %% as %


@pytest.mark.parametrize(("text", "value"), [("significant", "significant"), ("false", False), ("True", True)])
def test_restore_best_flag_reads_true_false_or_significant(text, value):
    args = cli.build_parser().parse_args(["train", "x.conll", "--output-dir", "o", "--restore-best", text])
    assert args.restore_best is value if isinstance(value, bool) else args.restore_best == value
    assert TaggerConfig(restore_best=args.restore_best).restore_best == value


def test_help_does_not_import_tensorflow():
    code = ("import sys\nfrom tfner import cli\ntry:\n    cli.main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


@pytest.mark.parametrize("args", [["train"], ["nonsense"], ["train", "x.conll", "--output-dir", "o", "--epochs", "many"],
                                  ["train", "x.conll", "--output-dir", "o", "--head", "lstm"]])
def test_bad_arguments_are_one_line_and_exit_code_2(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("tfner")


def test_a_usage_error_exits_the_process_with_code_2():
    out = tfner_cli("nonsense")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("tfner")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``tfner ARGS`` in this process: the exit code :func:`tfner.cli.main` returns, stdout, stderr."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_train_evaluate_predict_export_inspect_serve_config(tiny_encoder, tmp_path, capsys, monkeypatch):
    train, dev = write_conll(tmp_path / "train.conll", TRAIN), write_conll(tmp_path / "dev.conll", DEV)
    run = tmp_path / "run"
    out = tfner_cli("train", train, dev, "--output-dir", str(run), "--encoder", tiny_encoder, "--no-pretrained",
                    "--epochs", "8", "--learning-rate", "3e-3", "--warmup-ratio", "0", "--batch-size", "8",
                    "--max-length", "32", "--window-overlap", "4", "--seed", "1", "--verbose", "0")
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["tagger"] == str(run / "tagger") and (run / "tagger").is_dir()
    assert len(summary["dev_entity_f1"]) == 8 and summary["unit"] == "epoch"  # --epochs: dev after each epoch

    predictions = tmp_path / "pred.conll"
    code, stdout, err = run_cli(capsys, "evaluate", str(run), dev, "--predictions", str(predictions))
    assert code == 0, err[-3000:]
    assert "Entity-level" in stdout
    rows = [line.split() for line in predictions.read_text(encoding="utf-8").splitlines() if line]
    assert [r[:2] for r in rows] == [[w, t] for ws, ts in DEV for w, t in zip(ws, ts, strict=True)]

    # CR LF and CR line ends end a line (before, the CR stayed in the text), a blank line is a text of its own
    # (and a UTF-8 byte-order mark, as Windows tools write, is not glued to the first text and its first entity)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        b"\xef\xbb\xbfAlice flew to Paris\r\n\nCarol met Bob in Rome\r")))
    code, stdout, err = run_cli(capsys, "predict", str(run))
    assert code == 0, err[-3000:]
    lines = [json.loads(line) for line in stdout.strip().splitlines()]
    assert [r["text"] for r in lines] == ["Alice flew to Paris", "", "Carol met Bob in Rome"]
    assert lines[1]["entities"] == []
    # a line that is not UTF-8: one line naming it, whatever the locale (before: a decode error at a buffer position)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Alice\nBob \xff Carol\n")))
    code, stdout, err = run_cli(capsys, "predict", str(run))
    assert code == 1 and stdout == "" and "stdin:2: not UTF-8 (byte 0xff at byte 5 of the line)" in err
    for r in lines:
        assert all(r["text"][e["start"]:e["end"]] == e["text"] for e in r["entities"])
    assert any(e["label"] == "PER" for r in lines for e in r["entities"])

    base = tmp_path / "serving" / "ner"
    code, stdout, err = run_cli(capsys, "export", str(run), str(base))
    assert code == 0, err[-3000:]
    assert stdout.strip().endswith(str(base / "1"))
    code, stdout, err = run_cli(capsys, "inspect", str(base))
    assert code == 0, err[-3000:]
    info = json.loads(stdout)
    assert set(info["signatures"]) == {"serving_default", "predict_text"}
    assert info["servable"]["ok"] and info["labels"][0] == "O"
    code, stdout, err = run_cli(capsys, "serve-config", str(base), "--model-name", "ner")
    assert code == 0, err[-3000:]
    assert (base / "models.config").exists() and "tensorflow_model_server" in json.loads(stdout)["tensorflow_model_server"]

    # train again into the finished run: refused in one line, its tagger kept (--overwrite would replace it)
    code, _, err = run_cli(capsys, "train", train, dev, "--output-dir", str(run), "--encoder", tiny_encoder,
                           "--no-pretrained", "--verbose", "0")
    assert code == 1 and err.startswith("tfner train: error: ") and "finished run" in err and "--overwrite" in err
    assert (run / "tagger").is_dir()

    code, stdout, err = run_cli(capsys, "evaluate", str(run), str(tmp_path / "missing.conll"))
    assert code == 1 and err.splitlines() == [err.strip()] and "Traceback" not in err
    assert err.startswith("tfner evaluate: error: ") and "missing.conll" in err


@pytest.mark.slow
@pytest.mark.parametrize("suffix, text", [
    (".yaml", "epochs: 1\nbatch_size: 8\nhead: crf\nlength_buckets: [16]\n"),
    (".json", '{"epochs": 1, "batch_size": 8, "head": "crf", "length_buckets": [16]}'),
])
def test_train_reads_a_yaml_or_json_config_and_flags_override_it(tiny_encoder, tmp_path, capsys, suffix, text):
    config = tmp_path / f"options{suffix}"
    config.write_text(text, encoding="utf-8")
    train = write_conll(tmp_path / "train.conll", TRAIN[:8])
    code, _, err = run_cli(capsys, "train", train, "--output-dir", str(tmp_path / "run"), "--config", str(config),
                           "--encoder", tiny_encoder, "--no-pretrained", "--max-length", "32", "--window-overlap", "4",
                           "--batch-size", "4", "--verbose", "0")
    assert code == 0, err[-2000:]
    saved = TaggerConfig.from_json((tmp_path / "run" / "tagger" / "tfner_config.json").read_text())
    assert (saved.epochs, saved.head, saved.length_buckets) == (1, "crf", (16,))
    assert saved.batch_size == 4  # the flag wins over the file


def test_a_broken_config_file_is_one_line_and_exit_code_1(tmp_path, capsys):
    config = tmp_path / "options.yaml"
    config.write_text("epochs: [1\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "train", "x.conll", "--output-dir", str(tmp_path / "run"), "--config", str(config))
    assert code == 1 and "options.yaml: not valid YAML" in err.strip().splitlines()[-1]
    config.write_bytes(b"epochs: 2\nname: \xff\n")  # not UTF-8: the file named (it was the codec's bare message)
    code, _, err = run_cli(capsys, "train", "x.conll", "--output-dir", str(tmp_path / "run"), "--config", str(config))
    assert code == 1 and "options.yaml: the config file is not UTF-8" in err.strip().splitlines()[-1]


@pytest.mark.parametrize("args", [["train", "x.conll", "--epochs", "-1"], ["train", "x.conll", "--max-length", "3"],
                                  ["serve-config", "base", "--model-name", "a/b"],
                                  ["export", "run", "base", "--serving-version", "1.0"]])
def test_a_value_argparse_reads_but_the_library_refuses_is_a_usage_error_too(args, tmp_path, capsys, monkeypatch):
    # exit code 2, as for a value argparse cannot read (--epochs many), and nothing is written
    monkeypatch.chdir(tmp_path)  # the relative paths above are under tmp_path
    code = cli.main([*args, *(["--output-dir", "o"] if args[0] == "train" else [])])
    err = capsys.readouterr().err
    assert code == 2 and err.splitlines() == [err.strip()] and err.startswith(f"tfner {args[0]}: error: ")
    assert any(word in err for word in ("epochs", "max_length", "model name", "serving_version")), err
    assert list(tmp_path.iterdir()) == []
