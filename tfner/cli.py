"""The ``tfner`` command line: train, evaluate, predict, export, inspect, serve-config.

    tfner train TRAIN [DEV] --output-dir DIR [--epochs N ...]
    tfner evaluate DIR DATA [--predictions FILE] [--task NAME]
    tfner predict DIR_OR_EXPORT [TEXT ...]          (stdin lines when no text is given)
    tfner export DIR BASE                           (writes BASE/<next version>)
    tfner inspect EXPORT
    tfner serve-config BASE [--model-name NAME]

``train``'s option flags are made from :class:`tfner.TaggerConfig`'s fields and help texts
(one source of truth); ``--config FILE`` reads them from a JSON or YAML file first. Errors go to
stderr as one line: exit code 2 for usage errors (a flag argparse cannot read, or a value the
library refuses: ``--epochs -1``), 1 for data or model errors; ``--debug``
shows the traceback, and all the libraries print (TensorFlow's start-up lines, transformers'
loading messages; :mod:`tfner.logs`). ``tfner --help`` does not import TensorFlow: the commands
import the library when they run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import re
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from tfner import logs
from tfner.config import TaggerConfig
from tfner.errors import DataFormatError, TfnerError


def _none_or(kind):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _word(words: dict[str, Any], text: str) -> Any:
    """A choice of a field that takes True, False or a word: ``true``/``false`` in any case are the booleans."""
    return words.get(text.lower(), text)


def _int_tuple(text: str):
    if text.lower() == "none":
        return None
    return tuple(int(part) for part in text.split(",") if part.strip())


def _pairs(kind):
    def parse(text: str):
        if text.lower() == "none":
            return None
        out = []
        for part in text.split(","):
            name, sep, value = part.partition("=")
            if not sep or not name.strip():
                raise argparse.ArgumentTypeError(f"expected name=value,name=value..., got {text!r}")
            try:
                out.append((name.strip(), kind(value)))
            except ValueError:
                raise argparse.ArgumentTypeError(f"{value!r} is not a {kind.__name__}") from None
        return tuple(out)

    return parse


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TaggerConfig field, with the field's help text; unset flags keep the defaults."""
    hints = typing.get_type_hints(TaggerConfig)
    group = parser.add_argument_group("training options (TaggerConfig fields)")
    for f in dataclasses.fields(TaggerConfig):
        hint, flag = hints[f.name], "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata['help']} (default: {f.default!r})".replace("%", "%%")  # argparse formats help
        args: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        optional = type(None) in typing.get_args(hint)
        base = next((a for a in typing.get_args(hint) if a is not type(None)), hint) if optional else hint
        if base is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **args)
        elif typing.get_origin(base) is Literal and True in typing.get_args(base):  # True, False or a word
            words = {str(c).lower(): c for c in typing.get_args(base)}
            group.add_argument(flag, type=functools.partial(_word, words), choices=typing.get_args(base),
                               metavar="{" + ",".join(words) + "}", **args)
        elif typing.get_origin(base) is Literal:
            group.add_argument(flag, choices=typing.get_args(base), **args)
        elif typing.get_origin(base) is tuple and typing.get_origin(typing.get_args(base)[0]) is tuple:
            kind = typing.get_args(typing.get_args(base)[0])[1]
            group.add_argument(flag, type=_pairs(kind), metavar="NAME=VALUE,...|none", **args)
        elif typing.get_origin(base) is tuple:
            group.add_argument(flag, type=_int_tuple, metavar="N,N,...|none", **args)
        elif base in (int, float, str):
            group.add_argument(flag, type=_none_or(base) if optional else base, **args)
        else:  # a field of a new kind must get a flag here: the CLI test checks every field has one
            raise TypeError(f"no CLI flag for TaggerConfig.{f.name} of type {hint}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfner", description="Named-entity recognition with BERT and TensorFlow.")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error and all the libraries print (TensorFlow, transformers)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="fine-tune a tagger on CoNLL files")
    train.add_argument("train", help="training data: a CoNLL column file")
    train.add_argument("dev", nargs="?", help="dev data, scored after every round (an epoch with --epochs); "
                       "or a number between 0 and 1: that fraction of train held out as dev")
    train.add_argument("--output-dir", required=True, type=Path,
                       help="where the tagger (DIR/tagger), logs (DIR/logs) and backups go; rerun to resume")
    train.add_argument("--overwrite", action="store_true",
                       help="train again in a finished run's --output-dir and replace its tagger (refused without)")
    train.add_argument("--config", type=Path,
                       help="a JSON or YAML (.yaml/.yml) file of TaggerConfig fields (flags override it)")
    train.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                       help="tfner's console: 0 silent, 1 a progress bar per round, 2 a line per round (the "
                            "libraries' logs come with --debug)")
    _add_config_flags(train)

    evaluate = commands.add_parser("evaluate", help="score a tagger on labelled data")
    evaluate.add_argument("tagger", type=Path, help="a train --output-dir, a saved tagger or an export")
    evaluate.add_argument("data", help="labelled CoNLL file")
    evaluate.add_argument("--predictions", type=Path, help="write word, gold and predicted tag per line (conlleval)")
    evaluate.add_argument("--mode", choices=("default", "strict"))
    evaluate.add_argument("--task", help="a multi-task tagger's task to score (default: the main one)")

    predict = commands.add_parser("predict", help="entities in raw texts, as JSON lines")
    predict.add_argument("tagger", type=Path, help="a train --output-dir, a saved tagger or an export")
    predict.add_argument("texts", nargs="*", help="texts; none: one text per line of standard input")

    export = commands.add_parser("export", help="write a SavedModel for TF Serving: BASE/<next version>")
    export.add_argument("tagger", type=Path, help="a train --output-dir or a saved tagger")
    export.add_argument("base", type=Path)
    export.add_argument("--serving-version", default="2.14", help="oldest TF Serving release to load it")

    inspect = commands.add_parser("inspect", help="an export's signatures, labels, versions and servability")
    inspect.add_argument("export", type=Path, help="a version folder or its base folder (the latest version)")

    serve = commands.add_parser("serve-config", help="write models.config and batching parameters for TF Serving")
    serve.add_argument("base", type=Path, help="the export's base folder (holding version folders)")
    serve.add_argument("--model-name", default="ner")
    return parser


