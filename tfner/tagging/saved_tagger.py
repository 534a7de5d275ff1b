"""The on-disk format of a tagger, read and written here alone.

A saved tagger (``Tagger.save``, ``output_dir/tagger``) is a folder of:

* the encoder and classifier as Hugging Face writes them (``config.json``, ``tf_model.h5``);
* the tokenizer's files as it writes them, byte for byte (a SentencePiece model is binary);
* ``labels.json`` (the main task's labels, the classifier's first rows), ``tfner_config.json``
  (the :class:`~tfner.config.TaggerConfig`), ``tasks.json`` (further tasks, if any),
  ``crf.json`` (the CRF head's scores, if any) and ``tfner_tagger.json`` (the format marker, and the Keras
  precision policy the model computes in).

An export (``Tagger.export``) carries the same files but the weights as its ``assets/``, beside
the SavedModel that holds the weights; :func:`saved_from_export` turns one back into a saved
tagger for ``init_from``.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfner.config import TaggerConfig
from tfner.data import pipeline
from tfner.data import tasks as tasks_lib
from tfner.data.words import split_words
from tfner.errors import ConfigError, ExportError
from tfner.modeling import encoder
from tfner.modeling.crf_head import CrfHead
from tfner.serving import export as export_lib
from tfner.serving import graph_pieces
from tfner.serving.versions import latest_version
from tfner.tagging.state import TaggerState, from_model
from tfner.training import backup, precision

SAVED_TAGGER_FILE = "tfner_tagger.json"
LABELS_FILE = "labels.json"
CONFIG_FILE = "tfner_config.json"
CRF_FILE = "crf.json"
TASKS_FILE = "tasks.json"
ENCODER_CONFIG_FILE = "config.json"
#: where ``fit(output_dir=...)`` saves the finished tagger
OUTPUT_TAGGER = "tagger"
#: Texts of the warm-up requests written into every export (short, long, accented, CJK, empty).
WARMUP_TEXTS = (
    "Alice Smith flew from Paris to New York on Monday.",
    "The European Commission said on Thursday it disagreed with German advice to consumers.",
    "Ça va? Müller met Ｔａｒｏ in 東京 😀",
    "",
    " ".join(["A long text that needs more than one window."] * 40),
)


def is_saved_tagger(path: Path) -> bool:
    return (path / SAVED_TAGGER_FILE).exists()


def tagger_folder(path: Path) -> Path:
    """The saved tagger in ``path``: ``path`` itself, or the ``tagger`` folder of a fit's ``output_dir``."""
    return path / OUTPUT_TAGGER if is_saved_tagger(path / OUTPUT_TAGGER) else path


def asset_files(state: TaggerState) -> dict[str, bytes]:
    """Every file of a saved tagger but the weights: labels, config, tasks, CRF scores, tokenizer files."""
    files = {LABELS_FILE: json.dumps(state.labels, indent=2), CONFIG_FILE: state.config.to_json()}
    if state.tasks:
        files[TASKS_FILE] = json.dumps([t.to_dict() for t in state.tasks], indent=2)
    if state.crf_head is not None:
        files[CRF_FILE] = json.dumps(state.crf_head.get_values())
    out = {name: text.encode("utf-8") for name, text in files.items()}
    with tempfile.TemporaryDirectory() as d:
        state.tokenizer.save_pretrained(d)
        for name in os.listdir(d):
            out[name] = Path(d, name).read_bytes()
    return out


