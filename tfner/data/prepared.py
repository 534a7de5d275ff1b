"""Corpora larger than memory: tokenize and align once into TFRecord shards, then stream them.

:func:`prepare` reads the training files one at a time, turns them into windows
(:func:`tfner.data.alignment.encode`) and writes them to ``out_dir/shard-NNNNN.tfrecord``
(``rows_per_shard`` windows each), with ``manifest.json``: the label list, the windowing
options, the tokenizer (saved in ``out_dir/tokenizer``), counts (sentences, words, windows,
real and labelled tokens) and a histogram of window lengths, from which
:func:`steps_per_epoch` counts the batches of a pass exactly, as for in-memory windows.
The label list comes from a first pass that reads only the tags; a file is held in memory
while it is processed, never the corpus.

:func:`stream_dataset` reads the shards in a seeded random order, interleaved, through a
shuffle buffer, bucketed by length and padded per batch: the same batches' shape as
:func:`tfner.data.pipeline.make_dataset`, with memory bounded by the buffer, not the corpus.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfner.data import alignment, pipeline
from tfner.data.alignment import IGNORE
from tfner.data.schemes import label_list
from tfner.errors import ConfigError, DataFormatError

MANIFEST = "manifest.json"
TOKENIZER = "tokenizer"
FORMAT = 1
#: The options a prepared folder was made with; fit must use the same.
WINDOWING = ("max_length", "window_overlap", "label_all_subtokens")


def is_prepared(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and (Path(path) / MANIFEST).is_file()


def read_manifest(path: str | os.PathLike) -> dict:
    file = Path(path) / MANIFEST
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataFormatError(str(file), None, f"not a readable tfner manifest ({err})") from None
    if manifest.get("format") != FORMAT:
        raise DataFormatError(str(file), None, f"manifest format {manifest.get('format')!r}, expected {FORMAT}")
    return manifest


def prepare(sources: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, tokenizer, read,
            windowing: alignment.Windowing, encoder: str, rows_per_shard: int = 10_000) -> Path:
    """Write ``sources`` (files ``read(path)`` turns into IOB2 sentences) as TFRecord shards in ``out_dir``."""
    import tensorflow as tf

    # a generator (Path.glob) is read twice below: the first pass would leave the second nothing
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not sources:
        raise DataFormatError("sources", None, "no files to prepare")
    if rows_per_shard < 1:
        raise ConfigError(f"rows_per_shard must be >= 1, got {rows_per_shard}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; prepare writes into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    labels = label_list({t for p in sources for s in read(p) for t in s.tags})  # first pass: only the tags kept
    label_to_id = {t: i for i, t in enumerate(labels)}
    lengths: Counter[int] = Counter()
    counts: Counter[str] = Counter()
    shards: list[dict] = []
    writer = None

    def new_shard():
        name = f"shard-{len(shards):05d}.tfrecord"
        shards.append({"file": name, "windows": 0})
        return tf.io.TFRecordWriter(str(out / name))

    for path in sources:
        sentences = read(path)
        windows = windowing.encode(tokenizer, [s.words for s in sentences], [s.tags for s in sentences], label_to_id)
        counts.update(sentences=len(sentences), words=sum(len(s.words) for s in sentences), windows=len(windows))
        for w in windows:
            if writer is None or shards[-1]["windows"] >= rows_per_shard:
                if writer is not None:
                    writer.close()
                writer = new_shard()
            example = tf.train.Example(features=tf.train.Features(feature={
                "input_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=w.input_ids.tolist())),
                "labels": tf.train.Feature(int64_list=tf.train.Int64List(value=w.labels.tolist())),
            }))
            writer.write(example.SerializeToString())
            shards[-1]["windows"] += 1
            lengths[w.length] += 1
            counts.update(tokens=w.length, labelled=int((w.labels != IGNORE).sum()))
    if writer is not None:
        writer.close()
    tokenizer.save_pretrained(out / TOKENIZER)
    manifest = {"format": FORMAT, "encoder": encoder, "labels": labels, **windowing.to_dict(),
                "sources": [os.fspath(p) for p in sources], "shards": shards,
                "lengths": {str(k): v for k, v in sorted(lengths.items())}, **dict(counts)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


def check_windowing(manifest: dict, windowing: alignment.Windowing, folder: str) -> None:
    """``ConfigError`` naming each windowing option ``fit`` uses differently from ``prepare``."""
    options = windowing.to_dict()
    different = [f"{k}={options[k]!r} (prepared with {manifest[k]!r})" for k in WINDOWING if manifest[k] != options[k]]
    if different:
        raise ConfigError(f"{folder} was prepared with other windowing options: {', '.join(different)}; "
                          "prepare it again or fit with the same options")


def steps_per_epoch(manifest: dict, batch_size: int | Sequence[int], boundaries: Sequence[int]) -> int:
    """Batches per pass, exactly (each bucket flushes its rest), from the length histogram."""
    return pipeline.steps_for_lengths({int(k): v for k, v in manifest["lengths"].items()}, batch_size, boundaries)


def stream_dataset(folder: str | os.PathLike, manifest: dict, *, batch_size: int | Sequence[int], boundaries: Sequence[int],
                   pad_id: int, seed: int, shuffle_buffer: int = 10_000):
    """``({"input_ids", "attention_mask"}, labels)`` batches of one pass over the shards, shuffled."""
    import tensorflow as tf

    files = [str(Path(folder) / s["file"]) for s in manifest["shards"]]
    spec = {"input_ids": tf.io.VarLenFeature(tf.int64), "labels": tf.io.VarLenFeature(tf.int64)}

    def parse(record):
        row = tf.io.parse_single_example(record, spec)
        ids = tf.cast(tf.sparse.to_dense(row["input_ids"]), tf.int32)
        return {"input_ids": ids, "attention_mask": tf.ones_like(ids)}, tf.cast(tf.sparse.to_dense(row["labels"]),
                                                                               tf.int32)

    ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)), block_length=16,
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return pipeline.batched(ds, batch_size=batch_size, boundaries=boundaries, pad_id=pad_id)