def _tagger_path(path: Path) -> Path:
    """A saved tagger, or the ``tagger`` folder of a fit's ``output_dir``."""
    from tfner.tagging.saved_tagger import tagger_folder

    return tagger_folder(path)


def _read_config(path: Path) -> dict:
    """TaggerConfig fields from a JSON or (``.yaml``/``.yml``) YAML file: a mapping of name -> value."""
    from tfner.errors import ConfigError

    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is dropped
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: the config file is not UTF-8 ({err.reason} at byte {err.start})") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            options = yaml.safe_load(text)
        else:
            options = json.loads(text)
    except Exception as err:  # noqa: BLE001 - yaml and json raise their own error types
        raise ConfigError(f"{path}: not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'} "
                          f"({str(err).splitlines()[0]})") from None
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: expected a mapping of TaggerConfig fields, got {type(options).__name__}")
    return options


def _dev(dev: str | None) -> str | float | None:
    """The dev argument: a file, or a fraction of train where it reads as a number and names no file."""
    if dev is None or os.path.exists(dev):
        return dev
    try:
        return float(dev)
    except ValueError:
        return dev  # a missing file: fit names it


class _UsageError(Exception):
    """An option value argparse read but the library refuses (``--epochs -1``): exit code 2, as for a value
    argparse cannot read (``--epochs many``)."""


@contextlib.contextmanager
def _option_values():
    """The block checks option values: a :class:`ConfigError` or :class:`ExportError` in it is a usage error."""
    from tfner.errors import ConfigError, ExportError

    try:
        yield
    except (ConfigError, ExportError) as err:
        raise _UsageError(str(err)) from err


def _train(args) -> int:
    import tfner

    options = _read_config(args.config) if args.config else {}
    names = {f.name for f in dataclasses.fields(TaggerConfig)}
    options.update({k: v for k, v in vars(args).items() if k in names})
    with _option_values():
        config = TaggerConfig.from_dict(options)
    tagger = tfner.Tagger(config, output_dir=args.output_dir, verbose=args.verbose,
                          overwrite=args.overwrite)
    with logs.quiet_libraries(0):  # --verbose 2 is a line per round here; --debug shows the libraries' logs
        tagger.fit(args.train, _dev(args.dev))
    unit = "round" if tagger.train_stats_["schedule"]["auto"] else "epoch"  # what best_epoch and the F1s count
    print(json.dumps({"tagger": str(_tagger_path(args.output_dir)), "best_epoch": tagger.best_epoch_,
                      "kept_epoch": tagger.kept_epoch_, "unit": unit,
                      "dev_entity_f1": tagger.history_.get("val_entity_f1")}))
    return 0