def save(state: TaggerState, path: Path) -> Path:
    """Write ``state`` as a saved tagger in ``path``. Over an earlier saved tagger the new one is written
    beside it and renamed into its place: a failed save keeps the earlier one whole, and none of its files
    (a ``tasks.json`` the new tagger has no use for) outlives it. Any other folder is written into."""
    if state.model is None:
        raise ExportError("this tagger was loaded from an export and has no trainable model to save")
    if (path / SAVED_TAGGER_FILE).exists():
        return backup.replace_dir(lambda tmp: _write(state, tmp), path)
    if path.exists() and not path.is_dir():
        raise ExportError(f"cannot save into {path}: it is a file; give a folder")
    if is_saved_tagger(path / OUTPUT_TAGGER) or (path / backup.RUN).exists():
        # tfner.load(path) would load the run's tagger, not this one, whose files would sit among the run's
        raise ConfigError(f"{path} holds a fit's output (run.json, tagger/): save into another folder, or into "
                          f"{path / OUTPUT_TAGGER} to replace the run's tagger")
    path.mkdir(parents=True, exist_ok=True)
    return _write(state, path)


def _write(state: TaggerState, path: Path) -> Path:
    """The saved tagger's files, the marker that makes ``path`` loadable last."""
    assert state.model is not None
    state.model.save_pretrained(path)
    for name, content in asset_files(state).items():
        (path / name).write_bytes(content)
    # the Keras policy it computes in (mixed_bfloat16 after an "auto" fit on some CPUs): a load rebuilds it so
    marker = {"format": 1, "policy": state.model.dtype_policy.name}
    (path / SAVED_TAGGER_FILE).write_text(json.dumps(marker), encoding="utf-8")
    return path


def export(state: TaggerState, path: Path, *, serving_version: str, allow_unservable: bool) -> Path:
    """Write ``state`` as a SavedModel for TF Serving in ``path/<next version>``; see ``Tagger.export``."""
    if state.model is None or state.module is None:
        raise ExportError("this tagger was loaded from an export; re-export the original SavedModel instead")
    # config.json: the encoder's architecture, so init_from can rebuild a trainable model from the export
    assets = {**asset_files(state), ENCODER_CONFIG_FILE: state.model.config.to_json_string().encode("utf-8")}
    return export_lib.export(state.module, path, assets, serving_version=serving_version,
                             allow_unservable=allow_unservable, warmup=warmup_requests(state))


def warmup_requests(state: TaggerState) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Real requests for both signatures, replayed by TF Serving when it loads the export."""
    texts = [t.encode("utf-8") for t in WARMUP_TEXTS]
    sentences = [[w for w, _, _ in split_words(t)] for t in WARMUP_TEXTS[:2]]
    windows = state.config.predict_windowing.encode(state.tokenizer, sentences)
    batch = pipeline.pad_batch(windows, state.tokenizer.pad_token_id)
    ids_request = (export_lib.SIGNATURE, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})
    if state.predict_text is None:
        return [ids_request]
    return [
        (export_lib.TEXT_SIGNATURE, {"text": np.array(texts[:1], dtype=object)}),
        (export_lib.TEXT_SIGNATURE, {"text": np.array(texts, dtype=object)}),
        ids_request,
    ]


def read_json(folder: Path, name: str):
    file = folder / name
    if not file.exists():
        raise ExportError(f"{folder} has no {name}; it was not saved by tfner")
    return parse_json(file)


def parse_json(file: Path):
    """``file``'s JSON, or ``ExportError`` naming the file where it is damaged (truncated by a full disk, edited)."""
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise ExportError(f"{file} is damaged ({err}); save or export the tagger again") from None


#: what a config saved before a field had its "auto"/None default meant: the default of that time
BEFORE_AUTO = {"context": "sentence", "head": "softmax"}  # window_overlap=None is 32 under sentence context


def stored_config(d: dict) -> TaggerConfig:
    """The config of a saved tagger or export. One saved by an older tfner may lack a field whose default is now
    ``"auto"``/``None`` (resolved by the recipe at fit time): it gets the default it was trained with."""
    if not isinstance(d, dict):
        raise ExportError(f"{CONFIG_FILE} must hold a JSON object, got {type(d).__name__}")
    d = dict(d)
    for name, before in BEFORE_AUTO.items():
        if d.get(name) in (None, "auto"):
            d[name] = before
    return TaggerConfig.from_dict(d)


