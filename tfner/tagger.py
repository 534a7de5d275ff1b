"""The estimator: ``Tagger(...).fit(train, dev)`` -> ``predict`` / ``evaluate`` / ``export``.

A thin front over the named steps of :mod:`tfner.tagging`: ``fit`` validates its options, then
reads the corpus (:mod:`~tfner.tagging.inputs`), builds the model (:mod:`~tfner.tagging.model_setup`),
runs training (:mod:`~tfner.tagging.fit_run`) and only then takes the learned state. A fit whose
options or data are refused leaves the tagger as it was before; one that fails after that leaves it
unfitted (nothing of an earlier fit or of its own half-run). Prediction always goes through the serving
computation :meth:`Tagger.export` saves (:mod:`~tfner.tagging.prediction`), so an in-memory
tagger and its export give the same tags.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfner.config import TaggerConfig, check_options
from tfner.data import tasks as tasks_lib
from tfner.data.schemes import PREFIXES, convert
from tfner.data.sources import DataLike
from tfner.data.spans import Span
from tfner.errors import ConfigError, NotFittedError
from tfner.logs import quiet_libraries
from tfner.metrics import Evaluation, TagEvaluation
from tfner.modeling import encoder
from tfner.serving import export as export_lib
from tfner.tagging import fit_run, inputs, model_setup, prediction, recipe, saved_tagger, scoring
from tfner.tagging.state import TaggerState, from_model
from tfner.training import schedule
from tfner.training.seeding import deterministic_ops, isolated_seed
from tfner.training.strategy import resolve_strategy

__all__ = ["DataLike", "Tagger", "fit", "load", "prepare"]



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
    return inputs.prepare_files(sources, out_dir, cfg, encoder.load_tokenizer(cfg.encoder), rows_per_shard)


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
        verbose: 0 silent; 1 what is loaded, data counts, the recipe, a progress bar per round and
            its dev scores; 2 one line per round, and the libraries' own logs (:mod:`tfner.logs`).
            A round is one of the schedule's equal parts (:mod:`tfner.training.schedule`), an
            epoch when ``epochs=`` is given; ``history_``, ``best_epoch_``, ``kept_epoch_`` (whose weights
            the tagger holds, :attr:`TaggerConfig.restore_best`) and
            ``dev_evaluations_`` count rounds.
        output_dir: makes training crash-safe (:mod:`tfner.training.backup`): backups every
            ``backup_every`` steps and at each round's end; calling ``fit`` again with the same
            folder after a crash resumes where the last backup left off; the finished tagger
            is saved to ``output_dir/tagger``. A folder whose run finished (its tagger saved, no backup
            left) is refused with a ``ConfigError``, before any data is read, unless ``overwrite``.
        overwrite: with ``output_dir``, train again in a finished run's folder and replace its tagger
            (as Hugging Face's ``overwrite_output_dir``); a backup there still resumes.
        callbacks: more Keras callbacks for ``model.fit``, run after tfner's dev scoring: their epoch-end logs
            hold ``loss``, ``learning_rate``, ``val_entity_f1`` (with dev) and ``val_loss`` (with ``dev_loss``), so
            ``ModelCheckpoint(path, monitor="val_entity_f1", mode="max")`` works; at the end of training the
            model holds the weights ``restore_best`` kept.
        dev_loss: with dev data, Keras' own pass over dev each round for ``val_loss`` (``history_``,
            TensorBoard) besides tfner's scoring pass. ``False`` skips it: a round then reads dev once,
            not twice (about half the dev time, which dominates fits of small corpora scored on a large
            dev set), and ``history_`` has no ``val_loss``; training and dev scores are the same.
        **options: any :class:`TaggerConfig` field, overriding ``config``.
    """

    def __init__(self, config: TaggerConfig | None = None, *, strategy: Any = "auto",
                 logdir: str | os.PathLike | None = None, verbose: int = 1,
                 output_dir: str | os.PathLike | None = None, backup_every: int = 200,
                 callbacks: Sequence[tf.keras.callbacks.Callback] = (), dev_loss: bool = True,
                 overwrite: bool = False, **options: Any):
        self.config = config
        self.strategy = strategy
        self.logdir = logdir
        self.verbose = verbose
        self.output_dir = output_dir
        self.backup_every = backup_every
        self.callbacks = callbacks
        self.dev_loss = dev_loss
        self.overwrite = overwrite
        self.options = options

    # --- training ------------------------------------------------------------------
    def fit(self, train: DataLike, dev: DataLike | float | None = None) -> Tagger:
        """Fine-tune on ``train`` (a CoNLL file path or ``(words, tags)`` pairs); score ``dev`` each round.
        ``dev`` a number between 0 and 1 holds out that fraction of ``train`` (seeded; whole documents where
        the corpus marks them) as dev, as Keras' ``validation_split``.

        Options left ``None`` or ``"auto"`` (``epochs``, ``batch_size``, ``learning_rate``, ``window_overlap``,
        ``sentences_alone``; ``head``, ``context``) are chosen by the recipe (:mod:`tfner.tagging.recipe`),
        (with no ``dev``, all of ``train`` trains for the whole schedule and the final weights are kept);
        ``train_stats_["recipe"]`` says what and why.
        """
        if self.config is not None and not isinstance(self.config, TaggerConfig):
            raise ConfigError(f"config must be a TaggerConfig, got {type(self.config).__name__}")
        check_options(self.options)
        cfg = (self.config or TaggerConfig()).replace(**self.options)
        strategy = resolve_strategy(self.strategy)  # first: MultiWorkerMirroredStrategy must precede any TF op
        options = fit_run.RunOptions(
            Path(self.output_dir) if self.output_dir is not None else None,
            Path(self.logdir) if self.logdir is not None else None, self.verbose, self.backup_every,
            tuple(self.callbacks), self._checked_dev_loss(), bool(self.overwrite))
        fit_run.check_options(options)
        # Seeded before the input pipeline and the model exist; the caller's streams come back after.
        with isolated_seed(cfg.seed), deterministic_ops(cfg.deterministic), quiet_libraries(self.verbose):
            corpus = inputs.read_corpus(cfg, train, dev)
            # options and data checked: an earlier fit survives a bad call, but a fit that fails from
            # here on leaves the tagger unfitted, holding nothing of an earlier fit or of its own run
            self._forget()
            source = saved_tagger.init_source(cfg)
            encoder_name = str(source.folder) if source else cfg.encoder
            tokenizer = encoder.load_tokenizer(encoder_name)
            shape = encoder.matmul_shape(encoder_name)  # (hidden, intermediate): the recipe's and precision's
            hidden = shape[0] if cfg.learning_rate is None else 0
            cfg, corpus, chosen_recipe = recipe.choose(cfg, corpus, hidden, tokenizer)  # the options left open, filled
            data = inputs.build_inputs(cfg, corpus, tokenizer, train)
            plan = schedule.plan(data.steps, cfg.epochs, cfg.patience, bool(corpus.dev))
            chosen = fit_run.resumed_precision(options, cfg.precision) or model_setup.choose_precision(cfg, shape)
            if self.verbose:
                fit_run.print_summary(cfg, corpus, data, chosen, strategy)
                print(chosen_recipe.describe(plan.describe()))
            setup = model_setup.build(cfg, corpus.labels, corpus.tasks, source, strategy, chosen, plan.updates)
            state = from_model(cfg, corpus.labels, tokenizer, setup.model, corpus.tasks)
            result = fit_run.run(cfg, strategy, corpus, data, setup, state, options, plan, chosen_recipe)
            self._take(state)
            self.history_, self.dev_evaluations_ = result.history, result.dev_evaluations
            self.best_epoch_, self.kept_epoch_ = result.best_epoch, result.kept_epoch
            self.stopped_epoch_ = result.stopped_epoch
            self.train_stats_, self.transferred_labels_ = result.train_stats, setup.transferred_labels
            fit_run.save_output(strategy, options, self.save)
        return self

    def _take(self, state: TaggerState) -> None:
        """Hold ``state`` as the learned attributes (a fit that succeeded, or ``tfner.load``)."""
        self.config_, self.labels_, self.tasks_ = state.config, state.labels, state.tasks
        self.tokenizer_, self.model_ = state.tokenizer, state.model
        if state.module is not None:
            self.module_ = state.module
        self._crf_head, self._serve, self._predict_text, self._loaded = (state.crf_head, state.serve,
                                                                         state.predict_text, state.loaded)

    def _checked_dev_loss(self) -> bool:
        if not isinstance(self.dev_loss, bool):
            raise ConfigError(f"dev_loss must be True or False, got {self.dev_loss!r}")
        return self.dev_loss

    def _forget(self) -> None:
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("__")] + ["_serve"]:
            self.__dict__.pop(name, None)

    def _check_fitted(self) -> TaggerState:
        """The learned state, as the attributes hold it; :class:`NotFittedError` before ``fit``/``load``."""
        if "_serve" not in self.__dict__:
            raise NotFittedError("this Tagger is not fitted yet: call fit(train, dev) or tfner.load(path) first")
        return TaggerState(self.config_, self.labels_, self.tasks_, self.tokenizer_, self.model_, self._crf_head,
                           self._serve, self._predict_text, getattr(self, "module_", None), self._loaded)

    def plot_history(self, path: str | os.PathLike | None = None):
        """Loss and dev entity F1 (overall and per type) per round: a matplotlib figure (and a PNG at ``path``)."""
        from tfner import plots

        self._check_fitted()
        if not getattr(self, "history_", None):
            raise NotFittedError("this tagger has no training history (it was loaded, not fitted)")
        auto = getattr(self, "train_stats_", {}).get("schedule", {}).get("auto", False)
        return plots.save(plots.history_figure(self.history_, unit="round" if auto else "epoch"), path)

    # --- prediction ----------------------------------------------------------------
    def _tag_words(self, sentences: Sequence[Sequence[str]], documents: Sequence[int] | None = None,
                   task: tasks_lib.AuxTask | None = None) -> tuple[list[list[str]], list[np.ndarray]]:
        """Tags and scores of word lists (:func:`tfner.tagging.prediction.tag_words`)."""
        return prediction.tag_words(self._check_fitted(), sentences, documents, task)

    def predict_tags(self, sentences: Sequence[Sequence[str]], *, scheme: str = "iob2",
                     task: str | None = None) -> list[list[str]]:
        """One predicted tag per word for already-split sentences (lists of words), in ``scheme``
        (any of :data:`tfner.data.schemes.PREFIXES`: iob2 by default, as the model predicts, or
        e.g. ``"bioes"``, written from the entities conlleval's rule reads in the IOB2 tags).

        ``task``: the tags of one of a multi-task tagger's further tasks (``tasks_``; a span
        task's in ``scheme`` too) instead of the main task's.

        Under ``context="document"`` or ``"packed"`` (``config_.context``; the default ``"auto"`` packs a corpus
        that marks documents) the list is one document, in order (as a file without ``-DOCSTART-``): each
        sentence sees its neighbours. Unrelated sentences: tag them one list each.
        """
        state = self._check_fitted()
        checked = prediction.checked_sentences(sentences)
        if scheme not in PREFIXES:
            raise ConfigError(f"scheme must be one of {tuple(PREFIXES)}, got {scheme!r}")
        aux = prediction.find_task(state, task)
        if aux is not None and aux.kind == tasks_lib.TAGS and scheme != "iob2":
            raise ConfigError(f"task {aux.name!r} tags words (no spans): it has no scheme to write, got {scheme!r}")
        tags = prediction.tag_words(state, checked, task=aux)[0]
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
        its windows hold as much of it as fits, whatever ``context`` says. ``texts`` is read in
        iteration order, once (a generator or a pandas Series with any index works; results follow that order).
        """
        return prediction.predict_texts(self._check_fitted(), texts)

    # --- evaluation ----------------------------------------------------------------
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
        return scoring.evaluate(self._check_fitted(), data, mode, predictions_path, predictions_scheme)

    def evaluate_task(self, data: DataLike, task: str, *, mode: str | None = None,
                      predictions_path: str | os.PathLike | None = None) -> Evaluation | TagEvaluation:
        """Score one task of a multi-task tagger on its column of labelled ``data`` (a CoNLL file).

        The main task: as :meth:`evaluate`. A further span task (chunking): entity scores, an
        :class:`Evaluation`; a tag task (part of speech): accuracy over words, a
        :class:`~tfner.metrics.TagEvaluation`. ``predictions_path`` gets ``word gold predicted``
        lines, a blank line between sentences; a span task's path ending in ``.jsonl`` gets ``{"text", "spans",
        "gold"}`` per sentence (a tag task refuses one: ``ConfigError``).
        """
        state = self._check_fitted()
        if prediction.find_task(state, task) is None:
            return self.evaluate(data, mode=mode, predictions_path=predictions_path)
        return scoring.evaluate_task(state, data, task, mode, predictions_path)

    # --- persistence ---------------------------------------------------------------
    def export(self, path: str | os.PathLike, *, serving_version: str = export_lib.DEFAULT_SERVING_VERSION,
               allow_unservable: bool = False) -> Path:
        """Write a SavedModel for TF Serving to ``path/<next integer version>/``; return that folder.

        The export is made to load on TF Serving ``serving_version`` and every later release
        (default 2.14, the oldest server whose op set tfner ships) and checked against its op
        set; if that server would refuse it, :class:`ExportError` names the ops, unless
        ``allow_unservable=True`` (then a warning).
        """
        return saved_tagger.export(self._check_fitted(), Path(path), serving_version=serving_version,
                                   allow_unservable=allow_unservable)

    def save(self, path: str | os.PathLike) -> Path:
        """Save the trainable tagger (HF weights, tokenizer, labels, config) to ``path``."""
        return saved_tagger.save(self._check_fitted(), Path(path))


def fit(train: DataLike, dev: DataLike | float | None = None, *, strategy: Any = "auto",
        logdir: str | os.PathLike | None = None, verbose: int = 1, output_dir: str | os.PathLike | None = None,
        backup_every: int = 200, callbacks: Sequence[tf.keras.callbacks.Callback] = (), dev_loss: bool = True,
        overwrite: bool = False, **options: Any) -> Tagger:
    """Fine-tune a tagger: ``tfner.fit("train.conll", "dev.conll")`` (the recipe chooses what is not given), or
    ``tfner.fit("train.conll", "dev.conll", epochs=3, learning_rate=5e-5)``.

    ``options`` are :class:`TaggerConfig` fields; an unknown one raises ``ConfigError``. The
    keyword arguments before them are :class:`Tagger`'s.
    """
    check_options(options)
    return Tagger(strategy=strategy, logdir=logdir, verbose=verbose, output_dir=output_dir,
                  backup_every=backup_every, callbacks=callbacks, dev_loss=dev_loss, overwrite=overwrite,
                  **options).fit(train, dev)


def load(path: str | os.PathLike, *, precision: str = "saved", verbose: int = 1) -> Tagger:
    """Load a tagger saved with :meth:`Tagger.save` (or a fit's ``output_dir``, whose ``tagger`` folder it
    holds), or an export (a version folder or its parent).

    ``precision``: the Keras policy a saved tagger is rebuilt in. ``"saved"`` is the one it was trained in
    (``mixed_bfloat16`` after an ``"auto"`` fit on a CPU with bfloat16 instructions, ``mixed_float16`` on a
    GPU), unless this machine does not compute it natively: then float32, with a warning. Or one of
    ``"float32"``, ``"mixed_bfloat16"``, ``"mixed_float16"``. An export keeps the precision it was exported in.
    ``verbose=2`` lets the libraries log while loading (:mod:`tfner.logs`).
    """
    with quiet_libraries(verbose):
        state = saved_tagger.load(Path(path), precision)
    tagger = Tagger(state.config)
    tagger._take(state)
    return tagger
