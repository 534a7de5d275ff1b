"""Domain-adaptive pre-training: continue the encoder's masked-language-model training on raw text.

``tfner.pretrain(texts, output_dir)`` reads raw text (a file with one text per line, several
files, or a list of strings), cuts every text into windows of at most ``max_length`` sub-tokens
(no token is dropped: a long text becomes several windows), holds out a share of the windows,
and trains the encoder under a masked-LM head (``TFAutoModelForMaskedLM`` from the same
weights) with tfner's AdamW, warm-up and linear decay, global-norm clipping, length-bucketed
batches padded per batch, and its masked loss. Masks are drawn afresh every epoch
(:func:`tfner.data.masking.mask_tokens`: 15%, 80/10/10, optionally whole words); the held-out
windows keep one fixed masking, so their loss and perplexity (``exp`` of the loss) compare
across epochs. The result is an encoder folder that ``fit(encoder=output_dir)`` takes.

Crash-safe as ``fit``: while it runs, ``output_dir/backup/`` holds a checkpoint of the weights
and optimizer (every ``backup_every`` steps and at each epoch's end) and ``progress.json`` (the
epoch and step reached, the finished epochs' figures, the mask generator's state at the epoch's
start). Calling ``pretrain`` again with the same texts, settings and ``output_dir`` resumes
there: the epoch in progress gets the same masks and order again and skips the batches already
trained on, so the step count and schedule continue unchanged. A finished run removes the backup.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfner import logs
from tfner.config_checks import check_optimizer_values, check_types
from tfner.errors import ConfigError, DataFormatError, DataNotFoundError

#: the file beside the weights that records the run
RECORD = "pretraining.json"
BACKUP = "backup"
PROGRESS = "progress.json"


@dataclasses.dataclass(frozen=True)
class PretrainResult:
    """What :func:`pretrain` wrote and measured. ``epochs``: per epoch, the training loss and the
    held-out masked-LM loss and perplexity (``None`` without held-out windows)."""

    output_dir: Path
    windows: int
    held_out_windows: int
    tokens: int
    epochs: list[dict]


def read_texts(texts: str | os.PathLike | Sequence[str] | Sequence[os.PathLike]) -> list[str]:
    """Texts from a file (one a line; blank lines skipped), several files, or a list of strings as given.

    A ``str`` is a path; to pass texts, pass a list.
    """
    items: list[object] = [Path(texts)] if isinstance(texts, (str, os.PathLike)) else list(texts)
    if items and all(isinstance(t, os.PathLike) for t in items):
        paths = [Path(t) for t in items]  # type: ignore[arg-type]
        out: list[str] = []
        for path in paths:
            if not path.is_file():
                raise DataNotFoundError(str(path))
            out += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not out:
            raise DataFormatError(", ".join(map(str, paths)), None, "no text to pre-train on (every line is blank)")
        return out
    strings: list[str] = []
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise DataFormatError(f"texts[{i}]", None, f"a {type(t).__name__}, not a str (pass files as pathlib.Path)")
        strings.append(t)
    out = [t for t in strings if t.strip()]
    if not out:
        raise DataFormatError("texts", None, "no text to pre-train on (the list is empty or blank)")
    return out


def windows_of(tokenizer, texts: Sequence[str], max_length: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(input_ids, word_ids)`` per window: each text cut into consecutive windows of at most ``max_length``."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, return_overflowing_tokens=True,
                    stride=0, add_special_tokens=True)
    out = []
    for i, ids in enumerate(enc["input_ids"]):
        words = np.array([-1 if w is None else w for w in enc.word_ids(i)], np.int64)
        if (words >= 0).any():
            words[words >= 0] -= words[words >= 0].min()  # word ids from 0 within the window
        out.append((np.asarray(ids, np.int32), words))
    return out


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """The options of :func:`pretrain`, as :class:`~tfner.config.TaggerConfig` is ``fit``'s.

    ``held_out``: the share of windows kept out of training for the held-out loss (0 for none);
    ``mask_rate``: the share of tokens (or of words, ``whole_word``) masked, 80/10/10; the
    optimizer options mean what they mean for ``fit`` (the same AdamW, schedule and clipping).
    """

    encoder: str = "all-MiniLM-L6-v2"
    held_out: float = 0.05
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    clipnorm: float | None = 1.0
    max_length: int = 128
    mask_rate: float = 0.15
    whole_word: bool = False
    precision: str = "float32"
    seed: int = 0

    def __post_init__(self):
        # every option checked before any text is read, as TaggerConfig's (a negative learning rate trained backwards)
        check_types(self)
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if not 0.0 <= self.held_out < 1.0:  # (a NaN fails these comparisons too)
            raise ConfigError(f"held_out must be in [0, 1), got {self.held_out}")
        if not 0.0 < self.mask_rate < 1.0:
            raise ConfigError(f"mask_rate must be in (0, 1), got {self.mask_rate}")
        check_optimizer_values(self)
        if not 8 <= self.max_length <= 512:
            raise ConfigError(f"max_length must be in [8, 512], got {self.max_length}")
        from tfner.training.precision import PRECISIONS

        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def replace(self, **changes: Any) -> PretrainConfig:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown pretrain option(s) {unknown}; options: {[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class _Corpus:
    """The windows of a pre-training: training and held out, their datasets and counts."""

    texts: int
    train: list
    held: list
    held_ds: Any
    steps: int
    tokens: int
    fingerprint: str


def pretrain(texts, output_dir: str | os.PathLike, config: PretrainConfig | None = None, *, strategy="auto",
             logdir: str | os.PathLike | None = None, backup_every: int | None = 200, callbacks: Sequence = (),
             verbose: int = 1, overwrite: bool = False, **options: Any) -> PretrainResult:
    """Continue masked-LM training of ``encoder`` on ``texts``; save the encoder to ``output_dir``.

    ``config`` (a :class:`PretrainConfig`) and ``options`` (its fields, overriding it) say what to
    train; ``tfner.pretrain(texts, "enc/", epochs=2)``.
    ``logdir``: TensorBoard logs (loss, held-out ``val_loss``, learning rate per epoch).
    ``backup_every``: steps between backups in ``output_dir/backup`` (``None``: no backups, no
    resume); a later call with the same texts and settings resumes from the last one.
    ``callbacks``: more Keras callbacks, run before tfner's own.
    ``overwrite``: a finished pre-training's ``output_dir`` (its ``pretraining.json`` written, no backup left) is
    refused with a ``ConfigError`` before anything is read, unless ``overwrite=True``, which trains again and
    replaces it (a script run twice would otherwise redo the work and replace the finished encoder).
    Returns a :class:`PretrainResult`; ``output_dir`` also holds ``pretraining.json``.
    """
    cfg = (config or PretrainConfig()).replace(**options)
    if backup_every is not None and not (isinstance(backup_every, int) and backup_every >= 1):
        raise ConfigError(f"backup_every must be an integer >= 1 or None, got {backup_every!r}")
    out_dir = Path(output_dir)
    if not overwrite and (out_dir / RECORD).exists() and not (out_dir / BACKUP / PROGRESS).exists():
        raise ConfigError(f"{out_dir} holds a finished pre-training ({RECORD}); use it as encoder={str(out_dir)!r}, "
                          "pass overwrite=True to train again and replace it, or use another output_dir")
    from tfner.modeling.encoder import check_max_length, load_tokenizer
    from tfner.training.strategy import is_multi_worker, resolve_strategy

    strategy = resolve_strategy(strategy)
    if backup_every is not None and is_multi_worker(strategy):
        import warnings

        warnings.warn("pretrain makes no backups under several workers (not supported yet): a crash starts afresh",
                      stacklevel=2)
        backup_every = None
    check_max_length(cfg.encoder, cfg.max_length)  # a longer window failed inside TensorFlow on a long text
    texts = read_texts(texts)
    tokenizer = load_tokenizer(cfg.encoder)
    if tokenizer.mask_token_id is None:
        raise ConfigError(f"the tokenizer of {cfg.encoder!r} has no mask token: it cannot be pre-trained as a masked LM")
    corpus = _split(cfg, tokenizer, texts)
    with logs.quiet_libraries(verbose):
        model, chosen = _build(cfg, strategy, corpus.steps)
    if verbose:
        print(f"pre-training {cfg.encoder} as a masked LM: {corpus.texts:,} texts -> {len(corpus.train):,} windows "
              f"({corpus.tokens:,} sub-word tokens) for training, {len(corpus.held):,} held out; {corpus.steps:,} "
              f"steps per epoch; masking {cfg.mask_rate:.0%} of {'words' if cfg.whole_word else 'tokens'}; "
              f"precision {chosen}")
    run = {"settings": {**cfg.to_dict(), "precision": chosen}, "windows": len(corpus.train) + len(corpus.held),
           "texts": corpus.fingerprint}
    backup = _Backup(out_dir / BACKUP, model, run) if backup_every is not None else None
    history = _train(cfg, model, tokenizer, corpus, backup, backup_every, logdir, callbacks, verbose)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    (out_dir / RECORD).write_text(json.dumps({"settings": run["settings"], "windows": len(corpus.train),
                                              "held_out_windows": len(corpus.held), "tokens": corpus.tokens,
                                              "epochs": history}, indent=2), encoding="utf-8")
    shutil.rmtree(out_dir / BACKUP, ignore_errors=True)  # finished (and saved): a new call starts afresh
    return PretrainResult(out_dir, len(corpus.train), len(corpus.held), corpus.tokens, history)


def _masked_dataset(cfg: PretrainConfig, tokenizer, pairs, generator, shuffle: bool, order_seed: int):
    """``pairs`` of (ids, word ids) masked with ``generator`` (80/10/10), as length-bucketed batches."""
    from tfner.data import alignment, masking, pipeline

    masked = []
    for k, (ids, words) in enumerate(pairs):
        x, y = masking.mask_tokens(ids, words, generator, mask_id=tokenizer.mask_token_id, vocab_size=len(tokenizer),
                                   rate=cfg.mask_rate, whole_word=cfg.whole_word)
        masked.append(alignment.Window(sentence=k, input_ids=x, labels=y, word_index=words.astype(np.int32)))
    return pipeline.make_dataset(masked, batch_size=cfg.batch_size, boundaries=pipeline.default_buckets(cfg.max_length),
                                 pad_id=tokenizer.pad_token_id, shuffle=shuffle, seed=order_seed)


def _split(cfg: PretrainConfig, tokenizer, texts: list[str]) -> _Corpus:
    """The texts' windows split into training and held-out ones (the held-out ones masked once, fixed)."""
    from tfner.data import pipeline

    wins = windows_of(tokenizer, texts, cfg.max_length)
    order = np.random.default_rng(cfg.seed).permutation(len(wins))
    n_held = int(round(cfg.held_out * len(wins))) if cfg.held_out else 0
    if cfg.held_out and n_held == 0 and len(wins) > 1:
        n_held = 1
    held, train = [wins[i] for i in order[:n_held]], [wins[i] for i in order[n_held:]]
    if not train:
        raise DataFormatError("texts", None, f"{len(wins)} window(s) of text: none left for training after "
                                             f"holding out {n_held}")
    held_ds = _masked_dataset(cfg, tokenizer, held, np.random.default_rng([cfg.seed, 1]), False, cfg.seed) \
        if held else None
    lengths = np.unique([len(ids) for ids, _ in train], return_counts=True)
    steps = pipeline.steps_for_lengths(dict(zip(*(a.tolist() for a in lengths), strict=True)), cfg.batch_size,
                                       pipeline.default_buckets(cfg.max_length))
    digest = hashlib.sha256()
    for ids, _ in wins:
        digest.update(np.asarray(ids, np.int64).tobytes() + b"|")
    return _Corpus(len(texts), train, held, held_ds, steps, int(sum(len(ids) for ids, _ in train)), digest.hexdigest())