def read_tasks(folder: Path) -> list[tasks_lib.AuxTask]:
    """A saved tagger's (or an export's assets') further tasks: ``tasks.json``, absent for one task."""
    file = folder / TASKS_FILE
    if not file.exists():
        return []
    return [tasks_lib.AuxTask.from_dict(d) for d in parse_json(file)]


def head_names(folder: Path, labels: list[str]) -> list[str]:
    """The classifier rows of the tagger saved in ``folder`` whose main labels are ``labels``."""
    return tasks_lib.head_names(labels, read_tasks(folder))


def read_crf_head(folder: Path, cfg: TaggerConfig, labels: list[str]) -> CrfHead | None:
    """The CRF head's learned scores (``crf.json``) of a saved tagger or an export, if it has one."""
    if cfg.head != "crf":
        return None
    file = folder / CRF_FILE
    if not file.exists():
        raise ExportError(f"{folder} is a CRF tagger without {CRF_FILE}: it was not saved by tfner")
    head = CrfHead(labels)
    head.set_values(parse_json(file))
    return head


def export_version(path: Path) -> Path | None:
    """The export version folder ``path`` is, or its newest version if ``path`` is an export base; else None."""
    if (path / "saved_model.pb").exists():
        return path
    return latest_version(path) if path.is_dir() else None


def load(path: Path, policy: str = "saved") -> TaggerState:
    """The state of a saved tagger (or the one a fit saved in its ``output_dir``), or of an export (a version
    folder or its parent). ``policy``: see :func:`load_saved`; an export keeps the one it was exported in."""
    if not path.exists():
        raise ExportError(f"{path} does not exist")
    path = tagger_folder(path)
    if is_saved_tagger(path):
        return load_saved(path, policy)
    version = export_version(path)
    if version is None:
        raise ExportError(f"{path} is neither a saved tagger nor a tfner export (no saved_model.pb, no versions)")
    if policy != "saved":
        raise ConfigError(f"{version} is an export: its graph computes in the precision it was exported in "
                          f"(precision={policy!r} applies to a saved tagger)")
    return load_export(version)


def load_saved(path: Path, requested: str = "saved") -> TaggerState:
    """A saved tagger, rebuilt in the Keras policy ``requested``; ``"saved"`` is the one it was trained in where
    this machine computes it natively, else float32, with a warning (:func:`precision.policy_to_load`)."""
    cfg = stored_config(read_json(path, CONFIG_FILE))
    labels = read_json(path, LABELS_FILE)
    tasks = read_tasks(path)
    saved = read_json(path, SAVED_TAGGER_FILE).get("policy", "float32")  # taggers saved before 2026-12 say none
    try:
        chosen = precision.policy_to_load(saved, requested, gpus=len(tf.config.list_logical_devices("GPU")))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if chosen.policy != saved and requested == "saved":
        warnings.warn(f"{path}: loaded in float32: {chosen.reason} (its probabilities may differ slightly from "
                      "the machine it was trained on; pass precision= to choose)", stacklevel=4)
    with precision.policy_scope(chosen.policy):
        model = encoder.build_model(str(path), len(tasks_lib.head_names(labels, tasks)), pretrained=True, seed=None)
    head = read_crf_head(path, cfg, labels)
    if head is not None:
        model.crf_head = head
    return from_model(cfg, labels, encoder.load_tokenizer(str(path)), model, tasks)


