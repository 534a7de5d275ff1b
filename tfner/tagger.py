"""The estimator: ``Tagger(...).fit(train, dev)`` -> ``predict`` / ``evaluate`` / ``export``.

``fit`` runs the named steps in order: read data -> build label map -> tokenize and
align (``tfner.data.alignment``) -> tf.data (``tfner.data.pipeline``) -> build model, optimizer and
loss inside the strategy scope -> ``model.fit`` with per-epoch dev scoring
(``tfner.training.callbacks``). Prediction always goes through the same serving computation that
:meth:`Tagger.export` saves (``tfner.serving.export.TaggingModule``), so an in-memory tagger and
its export give the same tags.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfner.config import TaggerConfig, check_options
from tfner.data import alignment, jsonl, pipeline, prepared
from tfner.data import tasks as tasks_lib
from tfner.data.readers import DataLike, Sentence, as_sentences
from tfner.data.schemes import PREFIXES, convert, entities, label_list
from tfner.data.spans import Span
from tfner.data.words import split_words
from tfner.errors import ConfigError, DataFormatError, ExportError, NotFittedError
from tfner.logs import quiet_libraries
from tfner.metrics import Evaluation, TagEvaluation, evaluate_tags, evaluate_word_tags
from tfner.modeling import decoding, encoder
from tfner.modeling.crf_head import CrfHead, CrfLoss
from tfner.modeling.loss import GlobalLossDisplay, MaskedTokenLoss, MultiTaskLoss
from tfner.serving import export as export_lib
from tfner.serving import text_graph
from tfner.serving.outputs import clean_text, spans_from_outputs
from tfner.serving.versions import latest_version
from tfner.training import accumulate, backup, precision
from tfner.training.callbacks import DevEvaluation, EpochProgress, FreezeEncoder, LearningRateLogger, TrainingTimer
from tfner.training.optim import WarmupLinearDecay, build_optimizer
from tfner.training.seeding import deterministic_ops, isolated_seed
from tfner.training.strategy import barrier, is_chief, is_multi_worker, resolve_strategy
from tfner.training.summaries import DevSummaries

PREDICT_BATCH = 64
#: Texts of the warm-up requests written into every export (short, long, accented, CJK, empty).
WARMUP_TEXTS = (
    "Alice Smith flew from Paris to New York on Monday.",
    "The European Commission said on Thursday it disagreed with German advice to consumers.",
    "Ça va? Müller met Ｔａｒｏ in 東京 😀",
    "",
    " ".join(["A long text that needs more than one window."] * 40),
)
SAVED_TAGGER_FILE = "tfner_tagger.json"


def known_types_only(sentences: list[Sentence], labels: Sequence[str], policy: str, name: str) -> list[Sentence]:
    """``sentences`` whose entity types are all in ``labels`` (the model's, from train).

    ``policy="error"``: the first unknown type raises :class:`DataFormatError` naming the file
    and line (or list index and word); ``"outside"``: its tags become ``O``, with a warning.
    """
    known = {t[2:] for t in labels if t != "O"}
    out: list[Sentence] = []
    changed = 0
    for s in sentences:
        unknown = [w for w, t in enumerate(s.tags) if t != "O" and t[2:] not in known]
        if not unknown:
            out.append(s)
            continue
        if policy == "error":
            w = unknown[0]
            source, line = (s.source, s.line + w) if s.line is not None else (f"{s.source}, word {w}", None)
            raise DataFormatError(source, line, f"{name} has entity type {s.tags[w][2:]!r} (tag {s.tags[w]!r}), which "
                                  f"the training data never has (known: {sorted(known)}); pass "
                                  "unseen_labels='outside' to read such tags as O")
        changed += len(unknown)
        tags = tuple("O" if w in unknown else t for w, t in enumerate(s.tags))
        out.append(dataclasses.replace(s, tags=tags))
    if changed:
        warnings.warn(f"{changed} tag(s) of entity types the training data never has were read as O in {name}",
                      stacklevel=3)
    return out


def _init_source(cfg: TaggerConfig) -> tuple[Path, list[str], TaggerConfig] | None:
    """The saved tagger ``init_from`` names: its folder, labels (its classifier's rows, :func:`_head_names`) and config. An export (a version
    folder or its parent) is first rebuilt as a saved tagger in a temporary folder (:func:`_saved_from_export`)."""
    if cfg.init_from is None:
        return None
    folder = Path(cfg.init_from)
    if (folder / backup.TAGGER / SAVED_TAGGER_FILE).exists():
        folder = folder / backup.TAGGER  # an output_dir
    if not (folder / SAVED_TAGGER_FILE).exists():
        version = _export_version(folder)
        if version is None:
            raise ConfigError(f"init_from={cfg.init_from!r} is neither a tagger saved with Tagger.save (no "
                              f"{SAVED_TAGGER_FILE}) nor a tfner export (no saved_model.pb, no version folders)")
        folder = _saved_from_export(version)
    labels = json.loads((folder / export_lib.LABELS_FILE).read_text(encoding="utf-8"))
    saved_cfg = TaggerConfig.from_json((folder / export_lib.CONFIG_FILE).read_text(encoding="utf-8"))
    return folder, labels, saved_cfg


def _read_tasks(folder: Path) -> list[tasks_lib.AuxTask]:
    """A saved tagger's (or an export's assets') further tasks: ``tasks.json``, absent for one task."""
    file = folder / export_lib.TASKS_FILE
    if not file.exists():
        return []
    return [tasks_lib.AuxTask.from_dict(d) for d in json.loads(file.read_text(encoding="utf-8"))]


def _head_names(folder: Path, labels: Sequence[str]) -> list[str]:
    """The classifier rows of the tagger saved in ``folder`` whose main labels are ``labels``."""
    return tasks_lib.head_names(labels, _read_tasks(folder))


def _export_version(path: Path) -> Path | None:
    """The export version folder ``path`` is, or its newest version if ``path`` is an export base; else None."""
    if (path / "saved_model.pb").exists():
        return path
    return latest_version(path) if path.is_dir() else None


def _saved_from_export(version: Path) -> Path:
    """The export's trained weights (its SavedModel variables, by name) and assets written as a saved
    tagger in a temporary folder, removed when the process ends. The encoder's architecture comes from
    the export's ``config.json`` (exports before tfner wrote it: from its ``encoder`` option)."""
    import atexit
    import shutil

    assets = version / "assets"
    cfg = TaggerConfig.from_dict(export_lib.read_asset_json(version, export_lib.CONFIG_FILE))  # type: ignore[arg-type]
    labels = export_lib.read_asset_json(version, export_lib.LABELS_FILE)
    out = Path(tempfile.mkdtemp(prefix="tfner-init-from-export-"))
    atexit.register(shutil.rmtree, out, True)
    for name in os.listdir(assets):
        shutil.copy(assets / name, out / name)  # tokenizer files, labels, tfner config, crf.json (and config.json)
    if not (out / "config.json").exists():
        from transformers import AutoConfig

        try:
            AutoConfig.from_pretrained(encoder.resolve(cfg.encoder)).save_pretrained(out)
        except (OSError, ValueError) as err:
            raise ConfigError(f"{version} holds no encoder config (exported by an older tfner) and its encoder "
                              f"{cfg.encoder!r} cannot be read ({err}); init_from its saved tagger instead") from None
    with tf.device("/cpu:0"):
        model = encoder.build_model(str(out), len(_head_names(out, list(labels))), pretrained=False, seed=None)
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


def _prepared_manifest(train: Any, cfg: TaggerConfig) -> dict | None:
    """The manifest of a folder written by :func:`prepare`, checked against ``cfg``; ``None`` for other data."""
    if not prepared.is_prepared(train):
        return None
    manifest = prepared.read_manifest(train)
    prepared.check_windowing(manifest, {"max_length": cfg.max_length, "window_overlap": cfg.window_overlap,
                                        "label_all_subtokens": cfg.label_all_subtokens}, str(train))
    if manifest["encoder"] != cfg.encoder:
        raise ConfigError(f"{train} was prepared with encoder {manifest['encoder']!r}, not {cfg.encoder!r} "
                          "(the sub-word ids depend on its tokenizer)")
    if cfg.context == "document":
        raise ConfigError("a prepared folder holds sentence windows; context='document' needs the files themselves")
    return manifest


def prepare(sources: Sequence[str | os.PathLike] | str | os.PathLike, out_dir: str | os.PathLike, *,
            rows_per_shard: int = 10_000, **options: Any) -> Path:
    """Tokenize and align training files once into TFRecord shards that ``fit`` streams.

    ``tfner.prepare(["part1.conll", "part2.jsonl"], "prepared/")`` then
    ``tfner.fit("prepared/", "dev.conll", ...)`` with the same ``encoder``, ``max_length``,
    ``window_overlap`` and ``label_all_subtokens`` (``options`` are :class:`TaggerConfig`
    fields; a mismatch at ``fit`` raises ``ConfigError``). Files are read one at a time, so
    memory follows the largest file, not the corpus; see :mod:`tfner.data.prepared`.
    """
    check_options(options)
    cfg = TaggerConfig().replace(**options)
    return prepared.prepare(
        sources, out_dir,  # type: ignore[arg-type]
        tokenizer=encoder.load_tokenizer(cfg.encoder), read=lambda p: _read(p, os.fspath(p), cfg),
        windowing={"max_length": cfg.max_length, "window_overlap": cfg.window_overlap,
                   "label_all_subtokens": cfg.label_all_subtokens},
        encoder=cfg.encoder, rows_per_shard=rows_per_shard)


def _read(data: DataLike, name: str, cfg: TaggerConfig, kinds: dict[str, str] | None = None, *,
          main_only: bool = False) -> list[Sentence]:
    """``data`` as IOB2 sentences; with ``tasks``, the main task's column as tags and every further task's
    as ``aux`` tags (span tasks in IOB2, their kind judged from these sentences unless ``kinds`` says);
    ``main_only``: the main task's column alone (the file need not have the others)."""
    columns = dict(cfg.tasks or ())
    main = columns.pop(cfg.task_names[0]) if cfg.tasks else -1
    if main_only:
        columns = {}
    sentences = as_sentences(data, name=name, scheme=cfg.scheme, invalid_tags=cfg.invalid_tags,
                             span_alignment=cfg.span_alignment, tag_column=main, aux_columns=columns)
    return tasks_lib.to_iob2(sentences, list(columns), kinds or {}, invalid_tags=cfg.invalid_tags)


class Tagger:
    """A BERT token-classification tagger, scikit-learn style.

    ``__init__`` only stores its arguments; ``fit`` validates them, trains, and returns
    ``self``. Learned state ends in ``_`` (``labels_``, ``model_``, ``tokenizer_``,
    ``history_``, ``config_``, ``dev_evaluations_``).

    Args:
        config: a :class:`TaggerConfig`; ``None`` uses the defaults.
        strategy: ``"auto"`` (MirroredStrategy over all GPUs, default strategy on CPU) or a
            ``tf.distribute.Strategy``.
        logdir: TensorBoard log directory (train/dev loss, learning rate, dev F1 per type);
            with ``output_dir`` and no ``logdir``, ``output_dir/logs``.
        verbose: 0 silent; 1 what is loaded, data counts, a progress bar per epoch and its dev
            scores; 2 one line per epoch, and the libraries' own logs (:mod:`tfner.logs`).
        output_dir: makes training crash-safe (:mod:`tfner.training.backup`): backups every
            ``backup_every`` steps and at each epoch's end; calling ``fit`` again with the same
            folder after a crash resumes where the last backup left off; the finished tagger
            is saved to ``output_dir/tagger``.
        callbacks: more Keras callbacks for ``model.fit`` (run before tfner's own).
        **options: any :class:`TaggerConfig` field, overriding ``config``.
    """

    def __init__(self, config: TaggerConfig | None = None, *, strategy: Any = "auto",
                 logdir: str | os.PathLike | None = None, verbose: int = 1,
                 output_dir: str | os.PathLike | None = None, backup_every: int = 200,
                 callbacks: Sequence[tf.keras.callbacks.Callback] = (), **options: Any):
        self.config = config
        self.strategy = strategy
        self.logdir = logdir
        self.verbose = verbose
        self.output_dir = output_dir
        self.backup_every = backup_every
        self.callbacks = callbacks
        self.options = options

    # --- training ------------------------------------------------------------------
    def fit(self, train: DataLike, dev: DataLike | None = None) -> Tagger:
        """Fine-tune on ``train`` (a CoNLL file path or ``(words, tags)`` pairs); score ``dev`` each epoch."""
        if self.config is not None and not isinstance(self.config, TaggerConfig):
            raise ConfigError(f"config must be a TaggerConfig, got {type(self.config).__name__}")
        check_options(self.options)
        cfg = (self.config or TaggerConfig()).replace(**self.options)
        strategy = resolve_strategy(self.strategy)  # first: MultiWorkerMirroredStrategy must precede any TF op
        # Seeded before the input pipeline and the model exist; the caller's streams come back after.
        with isolated_seed(cfg.seed), deterministic_ops(cfg.deterministic), quiet_libraries(self.verbose):
            return self._fit(cfg, train, dev, strategy)

    def _fit(self, cfg: TaggerConfig, train: DataLike, dev: DataLike | None, strategy) -> Tagger:
        manifest = _prepared_manifest(train, cfg)  # a folder written by tfner.prepare: streamed, never held
        if manifest is not None and len(cfg.task_names) > 1:
            raise ConfigError("a prepared folder holds one tag column; multi-task training (several tasks) needs the "
                              "CoNLL files themselves")
        train_s = _read(train, "train", cfg) if manifest is None else []
        tasks = tasks_lib.describe(train_s, cfg.task_names[1:], dict(cfg.task_weights or ()))
        dev_s = _read(dev, "dev", cfg, {t.name: t.kind for t in tasks}) if dev is not None else None
        if not train_s and manifest is None:
            raise DataFormatError("train", None, "no sentences to train on")
        if cfg.patience is not None and not dev_s:
            raise ConfigError("patience (early stopping) watches dev entity F1: pass dev data to fit")
        labels = label_list(t for s in train_s for t in s.tags) if manifest is None else list(manifest["labels"])
        if dev_s:
            dev_s = known_types_only(dev_s, labels, cfg.unseen_labels, "dev")
        label_to_id = {t: i for i, t in enumerate(labels)}
        source = _init_source(cfg)  # (folder, labels, config) of the saved tagger to start from, or None
        tokenizer = encoder.load_tokenizer(str(source[0]) if source else cfg.encoder)

        def windows_of(sents):
            def encode(tags, ids):
                return alignment.encode(
                    tokenizer, [s.words for s in sents], tags, ids,
                    max_length=cfg.max_length, overlap=cfg.window_overlap, label_all_subtokens=cfg.label_all_subtokens,
                    documents=[s.document for s in sents] if cfg.context == "document" else None,
                )

            main = encode([s.tags for s in sents], label_to_id)
            if not tasks:
                return main
            with warnings.catch_warnings():  # the same windows again: the main task's encoding has warned
                warnings.simplefilter("ignore")
                others = [encode([s.aux_tags(t.name) for s in sents], tasks_lib.label_ids(t)) for t in tasks]
            return alignment.with_task_labels(main, *others)

        buckets = cfg.length_buckets if cfg.length_buckets is not None else pipeline.default_buckets(cfg.max_length)
        data = dict(batch_size=cfg.batch_size, boundaries=buckets, pad_id=tokenizer.pad_token_id, seed=cfg.seed)
        if manifest is None:
            train_w = windows_of(train_s)
            train_ds = pipeline.make_dataset(train_w, shuffle=True, **data)
            batches = pipeline.steps_per_epoch(train_w, cfg.batch_size, buckets)
            windows = len(train_w)
            tokens = int(sum(w.length for w in train_w))
            labelled = int(sum((alignment.main_labels(w) != alignment.IGNORE).sum() for w in train_w))
        else:
            train_ds = prepared.stream_dataset(train, manifest, **data)  # type: ignore[arg-type]
            batches = prepared.steps_per_epoch(manifest, cfg.batch_size, buckets)
            windows, tokens, labelled = manifest["windows"], manifest["tokens"], manifest["labelled"]
        steps = accumulate.updates_per_epoch(batches, cfg.accumulate_steps)  # optimizer updates per epoch
        if cfg.accumulate_steps > 1:
            train_ds = accumulate.group_batches(train_ds, cfg.accumulate_steps, tokenizer.pad_token_id)
        dev_w = windows_of(dev_s) if dev_s else []
        dev_ds = pipeline.make_dataset(dev_w, shuffle=False, **data) if dev_s else None

        gpus = len(tf.config.list_logical_devices("GPU"))
        chosen = precision.choose_precision(cfg.precision, gpus=gpus)
        if self.verbose:
            sentences = len(train_s) if manifest is None else manifest["sentences"]
            loaded = f"the tagger in {cfg.init_from}" if source else \
                f"{cfg.encoder} ({'pre-trained' if cfg.pretrained else 'random initialisation'})"
            print(f"encoder: {loaded}; "
                  f"labels: {', '.join(t[2:] for t in labels if t.startswith('B-')) or 'none'}"
                  + "".join(f"; task {t.name}: {len(t.labels)} {'span labels' if t.kind == tasks_lib.SPANS else 'tags'}"
                            f" (weight {t.weight:g})" for t in tasks))
            print(f"train: {sentences:,} sentences -> {windows:,} windows, {tokens:,} sub-word tokens, "
                  f"{steps:,} steps per epoch" + (f"; dev: {len(dev_s):,} sentences" if dev_s else "; no dev data"))
            print(f"precision: {chosen.policy} ({chosen.reason}); replicas: {strategy.num_replicas_in_sync}")
        rows = tasks_lib.head_names(labels, tasks)  # the classifier's rows: every task's labels, the main task's first
        with precision.policy_scope(chosen.policy), strategy.scope():
            if source is None:
                model = encoder.build_model(cfg.encoder, len(rows), pretrained=cfg.pretrained, seed=cfg.seed,
                                            max_length=cfg.max_length)
                self.transferred_labels_: list[str] = []
            else:
                model = encoder.build_model(str(source[0]), len(rows), pretrained=False, seed=cfg.seed,
                                            max_length=cfg.max_length)
                source_rows = _head_names(source[0], source[1])
                saved = encoder.build_model(str(source[0]), len(source_rows), pretrained=True, seed=None)
                self.transferred_labels_ = encoder.transfer(model, saved, rows, source_rows)
                del saved
            model.config.id2label = dict(enumerate(rows))
            model.config.label2id = {t: i for i, t in enumerate(rows)}
            if cfg.freeze_embeddings:
                encoder.embeddings_layer(model).trainable = False
            total = steps * cfg.epochs
            # ceil, as Hugging Face: int() would turn 0.29 * 100 (28.999...) into 28 warm-up steps
            schedule = WarmupLinearDecay(cfg.learning_rate, math.ceil(cfg.warmup_ratio * total), total)
            optimizer = build_optimizer(schedule, weight_decay=cfg.weight_decay, clipnorm=cfg.clipnorm)
            loss: tf.keras.losses.Loss = MaskedTokenLoss()
            if cfg.head == "crf":
                # An attribute of the model, so its weights are among model.trainable_variables.
                model.crf_head = CrfHead(labels)
                if source is not None and source[2].head == "crf":
                    model.crf_head.copy_shared(_read_crf_head(source[0], source[2], source[1]))
                loss = CrfLoss(model.crf_head)
            if tasks:  # sum_t weight_t * L_t, each task's loss on its own slice of the logits
                loss = MultiTaskLoss([loss, *(MaskedTokenLoss(name=f"{t.name}_loss") for t in tasks)],
                                     tasks_lib.head_sizes(labels, tasks),
                                     [cfg.task_weight(cfg.task_names[0]), *(t.weight for t in tasks)])
            model.compile(optimizer=optimizer, loss=GlobalLossDisplay(loss))
            if cfg.accumulate_steps > 1:
                accumulate.install(model, loss)
            if cfg.freeze_encoder_epochs:
                optimizer.build(model.trainable_variables)  # slots for the encoder too, before it is frozen

        self._set_fitted(cfg, labels, tokenizer, model, tasks)
        timer = TrainingTimer(tokens)
        callbacks: list[tf.keras.callbacks.Callback] = [timer, LearningRateLogger(schedule)]
        if cfg.freeze_encoder_epochs:
            def set_encoder_trainable(on: bool) -> None:
                encoder.encoder_layer(model).trainable = on
                if cfg.freeze_embeddings:
                    encoder.embeddings_layer(model).trainable = False

            callbacks.append(FreezeEncoder(cfg.freeze_encoder_epochs, set_encoder_trainable))
        if self.verbose:
            callbacks.append(EpochProgress(cfg.epochs, steps, self.verbose))
        dev_eval = None
        types = sorted({t[2:] for t in labels if t != "O"})
        scored: list = []  # (words, gold, predicted) of dev as last scored, for the TensorBoard summaries
        if dev_s:
            task_scores: dict = {}  # further tasks' dev scores, from the same pass as the main task's

            def task_logs() -> dict[str, float]:
                return {(f"{name}_accuracy" if isinstance(r, TagEvaluation) else f"{name}_f1"):
                        (r.accuracy if isinstance(r, TagEvaluation) else r.f1) for name, r in task_scores.items()}

            dev_eval = DevEvaluation(lambda: self._score(dev_s, cfg.eval_mode, keep=scored,
                                                         task_scores=task_scores if tasks else None),
                                     restore_best=cfg.restore_best, verbose=self.verbose, types=types,
                                     patience=cfg.patience, min_delta=cfg.min_delta,
                                     extra_logs=task_logs if tasks else None)
            callbacks.append(dev_eval)
        multi, chief = is_multi_worker(strategy), is_chief(strategy)
        logdir = self.logdir
        if logdir is None and self.output_dir is not None:
            logdir = Path(self.output_dir) / "logs"
        if logdir is not None and not chief:  # only the chief writes logs
            logdir = Path(tempfile.mkdtemp(prefix="tfner-worker-logs-"))
        if logdir is not None:
            if dev_eval is not None:
                callbacks.append(DevSummaries(logdir, cfg.to_dict(), types, lambda: tuple(scored), dev_eval.final_f1))
            callbacks.append(tf.keras.callbacks.TensorBoard(log_dir=os.fspath(logdir), write_graph=False,
                                                            profile_batch=0))
        callbacks = [*self.callbacks, *callbacks]
        train_stream = train_ds.repeat()
        epoch_logs: list[dict] = []
        done = 0
        if self.output_dir is not None:
            out = Path(self.output_dir)
            # the run's identity: every head's labels (the main task's alone without further tasks)
            done, epoch_logs = self._resume(out, cfg, rows, steps, dev_eval, chief)
            # the seeded stream is the same as before the crash: skip what the backup has seen
            train_stream = train_stream.skip(done)
            callbacks.append(backup.TrainingBackup(out, self.backup_every, steps,
                                                   self._progress_writer(out, epoch_logs, dev_eval, cfg, chief)))
        fit_input, dev_input, dev_steps = train_stream, dev_ds, None
        if multi:
            # Every worker builds the same global batches and keeps its replicas' rows
            # (pipeline.replica_pieces): the same number of steps on every worker, whatever the buckets.
            fit_input = strategy.distribute_datasets_from_function(
                lambda ctx: pipeline.replica_pieces(train_stream, ctx))
            if dev_ds is not None:
                dev_input = strategy.distribute_datasets_from_function(lambda ctx: pipeline.replica_pieces(dev_ds, ctx))
                dev_steps = pipeline.steps_per_epoch(dev_w, cfg.batch_size, buckets)
        t0 = time.perf_counter()
        try:
            # Repeated with an exact steps_per_epoch: Keras then knows the epoch length (progress
            # bar, schedule) and never runs a stray step past the end of a pass of unknown length.
            history = model.fit(fit_input, steps_per_epoch=steps, epochs=cfg.epochs,
                                validation_data=dev_input, validation_steps=dev_steps, callbacks=callbacks,
                                verbose=0)  # EpochProgress prints instead: no value twice
        except BaseException:
            self._unfit()  # a failed or interrupted fit leaves the tagger unfitted, holding nothing of the run
            raise
        elapsed = time.perf_counter() - t0
        self.history_ = history.history
        if self.output_dir is not None:  # every epoch, also those before a resume
            self.history_ = {k: [logs.get(k) for logs in epoch_logs] for k in epoch_logs[-1]} if epoch_logs else {}
        self.dev_evaluations_ = dev_eval.evaluations if dev_eval else []
        self.best_epoch_ = dev_eval.best_epoch if dev_eval else None
        self.stopped_epoch_ = dev_eval.stopped_epoch if dev_eval else None
        self.train_stats_ = {
            "windows": windows, "steps_per_epoch": steps, "batches_per_epoch": batches,
            "accumulate_steps": cfg.accumulate_steps, "labelled_tokens_per_epoch": labelled,
            "tokens_per_epoch": tokens,
            "warmup_steps": schedule.warmup_steps, "total_steps": schedule.total_steps,
            "seconds": timer.seconds, "epoch_seconds": list(timer.epoch_seconds), "fit_seconds": elapsed, "replicas": strategy.num_replicas_in_sync,
            "precision": chosen.policy, "precision_reason": chosen.reason, "resumed_at_step": done,
        }
        if self.output_dir is not None:
            barrier(strategy)  # every worker is done with the backup folder
        if self.output_dir is not None and chief:
            out = Path(self.output_dir)
            backup.replace_dir(self.save, out / backup.TAGGER)
            backup.finish(out)
        return self

    def _resume(self, out: Path, cfg: TaggerConfig, labels: list[str], steps: int,
                dev_eval: DevEvaluation | None, chief: bool) -> tuple[int, list[dict]]:
        """Steps already done by an earlier run in ``out`` and its epochs' logs; restores dev state.

        Every worker reads ``out`` (shared storage across machines); only the chief writes.
        """
        run = {"config": cfg.to_dict(), "labels": list(labels), "steps_per_epoch": steps}
        position = backup.saved_position(out)
        if position is None:
            if chief:
                out.mkdir(parents=True, exist_ok=True)
                for name in (backup.PROGRESS, backup.BEST_WEIGHTS):
                    (out / name).unlink(missing_ok=True)
                backup.write_json_atomic(out / backup.RUN, run)
            return 0, []
        earlier = json.loads((out / backup.RUN).read_text(encoding="utf-8"))
        if earlier != json.loads(json.dumps(run)):
            raise ConfigError(f"{out} holds the backup of a different run (other options, labels or data); "
                              "use another output_dir, or delete its backup/ folder to start afresh")
        done = backup.steps_done(position, steps)
        progress = json.loads((out / backup.PROGRESS).read_text(encoding="utf-8")) \
            if (out / backup.PROGRESS).exists() else {"epoch_logs": [], "evaluations": [], "best_epoch": None}
        finished = done // steps  # epochs whose end (and dev scoring) the backup has seen
        epoch_logs = progress["epoch_logs"][:finished]
        if dev_eval is not None:
            dev_eval.evaluations = [Evaluation(**e) for e in progress["evaluations"][:finished]]
            best = progress["best_epoch"]
            if best is not None and best < finished:
                dev_eval.best_epoch, dev_eval._best_f1 = best, dev_eval.evaluations[best].f1
                if cfg.restore_best:
                    dev_eval._best_weights = backup.load_weights(out / backup.BEST_WEIGHTS)
        if self.verbose:
            print(f"resuming from {out}: {done} of {steps * cfg.epochs} steps done (epoch {done // steps + 1})")
        return done, epoch_logs

    def _progress_writer(self, out: Path, epoch_logs: list[dict], dev_eval: DevEvaluation | None,
                         cfg: TaggerConfig, chief: bool) -> Callable[[int, dict | None], None]:
        def write(epoch: int, logs: dict | None) -> None:
            epoch_logs.append({k: float(v) for k, v in (logs or {}).items()})
            if not chief:
                return
            best = dev_eval.best_epoch if dev_eval else None
            if dev_eval is not None and best == epoch and cfg.restore_best:
                backup.save_weights_atomic(out / backup.BEST_WEIGHTS, self.model_.get_weights())
            backup.write_json_atomic(out / backup.PROGRESS, {
                "epoch_logs": epoch_logs, "best_epoch": best,
                "evaluations": [dataclasses.asdict(e) for e in (dev_eval.evaluations if dev_eval else [])]})

        return write

    def _set_fitted(self, cfg: TaggerConfig, labels: list[str], tokenizer, model,
                    tasks: Sequence[tasks_lib.AuxTask] = ()) -> None:
        self.config_ = cfg
        self.labels_ = list(labels)
        self.tasks_ = list(tasks)
        self.tokenizer_ = tokenizer
        self.model_ = model
        self._crf_head = getattr(model, "crf_head", None)
        text = text_graph.text_options(tokenizer, max_length=cfg.max_length, overlap=cfg.window_overlap,
                                       decode=self._decode_mode()) if text_graph.in_graph(tokenizer) else {}
        self.module_ = export_lib.TaggingModule(model, labels, head=self._crf_head,
                                                tasks=[(t.name, t.labels) for t in tasks], **text)
        self._serve: Callable[..., dict] = self.module_.serve
        # None: the tokenizer cannot run in the graph; predict takes the Python route
        self._predict_text: Callable[..., dict] | None = self.module_.predict_text if text else None

    def plot_history(self, path: str | os.PathLike | None = None):
        """Loss and dev entity F1 (overall and per type) per epoch: a matplotlib figure (and a PNG at ``path``)."""
        from tfner import plots

        self._check_fitted()
        if not getattr(self, "history_", None):
            raise NotFittedError("this tagger has no training history (it was loaded, not fitted)")
        return plots.save(plots.history_figure(self.history_), path)

    def _unfit(self) -> None:
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("__")] + ["_serve", "_predict_text",
                                                                                               "_crf_head"]:
            self.__dict__.pop(name, None)

    def _decode_mode(self) -> str:
        return "crf" if self.config_.head == "crf" else self.config_.decode

    def _check_fitted(self) -> None:
        if not hasattr(self, "_serve"):
            raise NotFittedError("this Tagger is not fitted yet: call fit(train, dev) or tfner.load(path) first")

    # --- prediction ----------------------------------------------------------------
    def _tag_words(self, sentences: Sequence[Sequence[str]], documents: Sequence[int] | None = None,
                   task: tasks_lib.AuxTask | None = None) -> tuple[list[list[str]], list[np.ndarray]]:
        """Tags and scores of word lists; under ``context="document"`` they are one document
        unless ``documents`` (an id per sentence) says otherwise. ``task``: a further task's tags
        (its head's most probable label per word) instead of the main task's."""
        return self._tag_tasks(sentences, documents, [task])[0]

    def _tag_tasks(self, sentences: Sequence[Sequence[str]], documents: Sequence[int] | None,
                   tasks: Sequence[tasks_lib.AuxTask | None]) -> list[tuple[list[list[str]], list[np.ndarray]]]:
        """:meth:`_tag_words` for several tasks (``None``: the main one) from one pass of the model."""
        cfg = self.config_
        if cfg.context != "document":
            documents = None
        elif documents is None:
            documents = [0] * len(sentences)
        windows = alignment.encode(self.tokenizer_, sentences, None, None, max_length=cfg.max_length,
                                   overlap=cfg.window_overlap, documents=documents)
        order = sorted(range(len(windows)), key=lambda k: windows[k].length)
        keys = ["probs" if task is None else f"{task.name}_probs" for task in tasks]
        probs_out: list[list[np.ndarray]] = [[None] * len(windows) for _ in keys]  # type: ignore[list-item]
        for i in range(0, len(order), PREDICT_BATCH):
            chunk = order[i:i + PREDICT_BATCH]
            batch = pipeline.pad_batch([windows[k] for k in chunk], self.tokenizer_.pad_token_id)
            out = self._serve(input_ids=tf.constant(batch["input_ids"]),
                              attention_mask=tf.constant(batch["attention_mask"]))
            for key, task_probs in zip(keys, probs_out, strict=True):
                probs = out[key].numpy()
                for row, k in enumerate(chunk):
                    task_probs[k] = probs[row]
        lengths = [len(s) for s in sentences]
        results = []
        for task, task_probs in zip(tasks, probs_out, strict=True):
            word_probs = alignment.collect(windows, lengths, task_probs)
            if task is None:
                results.append(self._decode_words(word_probs))
            else:  # a further task: its head's most probable label per word
                results.append(([[task.labels[int(j)] for j in p.argmax(-1)] for p in word_probs],
                                [p.max(-1) if len(p) else np.zeros(0, np.float32) for p in word_probs]))
        return results

    def _decode_words(self, word_probs: list[np.ndarray]) -> tuple[list[list[str]], list[np.ndarray]]:
        """The main task's tags and scores from its word probabilities (``decode``, the CRF head)."""
        decoder = decoding.WordDecoder(self.labels_, self._decode_mode(), head=self._crf_head)
        tags: list[list[str]] = []
        scores: list[np.ndarray] = []
        for i in range(0, len(word_probs), PREDICT_BATCH):
            part = word_probs[i:i + PREDICT_BATCH]
            n = [len(p) for p in part]
            dense = np.zeros((len(part), max([1, *n]), len(self.labels_)), np.float32)
            for row, p in enumerate(part):
                dense[row, :len(p)] = p
            ids, sc = (t.numpy() for t in decoder(dense, np.asarray(n, np.int32)))
            tags.extend([self.labels_[int(j)] for j in ids[row, :k]] for row, k in enumerate(n))
            scores.extend(sc[row, :k] for row, k in enumerate(n))
        return tags, scores

    def predict_tags(self, sentences: Sequence[Sequence[str]], *, scheme: str = "iob2",
                     task: str | None = None) -> list[list[str]]:
        """One predicted tag per word for already-split sentences (lists of words), in ``scheme``
        (any of :data:`tfner.data.schemes.PREFIXES`: iob2 by default, as the model predicts, or
        e.g. ``"bioes"``, written from the entities conlleval's rule reads in the IOB2 tags).

        ``task``: the tags of one of a multi-task tagger's further tasks (``tasks_``; a span
        task's in ``scheme`` too) instead of the main task's.

        Under ``context="document"`` the list is one document, in order (as a file without
        ``-DOCSTART-``): each sentence sees its neighbours.
        """
        self._check_fitted()
        if isinstance(sentences, str):
            raise DataFormatError("sentences", None, "predict_tags takes a list of word lists")
        checked = []
        for i, words in enumerate(sentences):
            if isinstance(words, str) or not all(isinstance(w, str) and w for w in words):
                raise DataFormatError(f"sentences[{i}]", None, "expected a list of non-empty strings (words)")
            checked.append(list(words))
        if scheme not in PREFIXES:
            raise ConfigError(f"scheme must be one of {tuple(PREFIXES)}, got {scheme!r}")
        aux = self._task(task)
        if aux is not None and aux.kind == tasks_lib.TAGS and scheme != "iob2":
            raise ConfigError(f"task {aux.name!r} tags words (no spans): it has no scheme to write, got {scheme!r}")
        tags = self._tag_words(checked, task=aux)[0]
        # IOB2 is what the model predicts: returned as it is (an argmax's invalid I-X included)
        return tags if scheme == "iob2" else [convert(t, scheme) for t in tags]

    def predict(self, texts: Sequence[str]) -> list[list[Span]]:
        """Entities in each raw text, as :class:`Span` with half-open character offsets.

        Runs the export's ``predict_text`` computation (:mod:`tfner.serving.text_graph`), so a
        tagger in memory, a reloaded export and a TF Serving client get the same spans. Words
        are split where :func:`tfner.data.words.split_words` splits (whitespace, punctuation,
        CJK ideographs); an entity's score is the mean probability of its words' tags. A lone
        surrogate (half of an emoji cut off) counts as one U+FFFD character, so the offsets
        still index ``text``; one odd text never fails the others. A text is its own document:
        its windows hold as much of it as fits, whatever ``context`` says.
        """
        self._check_fitted()
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise DataFormatError("texts", None, "predict takes a list of strings (wrap a single text in a list)")
        if self._predict_text is None:
            return self._predict_in_python(texts)
        result: list[list[Span]] = [[] for _ in texts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for k in range(0, len(order), PREDICT_BATCH):
            chunk = order[k:k + PREDICT_BATCH]
            encoded = [clean_text(texts[i]).encode("utf-8") for i in chunk]
            out = {name: value.numpy() for name, value in self._predict_text(text=tf.constant(encoded)).items()}
            for i, spans in zip(chunk, spans_from_outputs([texts[i] for i in chunk], out), strict=True):
                result[i] = spans
        return result

    def _predict_in_python(self, texts: Sequence[str]) -> list[list[Span]]:
        """``predict`` for a tokenizer the graph cannot run (RoBERTa's BPE, XLM-R's Unigram): the
        same words (:func:`split_words`), tags from ``serving_default``, spans and scores as in the graph."""
        cleaned = [clean_text(t) for t in texts]
        words = [split_words(t) for t in cleaned]
        tags, scores = self._tag_words([[w for w, _, _ in ws] for ws in words], documents=list(range(len(texts))))
        result = []
        for text, ws, row, sc in zip(cleaned, words, tags, scores, strict=True):
            result.append([Span(ws[a][1], ws[b - 1][2], kind, float(np.mean(sc[a:b])), text=text[ws[a][1]:ws[b - 1][2]])
                           for a, b, kind in entities(row)])
        return result

    def _task(self, name: str | None) -> tasks_lib.AuxTask | None:
        """The further task called ``name``; None for the main task (``None`` or its name)."""
        if name is None or (self.config_.tasks and name == self.config_.task_names[0]):
            return None
        for task in self.tasks_:
            if task.name == name:
                return task
        raise ConfigError(f"this tagger has no task {name!r}; its tasks: {list(self.config_.task_names) or 'none'}")

    # --- evaluation ----------------------------------------------------------------
    def _score(self, sentences: Sequence[Sentence], mode: str, keep: list | None = None,
               task_scores: dict | None = None) -> Evaluation:
        """Scores of the predictions for ``sentences``; ``keep`` receives ``[words, gold, predicted]``;
        ``task_scores`` (a multi-task tagger) each further task's scores, from the same pass of the model."""
        words, gold = [s.words for s in sentences], [s.tags for s in sentences]
        tasks = self.tasks_ if task_scores is not None else []
        results = self._tag_tasks(words, [s.document for s in sentences], [None, *tasks])
        pred = results[0][0]
        for task, (task_pred, _) in zip(tasks, results[1:], strict=True):
            task_scores[task.name] = self._task_scores(task, [s.aux_tags(task.name) for s in sentences],  # type: ignore[index]
                                                       task_pred, mode)
        if keep is not None:
            keep[:] = [words, gold, pred]
        return evaluate_tags(gold, pred, mode)  # type: ignore[arg-type]

    @staticmethod
    def _task_scores(task: tasks_lib.AuxTask, gold, pred, mode: str) -> Evaluation | TagEvaluation:
        if task.kind == tasks_lib.SPANS:
            return evaluate_tags(gold, pred, mode)  # type: ignore[arg-type]
        return evaluate_word_tags(gold, pred)

    def evaluate(self, data: DataLike, *, mode: str | None = None,
                 predictions_path: str | os.PathLike | None = None, predictions_scheme: str | None = None) -> Evaluation:
        """Entity-level (seqeval) and token-level (scikit-learn) scores on labelled ``data``.

        ``predictions_path``: also write the scored predictions there, one ``word gold
        predicted`` line per word and a blank line between sentences (the layout conlleval reads),
        gold and predicted tags in ``predictions_scheme`` (default: the scheme ``data`` is written in);
        a path ending in ``.jsonl`` gets one ``{"text", "spans", "gold"}`` object per sentence
        instead, character spans of the sentence's text (its words joined by spaces for column files).
        A multi-task tagger is scored on its main task here; :meth:`evaluate_task` scores the others.
        """
        self._check_fitted()
        mode = mode or self.config_.eval_mode
        if mode not in ("default", "strict"):
            raise ConfigError(f"mode must be 'default' or 'strict', got {mode!r}")
        sentences = _read(data, "data", self.config_, main_only=True)
        scored: list = []
        known = known_types_only(sentences, self.labels_, self.config_.unseen_labels, "data")
        result = self._score(known, mode, keep=scored)
        if predictions_path is not None and jsonl.is_jsonl(predictions_path):
            jsonl.write_jsonl(predictions_path, (
                {"text": jsonl.text_and_offsets(s)[0], "spans": jsonl.span_dicts(jsonl.character_spans(s, pred)),
                 "gold": jsonl.span_dicts(jsonl.character_spans(s))}
                for s, pred in zip(known, scored[2], strict=True)))
        elif predictions_path is not None:
            out_scheme = predictions_scheme or (sentences[0].scheme if sentences else "iob2")
            if out_scheme not in PREFIXES:
                raise ConfigError(f"predictions_scheme must be one of {tuple(PREFIXES)}, got {out_scheme!r}")
            lines = []
            for words, gold, pred in zip(*scored, strict=True):
                if out_scheme != "iob2":  # the tolerant rule reads the predictions (as conlleval would)
                    gold, pred = convert(gold, out_scheme), convert(pred, out_scheme)
                lines += [f"{w} {g} {p}" for w, g, p in zip(words, gold, pred, strict=True)] + [""]
            Path(predictions_path).write_text("\n".join(lines), encoding="utf-8")
        return result

    def evaluate_task(self, data: DataLike, task: str, *, mode: str | None = None,
                      predictions_path: str | os.PathLike | None = None) -> Evaluation | TagEvaluation:
        """Score one task of a multi-task tagger on its column of labelled ``data`` (a CoNLL file).

        The main task: as :meth:`evaluate`. A further span task (chunking): entity scores, an
        :class:`Evaluation`; a tag task (part of speech): accuracy over words, a
        :class:`~tfner.metrics.TagEvaluation`. ``predictions_path`` gets ``word gold predicted``
        lines, a blank line between sentences.
        """
        self._check_fitted()
        aux = self._task(task)
        if aux is None:
            return self.evaluate(data, mode=mode, predictions_path=predictions_path)
        mode = mode or self.config_.eval_mode
        if mode not in ("default", "strict"):
            raise ConfigError(f"mode must be 'default' or 'strict', got {mode!r}")
        sentences = _read(data, "data", self.config_, {t.name: t.kind for t in self.tasks_})
        words, gold = [s.words for s in sentences], [s.aux_tags(aux.name) for s in sentences]
        pred = self._tag_words(words, [s.document for s in sentences], task=aux)[0]
        if predictions_path is not None:
            lines = []
            for ws, gs, ps in zip(words, gold, pred, strict=True):
                lines += [f"{w} {g} {p}" for w, g, p in zip(ws, gs, ps, strict=True)] + [""]
            Path(predictions_path).write_text("\n".join(lines), encoding="utf-8")
        return self._task_scores(aux, gold, pred, mode)

    # --- persistence ---------------------------------------------------------------
    def _asset_texts(self) -> dict[str, str]:
        files = {
            export_lib.LABELS_FILE: json.dumps(self.labels_, indent=2),
            export_lib.CONFIG_FILE: self.config_.to_json(),
        }
        if self.tasks_:
            files[export_lib.TASKS_FILE] = json.dumps([t.to_dict() for t in self.tasks_], indent=2)
        if self._crf_head is not None:
            files[export_lib.CRF_FILE] = json.dumps(self._crf_head.get_values())
        with tempfile.TemporaryDirectory() as d:
            self.tokenizer_.save_pretrained(d)
            for name in os.listdir(d):
                files[name] = Path(d, name).read_text(encoding="utf-8")
        return files

    def export(self, path: str | os.PathLike, *, serving_version: str = export_lib.DEFAULT_SERVING_VERSION,
               allow_unservable: bool = False) -> Path:
        """Write a SavedModel for TF Serving to ``path/<next integer version>/``; return that folder.

        The export is made to load on TF Serving ``serving_version`` and every later release
        (default 2.14, the oldest server whose op set tfner ships) and checked against its op
        set; if that server would refuse it, :class:`ExportError` names the ops, unless
        ``allow_unservable=True`` (then a warning).
        """
        self._check_fitted()
        if self.model_ is None:
            raise ExportError("this tagger was loaded from an export; re-export the original SavedModel instead")
        # config.json: the encoder's architecture, so init_from can rebuild a trainable model from the export
        assets = {**self._asset_texts(), "config.json": self.model_.config.to_json_string()}
        return export_lib.export(self.module_, path, assets, serving_version=serving_version,
                                 allow_unservable=allow_unservable, warmup=self._warmup_requests())

    def _warmup_requests(self) -> list[tuple[str, dict[str, np.ndarray]]]:
        """Real requests for both signatures, replayed by TF Serving when it loads the export."""
        texts = [t.encode("utf-8") for t in WARMUP_TEXTS]
        sentences = [[w for w, _, _ in split_words(t)] for t in WARMUP_TEXTS[:2]]
        windows = alignment.encode(self.tokenizer_, sentences, None, None, max_length=self.config_.max_length,
                                   overlap=self.config_.window_overlap)
        batch = pipeline.pad_batch(windows, self.tokenizer_.pad_token_id)
        ids_request = (export_lib.SIGNATURE, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})
        if self._predict_text is None:
            return [ids_request]
        return [
            (export_lib.TEXT_SIGNATURE, {"text": np.array(texts[:1], dtype=object)}),
            (export_lib.TEXT_SIGNATURE, {"text": np.array(texts, dtype=object)}),
            ids_request,
        ]

    def save(self, path: str | os.PathLike) -> Path:
        """Save the trainable tagger (HF weights, tokenizer, labels, config) to ``path``."""
        self._check_fitted()
        if self.model_ is None:
            raise ExportError("this tagger was loaded from an export and has no trainable model to save")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model_.save_pretrained(path)
        for name, text in self._asset_texts().items():
            (path / name).write_text(text, encoding="utf-8")
        (path / SAVED_TAGGER_FILE).write_text(json.dumps({"format": 1}), encoding="utf-8")
        return path


