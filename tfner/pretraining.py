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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfner import logs
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


def pretrain(texts, output_dir: str | os.PathLike, *, encoder: str = "all-MiniLM-L6-v2",
             held_out: float = 0.05, epochs: int = 1, batch_size: int = 32, learning_rate: float = 5e-5,
             warmup_ratio: float = 0.1, weight_decay: float = 0.01, clipnorm: float | None = 1.0,
             max_length: int = 128, mask_rate: float = 0.15, whole_word: bool = False, precision: str = "float32",
             strategy="auto", logdir: str | os.PathLike | None = None, seed: int = 0,
             backup_every: int | None = 200, callbacks: Sequence = (), verbose: int = 1) -> PretrainResult:
    """Continue masked-LM training of ``encoder`` on ``texts``; save the encoder to ``output_dir``.

    ``held_out``: the share of windows kept out of training for the held-out loss (0 for none).
    ``logdir``: TensorBoard logs (loss, held-out ``val_loss``, learning rate per epoch).
    ``backup_every``: steps between backups in ``output_dir/backup`` (``None``: no backups, no
    resume); a later call with the same texts and settings resumes from the last one.
    ``callbacks``: more Keras callbacks, run before tfner's own.
    Returns a :class:`PretrainResult`; ``output_dir`` also holds ``pretraining.json``.
    """
    if epochs < 1 or batch_size < 1:
        raise ConfigError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if not 0.0 <= held_out < 1.0:
        raise ConfigError(f"held_out must be in [0, 1), got {held_out}")
    if not 0.0 < mask_rate < 1.0:
        raise ConfigError(f"mask_rate must be in (0, 1), got {mask_rate}")
    if backup_every is not None and not (isinstance(backup_every, int) and backup_every >= 1):
        raise ConfigError(f"backup_every must be an integer >= 1 or None, got {backup_every!r}")
    import tensorflow as tf

    from tfner.data import alignment, masking, pipeline
    from tfner.modeling.encoder import build_masked_lm, load_tokenizer
    from tfner.modeling.loss import GlobalLossDisplay, MaskedTokenLoss
    from tfner.training import precision as precision_lib
    from tfner.training.backup import write_json_atomic
    from tfner.training.callbacks import EverySteps, TrainingTimer
    from tfner.training.optim import WarmupLinearDecay, build_optimizer
    from tfner.training.strategy import is_multi_worker, resolve_strategy

    strategy = resolve_strategy(strategy)
    if backup_every is not None and is_multi_worker(strategy):
        import warnings

        warnings.warn("pretrain makes no backups under several workers (not supported yet): a crash starts afresh",
                      stacklevel=2)
        backup_every = None
    texts = read_texts(texts)
    tokenizer = load_tokenizer(encoder)
    if tokenizer.mask_token_id is None:
        raise ConfigError(f"the tokenizer of {encoder!r} has no mask token: it cannot be pre-trained as a masked LM")
    wins = windows_of(tokenizer, texts, max_length)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(wins))
    n_held = int(round(held_out * len(wins))) if held_out else 0
    if held_out and n_held == 0 and len(wins) > 1:
        n_held = 1
    held, train = [wins[i] for i in order[:n_held]], [wins[i] for i in order[n_held:]]
    if not train:
        raise DataFormatError("texts", None, f"{len(wins)} window(s) of text: none left for training after "
                                             f"holding out {n_held}")
    tokens = int(sum(len(ids) for ids, _ in train))
    buckets = pipeline.default_buckets(max_length)
    vocab = len(tokenizer)

    def dataset(pairs, generator, shuffle: bool, order_seed: int = seed):
        masked = []
        for k, (ids, words) in enumerate(pairs):
            x, y = masking.mask_tokens(ids, words, generator, mask_id=tokenizer.mask_token_id, vocab_size=vocab,
                                       rate=mask_rate, whole_word=whole_word)
            masked.append(alignment.Window(sentence=k, input_ids=x, labels=y, word_index=words.astype(np.int32)))
        return pipeline.make_dataset(masked, batch_size=batch_size, boundaries=buckets,
                                     pad_id=tokenizer.pad_token_id, shuffle=shuffle, seed=order_seed), masked

    held_ds = dataset(held, np.random.default_rng([seed, 1]), shuffle=False)[0] if held else None
    lengths = np.unique([len(ids) for ids, _ in train], return_counts=True)
    steps = pipeline.steps_for_lengths(dict(zip(*(a.tolist() for a in lengths), strict=True)), batch_size, buckets)
    chosen = precision_lib.choose_precision(precision, gpus=len(tf.config.list_logical_devices("GPU")))
    if verbose:
        print(f"pre-training {encoder} as a masked LM: {len(texts):,} texts -> {len(train):,} windows "
              f"({tokens:,} sub-word tokens) for training, {len(held):,} held out; {steps:,} steps per epoch; "
              f"masking {mask_rate:.0%} of {'words' if whole_word else 'tokens'}; precision {chosen.policy}")
    with logs.quiet_libraries(verbose), precision_lib.policy_scope(chosen.policy), strategy.scope():
        model = build_masked_lm(encoder, seed=seed)
        total = steps * epochs
        schedule = WarmupLinearDecay(learning_rate, math.ceil(warmup_ratio * total), total)
        model.compile(optimizer=build_optimizer(schedule, weight_decay=weight_decay, clipnorm=clipnorm),
                      loss=GlobalLossDisplay(MaskedTokenLoss()))
        if backup_every is not None:
            model.optimizer.build(model.trainable_variables)  # its slots exist, so a checkpoint restores them at once
    settings = {"encoder": encoder, "held_out": held_out, "epochs": epochs, "batch_size": batch_size,
                "learning_rate": learning_rate, "warmup_ratio": warmup_ratio, "weight_decay": weight_decay,
                "clipnorm": clipnorm, "max_length": max_length, "mask_rate": mask_rate, "whole_word": whole_word,
                "precision": chosen.policy, "seed": seed}
    digest = hashlib.sha256()
    for ids, _ in wins:
        digest.update(np.asarray(ids, np.int64).tobytes() + b"|")
    run = {"settings": settings, "windows": len(wins), "texts": digest.hexdigest()}
    out_dir = Path(output_dir)
    backup_dir = out_dir / BACKUP
    timer = TrainingTimer(tokens)
    own: list = [timer]
    if logdir is not None:
        own.append(tf.keras.callbacks.TensorBoard(log_dir=os.fspath(logdir), write_graph=False, profile_batch=0))
    history: list[dict] = []
    generator = np.random.default_rng([seed, 2])
    first_epoch, skip = 0, 0
    manager = None
    if backup_every is not None:
        checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
        manager = tf.train.CheckpointManager(checkpoint, str(backup_dir), max_to_keep=2)
        if (backup_dir / PROGRESS).exists():
            progress = json.loads((backup_dir / PROGRESS).read_text(encoding="utf-8"))
            if progress["run"] != json.loads(json.dumps(run)):
                raise ConfigError(f"{out_dir} holds the backup of a different pre-training (other texts or settings); "
                                  f"use another output_dir, or delete {backup_dir} to start afresh")
            checkpoint.read(str(backup_dir / progress["checkpoint"])).assert_existing_objects_matched()
            first_epoch, skip, history = progress["epoch"], progress["step"], progress["history"]
            generator.bit_generator.state = progress["generator"]
            if verbose:
                print(f"resuming from {backup_dir}: epoch {first_epoch + 1}, {skip} of {steps} steps done")

    def back_up(epoch: int, step: int, generator_state: Any) -> None:
        assert manager is not None
        path = manager.save()
        write_json_atomic(backup_dir / PROGRESS, {"run": run, "checkpoint": os.path.basename(path), "epoch": epoch,
                                                  "step": step, "history": history, "generator": generator_state})

    for epoch in range(first_epoch, epochs):
        at_start = generator.bit_generator.state
        train_ds, _ = dataset(train, generator, shuffle=True, order_seed=seed + 7919 * epoch)  # fresh masks and order
        offset = skip if epoch == first_epoch else 0
        every: list = []
        if manager is not None and backup_every is not None:
            every = [EverySteps(backup_every, offset, functools.partial(_at_step, back_up, epoch, at_start))]
        timer.tokens_per_epoch = tokens * (steps - offset) // steps
        out = model.fit(train_ds.repeat().skip(offset), steps_per_epoch=steps - offset, epochs=epoch + 1,
                        initial_epoch=epoch, validation_data=held_ds, callbacks=[*callbacks, *own, *every], verbose=0)
        row = {"epoch": epoch + 1, "loss": float(out.history["loss"][-1]),
               "real_tokens_per_s": float(out.history["real_tokens_per_s"][-1])}
        if held_ds is not None:
            row["held_out_loss"] = float(out.history["val_loss"][-1])
            row["held_out_perplexity"] = float(math.exp(min(row["held_out_loss"], 50.0)))
        history.append(row)
        if manager is not None and epoch + 1 < epochs:
            back_up(epoch + 1, 0, generator.bit_generator.state)
        if verbose:
            extra = (f"; held-out masked-LM loss {row['held_out_loss']:.4f}, perplexity {row['held_out_perplexity']:.2f}"
                     if held_ds is not None else "")
            print(f"epoch {epoch + 1}/{epochs}: loss {row['loss']:.4f}{extra}; {row['real_tokens_per_s']:,.0f} "
                  "real tokens/s", flush=True)
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    result = PretrainResult(out_dir, len(train), len(held), tokens, history)
    (out_dir / RECORD).write_text(json.dumps({"settings": settings, "windows": len(train), "held_out_windows": len(held),
                                              "tokens": tokens, "epochs": history}, indent=2), encoding="utf-8")
    shutil.rmtree(backup_dir, ignore_errors=True)  # finished: a new call starts afresh
    return result


def _at_step(back_up: Callable[[int, int, Any], None], epoch: int, generator_state: Any, step: int) -> None:
    back_up(epoch, step, generator_state)