def load_export(version: Path) -> TaggerState:
    assets = version / "assets"
    cfg = stored_config(read_json(assets, CONFIG_FILE))
    labels = list(read_json(assets, LABELS_FILE))
    loaded = tf.saved_model.load(str(version))
    tokenizer = encoder.load_tokenizer(str(assets))
    text_in_graph = graph_pieces.in_graph(tokenizer)
    signatures = loaded.signatures
    if (text_in_graph and export_lib.TEXT_SIGNATURE not in signatures) or \
            "probs" not in signatures[export_lib.SIGNATURE].structured_outputs:
        raise ExportError(f"{version} lacks the {export_lib.TEXT_SIGNATURE!r} signature or the 'probs' output "
                          "(exported by an older tfner); export it again from the saved tagger")
    return TaggerState(cfg, labels, read_tasks(assets), tokenizer, None, read_crf_head(assets, cfg, labels),
                       signatures[export_lib.SIGNATURE],
                       signatures[export_lib.TEXT_SIGNATURE] if text_in_graph else None, None, loaded)


@dataclasses.dataclass(frozen=True)
class InitSource:
    """The saved tagger ``init_from`` names: its folder, main labels, classifier rows and config."""

    folder: Path
    labels: list[str]
    rows: list[str]
    config: TaggerConfig

    def crf_head(self) -> CrfHead | None:
        return read_crf_head(self.folder, self.config, self.labels)


def init_source(cfg: TaggerConfig) -> InitSource | None:
    """What ``cfg.init_from`` names, or None. An export (a version folder or its parent) is first
    rebuilt as a saved tagger in a temporary folder (:func:`saved_from_export`)."""
    if cfg.init_from is None:
        return None
    folder = tagger_folder(Path(cfg.init_from))
    if not is_saved_tagger(folder):
        version = export_version(folder)
        if version is None:
            raise ConfigError(f"init_from={cfg.init_from!r} is neither a tagger saved with Tagger.save (no "
                              f"{SAVED_TAGGER_FILE}) nor a tfner export (no saved_model.pb, no version folders)")
        folder = saved_from_export(version)
    labels = read_json(folder, LABELS_FILE)
    saved_cfg = stored_config(read_json(folder, CONFIG_FILE))
    return InitSource(folder, labels, head_names(folder, labels), saved_cfg)


def saved_from_export(version: Path) -> Path:
    """The export's trained weights (its SavedModel variables, by name) and assets written as a saved
    tagger in a temporary folder, removed when the process ends. The encoder's architecture comes from
    the export's ``config.json`` (exports before tfner wrote it: from its ``encoder`` option)."""
    assets = version / "assets"
    cfg = stored_config(read_json(assets, CONFIG_FILE))
    labels = list(read_json(assets, LABELS_FILE))
    out = Path(tempfile.mkdtemp(prefix="tfner-init-from-export-"))
    atexit.register(shutil.rmtree, out, True)
    for name in os.listdir(assets):
        shutil.copy(assets / name, out / name)  # tokenizer files, labels, tfner config, crf.json (and config.json)
    if not (out / ENCODER_CONFIG_FILE).exists():
        from transformers import AutoConfig

        try:
            AutoConfig.from_pretrained(encoder.resolve(cfg.encoder)).save_pretrained(out)
        except (OSError, ValueError) as err:
            raise ConfigError(f"{version} holds no encoder config (exported by an older tfner) and its encoder "
                              f"{cfg.encoder!r} cannot be read ({err}); init_from its saved tagger instead") from None
    with tf.device("/cpu:0"):
        model = encoder.build_model(str(out), len(head_names(out, labels)), pretrained=False, seed=None)
        values = {v.name.split("/", 1)[1]: v for v in tf.saved_model.load(str(version)).model.variables}
        for weight in model.weights:
            value = values.get(weight.name.split("/", 1)[1])
            if value is None or tuple(value.shape) != tuple(weight.shape):
                raise ConfigError(f"{version}: the export's variables do not match its encoder config "
                                  f"({weight.name} {'missing' if value is None else 'has another shape'})")
            weight.assign(value)
    model.save_pretrained(str(out))
    (out / SAVED_TAGGER_FILE).write_text(json.dumps({"format": 1, "from_export": str(version)}), encoding="utf-8")
    return out