def _build(cfg: PretrainConfig, strategy, steps: int):
    """The masked-LM model, compiled as ``fit`` compiles (:func:`~tfner.training.optim.compile_for_training`)."""
    import tensorflow as tf

    from tfner.modeling.encoder import build_masked_lm, matmul_shape
    from tfner.modeling.loss import MaskedTokenLoss
    from tfner.training import precision as precision_lib
    from tfner.training.optim import OptimizerSettings, compile_for_training

    hidden, intermediate = matmul_shape(cfg.encoder)
    chosen = precision_lib.choose_precision(cfg.precision, gpus=len(tf.config.list_logical_devices("GPU")),
                                            hidden=hidden, intermediate=intermediate)
    with precision_lib.policy_scope(chosen.policy), strategy.scope():
        model = build_masked_lm(cfg.encoder, seed=cfg.seed)
        settings = OptimizerSettings(cfg.learning_rate, cfg.warmup_ratio, cfg.weight_decay, cfg.clipnorm)
        compile_for_training(model, MaskedTokenLoss(), settings, steps * cfg.epochs)
        model.optimizer.build(model.trainable_variables)  # its slots exist, so a checkpoint restores them at once
    return model, chosen.policy


class _Backup:
    """``output_dir/backup``: a checkpoint of weights and optimizer and ``progress.json`` (the epoch and
    step reached, the finished epochs' figures, the mask generator's state at the epoch's start)."""

    def __init__(self, folder: Path, model, run: dict):
        import tensorflow as tf

        self.folder, self.run = folder, json.loads(json.dumps(run))
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(folder), max_to_keep=2)

    def resume(self, generator, steps: int, verbose: int) -> tuple[int, int, list[dict]]:
        """``(epoch, step, history)`` reached by an earlier call (``(0, 0, [])`` for a new one)."""
        if not (self.folder / PROGRESS).exists():
            return 0, 0, []
        progress = json.loads((self.folder / PROGRESS).read_text(encoding="utf-8"))
        if progress["run"] != self.run:
            raise ConfigError(f"{self.folder.parent} holds the backup of a different pre-training (other texts or "
                              f"settings); use another output_dir, or delete {self.folder} to start afresh")
        self.checkpoint.read(str(self.folder / progress["checkpoint"])).assert_existing_objects_matched()
        generator.bit_generator.state = progress["generator"]
        if verbose:
            print(f"resuming from {self.folder}: epoch {progress['epoch'] + 1}, {progress['step']} of {steps} steps done")
        return progress["epoch"], progress["step"], progress["history"]

    def save(self, epoch: int, step: int, history: list[dict], generator_state: Any) -> None:
        from tfner.training.backup import write_json_atomic

        path = self.manager.save()
        write_json_atomic(self.folder / PROGRESS, {"run": self.run, "checkpoint": os.path.basename(path),
                                                   "epoch": epoch, "step": step, "history": history,
                                                   "generator": generator_state})


