"""Inputs of a fit: data -> IOB2 sentences -> label list -> windows -> tf.data datasets.

Also the reading rules every route shares (:func:`read`, :func:`known_types_only`) and
``tfner.prepare``'s streaming files (:func:`prepare_files`, :func:`prepared_manifest`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfner.config import TaggerConfig
from tfner.data import alignment, pipeline, prepared
from tfner.data import tasks as tasks_lib
from tfner.data.readers import Sentence
from tfner.data.schemes import label_list
from tfner.data.sources import DataLike, as_sentences
from tfner.errors import ConfigError, DataFormatError
from tfner.training import accumulate


def read(data: DataLike, name: str, cfg: TaggerConfig, kinds: dict[str, str] | None = None, *,
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


def word_location(sentence: Sentence, w: int) -> tuple[str, int | None]:
    """Where word ``w`` of ``sentence`` was read: a column file's line of that word, a JSONL record's
    line (a record is one line), or the list item and word for Python data."""
    if sentence.line is None:
        return f"{sentence.source}, word {w}", None
    return sentence.source, sentence.line if sentence.text is not None else sentence.line + w


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
            raise DataFormatError(*word_location(s, w), f"{name} has entity type {s.tags[w][2:]!r} (tag {s.tags[w]!r}), "
                                  f"which the training data never has (known: {sorted(known)}); pass "
                                  "unseen_labels='outside' to read such tags as O")
        changed += len(unknown)
        out.append(dataclasses.replace(s, tags=tuple("O" if w in unknown else t for w, t in enumerate(s.tags))))
    if changed:
        warnings.warn(f"{changed} tag(s) of entity types the training data never has were read as O in {name}",
                      stacklevel=4)
    return out


def prepared_manifest(train: Any, cfg: TaggerConfig) -> dict | None:
    """The manifest of a folder written by ``tfner.prepare``, checked against ``cfg``; ``None`` for other data."""
    if not prepared.is_prepared(train):
        return None
    manifest = prepared.read_manifest(train)
    prepared.check_windowing(manifest, cfg.windowing, str(train))
    if manifest["encoder"] != cfg.encoder:
        raise ConfigError(f"{train} was prepared with encoder {manifest['encoder']!r}, not {cfg.encoder!r} "
                          "(the sub-word ids depend on its tokenizer)")
    if cfg.context not in ("sentence", "auto"):
        raise ConfigError(f"a prepared folder holds sentence windows; context={cfg.context!r} needs the files "
                          "themselves")
    if len(cfg.task_names) > 1:
        raise ConfigError("a prepared folder holds one tag column; multi-task training (several tasks) needs the "
                          "CoNLL files themselves")
    return manifest


def prepare_files(sources, out_dir: str | os.PathLike, cfg: TaggerConfig, tokenizer, rows_per_shard: int):
    """``tfner.prepare``: ``sources`` tokenized and aligned under ``cfg`` into shards in ``out_dir``."""
    return prepared.prepare(sources, out_dir, tokenizer=tokenizer, read=lambda p: read(p, os.fspath(p), cfg),
                            windowing=cfg.windowing, encoder=cfg.encoder, rows_per_shard=rows_per_shard)


@dataclasses.dataclass(frozen=True)
class Corpus:
    """What ``fit`` reads before it needs a tokenizer: sentences, labels, further tasks."""

    train: list[Sentence]  # empty for a prepared folder (streamed from its shards)
    dev: list[Sentence] | None
    labels: list[str]
    tasks: list[tasks_lib.AuxTask]
    manifest: dict | None
    holdout: float | None = None  # dev given as a fraction: the recipe holds out that much of train


def holdout_fraction(dev: object) -> float | None:
    """``dev`` as a fraction of train to hold out (a number, as Keras' ``validation_split``), else None."""
    if isinstance(dev, bool):
        raise ConfigError(f"dev must be data (a file, a folder or sentences) or a fraction of train, got {dev!r}")
    if not isinstance(dev, int | float):
        return None
    if not 0 < dev < 1:
        raise ConfigError(f"dev as a number is the fraction of train held out to score: between 0 and 1, got {dev!r}")
    return float(dev)


def read_corpus(cfg: TaggerConfig, train: DataLike, dev: DataLike | float | None) -> Corpus:
    """Train and dev data read and checked: the label list from train, dev's unseen types handled; ``dev`` a
    number is a fraction of train to hold out as dev (:func:`tfner.tagging.recipe.holdout`)."""
    manifest = prepared_manifest(train, cfg)  # a folder written by tfner.prepare: streamed, never held
    fraction = holdout_fraction(dev)
    if fraction is not None and manifest is not None:
        raise ConfigError("a prepared folder is streamed, so no slice of it can be held out: pass dev data")
    dev_data = None if isinstance(dev, int | float) else dev  # a number: the fraction checked above
    train_s = read(train, "train", cfg) if manifest is None else []
    tasks = tasks_lib.describe(train_s, cfg.task_names[1:], {n: cfg.task_weight(n) for n in cfg.task_names[1:]})
    dev_s = read(dev_data, "dev", cfg, {t.name: t.kind for t in tasks}) if dev_data is not None else None
    if not train_s and manifest is None:
        raise DataFormatError("train", None, "no sentences to train on")
    labels = label_list(t for s in train_s for t in s.tags) if manifest is None else list(manifest["labels"])
    if dev_s:
        dev_s = known_types_only(dev_s, labels, cfg.unseen_labels, "dev")
    return Corpus(train_s, dev_s or None, labels, tasks, manifest, fraction)


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The datasets of a fit and what they hold. ``steps``: optimizer updates per epoch;
    ``fingerprint``: a hash of every training window (ids and labels), the data's identity for resume;
    ``dev_fingerprint``: the same of the dev windows (None without dev): a resumed run keeps the dev it chose by."""

    train: Any  # tf.data.Dataset: one pass, shuffled
    dev: Any  # tf.data.Dataset or None
    dev_windows: list[alignment.Window]
    batches: int
    steps: int
    windows: int
    tokens: int
    labelled: int
    buckets: tuple[int, ...]
    fingerprint: str
    batch_sizes: tuple[int, ...]  # one per bucket (:func:`batch_sizes`)
    dev_fingerprint: str | None = None


def windows_of(cfg: TaggerConfig, tokenizer, corpus: Corpus, sentences: Sequence[Sentence]) -> list[alignment.Window]:
    """``sentences`` as windows, labelled for every task (one column per task with further tasks)."""
    context = cfg.chosen_context
    documents = [s.document for s in sentences] if context != "sentence" else None
    packed = context == "packed"
    words = [s.words for s in sentences]
    label_to_id = {t: i for i, t in enumerate(corpus.labels)}
    main = cfg.windowing.encode(tokenizer, words, [s.tags for s in sentences], label_to_id, documents, packed)
    if not corpus.tasks:
        return main
    with warnings.catch_warnings():  # the same windows again: the main task's encoding has warned
        warnings.simplefilter("ignore")
        others = [cfg.windowing.encode(tokenizer, words, [s.aux_tags(t.name) for s in sentences],
                                       tasks_lib.label_ids(t), documents, packed) for t in corpus.tasks]
    return alignment.with_task_labels(main, *others)


def alone(sentences: Sequence[Sentence], cfg: TaggerConfig) -> Sequence[Sentence]:
    """Training sentences under packed context with a seeded ``sentences_alone`` fraction made documents of their
    own (a new document id each), so their windows hold them alone; ``sentences`` as they are otherwise.

    The chosen sentences move to the end, so each document's other sentences stay one run of neighbours (packing
    joins consecutive sentences of a document: left in place, every chosen sentence would cut its document in two,
    and a quarter chosen would leave runs of about three sentences, windows mostly short and context lost)."""
    fraction = cfg.chosen_sentences_alone
    if cfg.chosen_context != "packed" or fraction <= 0 or not sentences:
        return sentences
    chosen = set(random.Random(cfg.seed).sample(range(len(sentences)), round(fraction * len(sentences))))
    base = max(s.document for s in sentences) + 1
    return ([s for i, s in enumerate(sentences) if i not in chosen]
            + [dataclasses.replace(s, document=base + i) for i, s in enumerate(sentences) if i in chosen])


def bucket_boundaries(cfg: TaggerConfig) -> tuple[int, ...]:
    """The window-length buckets of ``cfg``'s training batches: ``length_buckets``, or the default for its context."""
    if cfg.length_buckets is not None:
        return tuple(cfg.length_buckets)
    return pipeline.default_buckets(cfg.chosen_max_length, packed=cfg.chosen_context == "packed")


