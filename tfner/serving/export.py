"""Exporting a tagger as a versioned SavedModel that TF Serving serves as it is.

Layout: ``<base>/<version>/`` with ``saved_model.pb``, ``variables/`` and ``assets/``
(``labels.json``, ``tfner_config.json`` and the tokenizer files). Versions are integers;
:func:`export` writes the next free one into a hidden temporary folder and renames it
into place, so TF Serving (which polls ``<base>``) never sees a half-written version and
nothing is ever overwritten.

Signatures (all outputs dense, as TF Serving requires):

* ``serving_default``: int32 ``input_ids`` and ``attention_mask`` ``[batch, seq]`` ->
  ``label_ids`` int32 ``[batch, seq]``, ``scores`` float32 ``[batch, seq]`` (probability of
  the chosen label) and ``tags`` string ``[batch, seq]``, ``probs`` float32
  ``[batch, seq, labels]`` (every label's probability; per token, never constrained). A
  multi-task tagger adds the same four for every further task ``t``: ``t_label_ids``,
  ``t_scores``, ``t_probs``, ``t_tags``.
* ``predict_text``: string ``text`` ``[batch]`` (UTF-8) -> ``entity_start``/``entity_end``
  (int64, half-open, in code points as Python's ``str`` indexes the text),
  ``entity_start_byte``/``entity_end_byte`` (int64, UTF-8 byte offsets), ``entity_label``
  (string), ``entity_score`` (float32), all ``[batch, max entities in the batch]`` and
  padded with -1 / "" / 0, and ``num_entities`` int64 ``[batch]``. A multi-task tagger adds
  each text's words (``word_start``/``word_end``, code points, and ``num_words``) and every
  further task's tag and score per word (``t_tag``, ``t_score``, ``[batch, max words]``). See
  :mod:`tfner.serving.text_graph`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from tfner.errors import ConfigError, ExportError
from tfner.serving import server_files
from tfner.serving.servability import DEFAULT_SERVING_VERSION, check_servable, make_servable, serving_release
from tfner.serving.text_graph import TextTagger
from tfner.serving.versions import EXPORT_MARKER, next_version

VERSIONS_FILE = EXPORT_MARKER
SIGNATURE = "serving_default"
TEXT_SIGNATURE = "predict_text"


class TaggingModule(tf.Module):
    """The serving computations (token ids -> tags; raw text -> entities). Used in memory too.

    ``text_options`` are :class:`TextTagger`'s keyword arguments after ``logits_fn`` and
    ``labels`` (vocabulary, special ids, character tables, window sizes).
    """

    def __init__(self, model: tf.keras.Model, labels: Sequence[str], head=None,
                 tasks: Sequence[tuple[str, Sequence[str]]] = (), **text_options):
        super().__init__(name="tfner_tagger")
        self.model = model
        self.tag_names = tf.constant(list(labels), dtype=tf.string)
        # further tasks (multi-task heads): their labels follow the main task's in the logits
        self.sizes = [len(labels), *(len(task_labels) for _, task_labels in tasks)]
        self.task_names = [name for name, _ in tasks]
        self.task_tags = [tf.constant(list(task_labels), dtype=tf.string) for _, task_labels in tasks]
        # no text options: a tokenizer the graph cannot run (graph_pieces.in_graph); serving_default only
        self.text = TextTagger(self._logits, labels, head=head, tasks=tasks, **text_options) if text_options else None
        if self.text is None:
            self.predict_text = None  # hides the tf.function, so saving does not trace it

    def _logits(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, training=False).logits

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int32, name="input_ids"),
            tf.TensorSpec([None, None], tf.int32, name="attention_mask"),
        ]
    )
    def serve(self, input_ids, attention_mask):
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, training=False).logits
        parts = tf.split(logits, self.sizes, axis=-1) if self.task_names else [logits]
        out = {}
        for prefix, part, names in zip(["", *(f"{t}_" for t in self.task_names)], parts,
                                       [self.tag_names, *self.task_tags], strict=True):
            probs = tf.nn.softmax(tf.cast(part, tf.float32), axis=-1)
            label_ids = tf.argmax(probs, axis=-1, output_type=tf.int32)
            out.update({
                f"{prefix}label_ids": label_ids,
                f"{prefix}scores": tf.reduce_max(probs, axis=-1),
                f"{prefix}probs": probs,
                f"{prefix}tags": tf.gather(names, label_ids),
            })
        return out

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def predict_text(self, text):
        return self.text.tag(text)

    def signatures(self) -> dict:
        if self.text is None:
            return {SIGNATURE: self.serve}
        return {SIGNATURE: self.serve, TEXT_SIGNATURE: self.predict_text}


def _versions(serving_version: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in ("tfner", "tensorflow", "tensorflow-text", "transformers"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = "not installed"
    return {**found, "oldest_tf_serving": serving_version}


def export(
    module: tf.Module,
    base: str | os.PathLike,
    assets: dict[str, bytes],
    *,
    serving_version: str = DEFAULT_SERVING_VERSION,
    allow_unservable: bool = False,
    warmup: Sequence[server_files.Request] = (),
    model_name: str | None = None,
) -> Path:
    """Save ``module`` as ``<base>/<next version>``; ``assets`` maps file name -> content (bytes: a
    tokenizer's binary model file travels as it is).

    ``module.signatures()`` names the signatures. The saved graph is made loadable by TF
    Serving ``serving_version`` (attributes it lacks that change nothing are stripped) and
    checked against that release's op set; an export it would refuse raises
    :class:`ExportError` naming the ops, unless ``allow_unservable=True`` (then it warns).
    ``warmup`` requests go into the version's ``assets.extra/tf_serving_warmup_requests``;
    ``models.config`` and ``batching_parameters.txt`` for ``model_name`` (default: the base
    folder's name) are written beside the versions.
    """
    release = serving_release(serving_version)
    assets = {**assets, VERSIONS_FILE: json.dumps(_versions(release), indent=2).encode("utf-8")}
    base = Path(base)
    if base.exists() and not base.is_dir():
        raise ExportError(f"export path {base} is a file; give a directory such as saved_models/<name>")
    if (base / "saved_model.pb").exists():
        raise ExportError(f"{base} is itself a SavedModel version; give its parent (saved_models/<name>)")
    try:  # before anything is written
        name = server_files.check_model_name(model_name or base.resolve().name)
    except ConfigError as err:
        if model_name:
            raise
        raise ConfigError(f"{err} (the base folder's name; pass model_name=...)") from None
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
    try:
        src = staging / "assets-src"
        src.mkdir()
        tracked = []
        for asset_name, content in assets.items():
            (src / asset_name).write_bytes(content)
            tracked.append(tf.saved_model.Asset(str(src / asset_name)))
        module.asset_files = tracked
        out = staging / "model"
        tf.saved_model.save(module, str(out), signatures=module.signatures())
        make_servable(out, release)
        report = check_servable(out, release)
        if not report.ok:
            message = report.summary().replace(str(out), "the export")
            if not allow_unservable:
                raise ExportError(f"{message}\nNothing was written. Target a newer server with serving_version=..., "
                                  "or write it anyway with allow_unservable=True.")
            warnings.warn(f"{message}\nWritten anyway (allow_unservable=True).", stacklevel=2)
        if warmup:
            server_files.write_warmup(out, name, warmup)
        version = _publish(out, base)
        try:
            server_files.write_server_config(base, name)
        except OSError as err:
            raise ExportError(f"version {version} was exported, but the server files beside it could not be "
                              f"written ({err}); write them with tfner.serving.server_files.write_server_config"
                              ) from err
        return version
    finally:
        if hasattr(module, "asset_files"):
            del module.asset_files  # they pointed into the staging folder
        shutil.rmtree(staging, ignore_errors=True)


def _publish(out: Path, base: Path, attempts: int = 100) -> Path:
    """Rename the staged SavedModel ``out`` to ``base``'s next free version; the rename is atomic and
    never replaces anything, so a version another export took meanwhile moves this one on."""
    for _ in range(attempts):
        target = base / str(next_version(base))
        try:
            # fails if the name appeared meanwhile as a file or a non-empty folder; an empty folder another
            # tool made in that instant would be replaced (POSIX rename): tfner's own exports never race so
            os.rename(out, target)
            return target
        except OSError as err:
            if not os.path.lexists(target):
                raise ExportError(f"could not move the export into {target}: {err}") from err
    raise ExportError(f"no free version number under {base} after {attempts} attempts "
                      "(other writers keep taking them); nothing was published")


def read_asset_json(version_dir: Path, name: str) -> dict | list:
    path = version_dir / "assets" / name
    if not path.exists():
        raise ExportError(f"{version_dir} has no assets/{name}; it is not a tfner export")
    return json.loads(path.read_text(encoding="utf-8"))