def _evaluate(args) -> int:
    import tfner

    tagger = tfner.load(_tagger_path(args.tagger))
    if args.task is not None:
        print(tagger.evaluate_task(args.data, args.task, mode=args.mode, predictions_path=args.predictions))
    else:
        print(tagger.evaluate(args.data, mode=args.mode, predictions_path=args.predictions))
    return 0


def _predict(args) -> int:
    import tfner

    tagger = tfner.load(_tagger_path(args.tagger))
    texts = args.texts or _stdin_lines(sys.stdin.buffer.read())
    for text, spans in zip(texts, tagger.predict(texts), strict=True):
        entities = [{"start": s.start, "end": s.end, "label": s.label, "score": None if s.score is None else round(float(s.score), 6),
                     "text": text[s.start:s.end]} for s in spans]
        print(json.dumps({"text": text, "entities": entities}, ensure_ascii=False))
    return 0


def _stdin_lines(data: bytes) -> list[str]:
    """Standard input's lines as texts, one each (blank ones too): UTF-8 whatever the locale (a leading byte-order
    mark dropped), a line end of LF, CR LF or CR not part of the text; a line that is not UTF-8 is a
    ``DataFormatError`` naming it."""
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (files saved by Windows tools) is not text
        data = data[3:]
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines and not lines[-1]:  # the last line's end
        lines.pop()
    texts = []
    for number, line in enumerate(lines, 1):
        try:
            texts.append(line.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise DataFormatError("stdin", number, f"not UTF-8 (byte 0x{line[err.start]:02x} at byte {err.start + 1} "
                                  "of the line)") from None
    return texts


def _export(args) -> int:
    import tfner
    from tfner.serving.servability import serving_release

    with _option_values():
        serving_release(args.serving_version)
    version_dir = tfner.load(_tagger_path(args.tagger)).export(args.base, serving_version=args.serving_version)
    print(version_dir)
    return 0


def _inspect(args) -> int:
    import tensorflow as tf

    from tfner.serving import check_servable
    from tfner.serving.export import VERSIONS_FILE, read_asset_json
    from tfner.serving.versions import latest_version
    from tfner.tagging.saved_tagger import CONFIG_FILE, LABELS_FILE

    path = args.export if (args.export / "saved_model.pb").exists() else latest_version(args.export)
    if path is None or not (path / "saved_model.pb").exists():
        raise TfnerError(f"{args.export} holds no SavedModel (no saved_model.pb, no numbered version folder)")
    loaded = tf.saved_model.load(str(path))
    signatures = {}
    for name, fn in loaded.signatures.items():
        signatures[name] = {
            "inputs": {k: [spec.dtype.name, spec.shape.as_list()] for k, spec in fn.structured_input_signature[1].items()},
            "outputs": {k: [spec.dtype.name, spec.shape.as_list()] for k, spec in fn.structured_outputs.items()},
        }
    report = check_servable(path)
    print(json.dumps({
        "path": str(path), "signatures": signatures, "labels": read_asset_json(path, LABELS_FILE),
        "versions": read_asset_json(path, VERSIONS_FILE), "config": read_asset_json(path, CONFIG_FILE),
        "servable": {"ok": report.ok, "target": report.serving_version, "problems": [str(x) for x in report.problems]},
    }, indent=2))
    return 0


def _serve_config(args) -> int:
    from tfner.serving.server_files import check_model_name, docker_command, model_server_command, write_server_config

    with _option_values():
        check_model_name(args.model_name)
    config, batching = write_server_config(args.base, args.model_name)
    print(json.dumps({"models_config": str(config), "batching_parameters": str(batching),
                      "tensorflow_model_server": model_server_command(args.base),
                      "docker": docker_command(args.base, args.model_name)}, indent=2))
    return 0


COMMANDS = {"train": _train, "evaluate": _evaluate, "predict": _predict, "export": _export, "inspect": _inspect,
            "serve-config": _serve_config}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: one line on stderr, exit code 2 (argparse)
    if args.debug:
        logs.show_library_logs()
    try:
        logs.import_tensorflow()  # every command needs it: loaded with its start-up lines hidden
        return COMMANDS[args.command](args)
    except (_UsageError, TfnerError, OSError, ValueError) as err:
        if args.debug:
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"tfner {args.command}: error: {message}", file=sys.stderr)
        return 2 if isinstance(err, _UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