def batch_sizes(cfg: TaggerConfig, buckets: Sequence[int]) -> tuple[int, ...]:
    """Batch size per bucket: ``batch_size`` windows for every bucket, but under packed context as many positions
    as ``batch_size`` full windows (:func:`tfner.data.pipeline.token_batch_sizes`)."""
    if cfg.chosen_context == "packed":
        return pipeline.token_batch_sizes(cfg.chosen_batch_size, buckets, cfg.chosen_max_length)
    return pipeline.bucket_sizes(cfg.chosen_batch_size, buckets)


def build_inputs(cfg: TaggerConfig, corpus: Corpus, tokenizer, train: DataLike) -> Inputs:
    """Windows and tf.data datasets of ``corpus`` (a prepared ``train`` folder streamed from its shards)."""
    buckets = bucket_boundaries(cfg)
    sizes = batch_sizes(cfg, buckets)
    data = dict(batch_size=sizes, boundaries=buckets, pad_id=tokenizer.pad_token_id, seed=cfg.seed)
    if corpus.manifest is None:
        train_w = windows_of(cfg, tokenizer, corpus, alone(corpus.train, cfg))
        train_ds = pipeline.make_dataset(train_w, shuffle=True, **data)
        batches = pipeline.steps_per_epoch(train_w, sizes, buckets)
        windows, tokens = len(train_w), int(sum(w.length for w in train_w))
        labelled = int(sum((alignment.main_labels(w) != alignment.IGNORE).sum() for w in train_w))
        fingerprint = window_fingerprint(train_w)
    else:
        manifest = corpus.manifest
        train_ds = prepared.stream_dataset(train, manifest, **data)  # type: ignore[arg-type]
        batches = prepared.steps_per_epoch(manifest, sizes, buckets)
        windows, tokens, labelled = manifest["windows"], manifest["tokens"], manifest["labelled"]
        fingerprint = hashlib.sha256(repr(sorted(manifest.items())).encode("utf-8")).hexdigest()
    if cfg.accumulate_steps > 1:
        train_ds = accumulate.group_batches(train_ds, cfg.accumulate_steps, tokenizer.pad_token_id)
    dev_w = windows_of(cfg, tokenizer, corpus, corpus.dev) if corpus.dev else []
    dev_ds = pipeline.make_dataset(dev_w, shuffle=False, **data) if corpus.dev else None
    return Inputs(train_ds, dev_ds, dev_w, batches, accumulate.updates_per_epoch(batches, cfg.accumulate_steps),
                  windows, tokens, labelled, buckets, fingerprint, sizes,
                  window_fingerprint(dev_w) if corpus.dev else None)


def window_fingerprint(windows: Sequence[alignment.Window]) -> str:
    """A hash of the windows' sub-word ids and labels, in order."""
    digest = hashlib.sha256()
    for w in windows:
        digest.update(np.asarray(w.input_ids, np.int64).tobytes() + b"|" + np.asarray(w.labels, np.int64).tobytes()
                      + b";")
    return digest.hexdigest()