def _train(cfg: PretrainConfig, model, tokenizer, corpus: _Corpus, backup: _Backup | None, backup_every: int | None,
           logdir, callbacks: Sequence, verbose: int) -> list[dict]:
    """The epochs of masked-LM training (from where ``backup`` left off); each epoch's figures."""
    import tensorflow as tf

    from tfner.training.callbacks import EverySteps, TrainingTimer

    timer = TrainingTimer(corpus.tokens)
    own: list = [timer]
    if logdir is not None:
        own.append(tf.keras.callbacks.TensorBoard(log_dir=os.fspath(logdir), write_graph=False, profile_batch=0))
    generator = np.random.default_rng([cfg.seed, 2])
    first_epoch, skip, history = backup.resume(generator, corpus.steps, verbose) if backup is not None else (0, 0, [])
    steps = corpus.steps
    for epoch in range(first_epoch, cfg.epochs):
        at_start = generator.bit_generator.state
        # fresh masks and order every epoch
        train_ds = _masked_dataset(cfg, tokenizer, corpus.train, generator, True, cfg.seed + 7919 * epoch)
        offset = skip if epoch == first_epoch else 0
        every: list = []
        if backup is not None and backup_every is not None:
            every = [EverySteps(backup_every, offset, functools.partial(_at_step, backup, epoch, history, at_start))]
        timer.tokens_per_epoch = corpus.tokens * (steps - offset) // steps
        out = model.fit(train_ds.repeat().skip(offset), steps_per_epoch=steps - offset, epochs=epoch + 1,
                        initial_epoch=epoch, validation_data=corpus.held_ds, callbacks=[*callbacks, *own, *every],
                        verbose=0)
        history.append(_epoch_row(epoch, out.history, corpus.held_ds is not None))
        if backup is not None and epoch + 1 < cfg.epochs:
            backup.save(epoch + 1, 0, history, generator.bit_generator.state)
        if verbose:
            row = history[-1]
            extra = (f"; held-out masked-LM loss {row['held_out_loss']:.4f}, perplexity {row['held_out_perplexity']:.2f}"
                     if "held_out_loss" in row else "")
            print(f"epoch {epoch + 1}/{cfg.epochs}: loss {row['loss']:.4f}{extra}; {row['real_tokens_per_s']:,.0f} "
                  "real tokens/s", flush=True)
    return history


def _epoch_row(epoch: int, logs: dict, held_out: bool) -> dict:
    row = {"epoch": epoch + 1, "loss": float(logs["loss"][-1]), "real_tokens_per_s": float(logs["real_tokens_per_s"][-1])}
    if held_out:
        row["held_out_loss"] = float(logs["val_loss"][-1])
        row["held_out_perplexity"] = float(math.exp(min(row["held_out_loss"], 50.0)))
    return row


def _at_step(backup: _Backup, epoch: int, history: list[dict], generator_state: Any, step: int) -> None:
    backup.save(epoch, step, history, generator_state)