def fit(train: DataLike, dev: DataLike | None = None, *, strategy: Any = "auto",
        logdir: str | os.PathLike | None = None, verbose: int = 1, output_dir: str | os.PathLike | None = None,
        backup_every: int = 200, callbacks: Sequence[tf.keras.callbacks.Callback] = (), **options: Any) -> Tagger:
    """Fine-tune a tagger: ``tfner.fit("train.conll", "dev.conll", epochs=3)``.

    ``options`` are :class:`TaggerConfig` fields; an unknown one raises ``ConfigError``. The
    keyword arguments before them are :class:`Tagger`'s.
    """
    check_options(options)
    return Tagger(strategy=strategy, logdir=logdir, verbose=verbose, output_dir=output_dir,
                  backup_every=backup_every, callbacks=callbacks, **options).fit(train, dev)


def load(path: str | os.PathLike, *, verbose: int = 1) -> Tagger:
    """Load a tagger saved with :meth:`Tagger.save`, or an export (a version folder or its parent).

    ``verbose=2`` lets the libraries log while loading (:mod:`tfner.logs`).
    """
    with quiet_libraries(verbose):
        return _load(path)


def _load(path: str | os.PathLike) -> Tagger:
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path} does not exist")
    if (path / SAVED_TAGGER_FILE).exists():
        return _load_saved(path)
    version = _export_version(path)
    if version is None:
        raise ExportError(f"{path} is neither a saved tagger nor a tfner export (no saved_model.pb, no versions)")
    path = version
    cfg = TaggerConfig.from_dict(export_lib.read_asset_json(path, export_lib.CONFIG_FILE))  # type: ignore[arg-type]
    labels = export_lib.read_asset_json(path, export_lib.LABELS_FILE)
    loaded = tf.saved_model.load(str(path))
    tagger = Tagger(cfg)
    tagger.config_, tagger.labels_ = cfg, list(labels)
    tagger.tasks_ = _read_tasks(path / "assets")
    tagger.tokenizer_ = encoder.load_tokenizer(str(path / "assets"))
    tagger.model_ = None
    tagger._crf_head = _read_crf_head(path / "assets", cfg, list(labels))
    tagger._loaded = loaded  # type: ignore[attr-defined]  # keeps the variables alive
    tagger._serve = loaded.signatures[export_lib.SIGNATURE]
    text_in_graph = text_graph.in_graph(tagger.tokenizer_)
    if (text_in_graph and export_lib.TEXT_SIGNATURE not in loaded.signatures) or \
            "probs" not in loaded.signatures[export_lib.SIGNATURE].structured_outputs:
        raise ExportError(f"{path} lacks the {export_lib.TEXT_SIGNATURE!r} signature or the 'probs' output "
                          "(exported by an older tfner); "
                          "export it again from the saved tagger")
    tagger._predict_text = loaded.signatures[export_lib.TEXT_SIGNATURE] if text_in_graph else None
    return tagger


def _load_saved(path: Path) -> Tagger:
    cfg = TaggerConfig.from_json((path / export_lib.CONFIG_FILE).read_text(encoding="utf-8"))
    labels = json.loads((path / export_lib.LABELS_FILE).read_text(encoding="utf-8"))
    tagger = Tagger(cfg)
    tasks = _read_tasks(path)
    model = encoder.build_model(str(path), len(tasks_lib.head_names(labels, tasks)), pretrained=True, seed=None)
    head = _read_crf_head(path, cfg, labels)
    if head is not None:
        model.crf_head = head
    tagger._set_fitted(cfg, labels, encoder.load_tokenizer(str(path)), model, tasks)
    return tagger


def _read_crf_head(folder: Path, cfg: TaggerConfig, labels: list[str]) -> CrfHead | None:
    """The CRF head's learned scores (``crf.json``) of a saved tagger or an export, if it has one."""
    if cfg.head != "crf":
        return None
    file = folder / export_lib.CRF_FILE
    if not file.exists():
        raise ExportError(f"{folder} is a CRF tagger without {export_lib.CRF_FILE}: it was not saved by tfner")
    head = CrfHead(labels)
    head.set_values(json.loads(file.read_text(encoding="utf-8")))
    return head
