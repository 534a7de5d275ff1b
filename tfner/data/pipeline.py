"""Windows -> tf.data: ragged tensors, shuffled, bucketed by length, padded per batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfner.data.alignment import IGNORE, Window


def default_buckets(max_length: int, packed: bool = False) -> tuple[int, ...]:
    """Powers of two from 16 below ``max_length``: (16, 32, 64) for 128. ``packed`` windows are
    nearly all full but for each document's last: steps of ``max_length // 8`` (at least 8), so a
    last window is padded by less than a step: (16, 32, ..., 112) for 128."""
    if packed:
        step = max(8, max_length // 8)
        return tuple(range(step, max_length, step))
    out, b = [], 16
    while b < max_length:
        out.append(b)
        b *= 2
    return tuple(out)


def token_batch_sizes(batch_size: int, boundaries: Sequence[int], max_length: int) -> tuple[int, ...]:
    """Batch sizes per bucket that hold about as many positions as ``batch_size`` full windows: a bucket whose
    windows are at most ``upper`` long gets ``max(batch_size, batch_size * max_length // upper)`` (packed context:
    its full windows keep ``batch_size``, the short ones, a document's last window or a sentence alone, come in
    larger batches rather than as many near-empty steps).

    >>> token_batch_sizes(3, (32, 64, 96, 128, 160, 192, 224), 256)
    (24, 12, 8, 6, 4, 4, 3, 3)
    """
    uppers = [*boundaries, max_length]
    return tuple(max(batch_size, batch_size * max_length // upper) for upper in uppers)


def bucket_sizes(batch_size: int | Sequence[int], boundaries: Sequence[int]) -> tuple[int, ...]:
    """One batch size per bucket (``len(boundaries) + 1``): ``batch_size`` for all, or as given per bucket."""
    if isinstance(batch_size, int):
        return (batch_size,) * (len(boundaries) + 1)
    sizes = tuple(int(b) for b in batch_size)
    if len(sizes) != len(boundaries) + 1 or min(sizes) < 1:
        raise ValueError(f"{len(boundaries) + 1} positive batch sizes needed, one per bucket, got {sizes}")
    return sizes


def _bucket_of(lengths: np.ndarray, boundaries: Sequence[int]) -> np.ndarray:
    # tf.data's bucket_by_sequence_length puts length L in bucket i when boundaries[i-1] <= L < boundaries[i].
    return np.searchsorted(np.asarray(boundaries), lengths, side="right")


def steps_per_epoch(windows: Sequence[Window], batch_size: int | Sequence[int], boundaries: Sequence[int]) -> int:
    """Exactly how many batches :func:`make_dataset` yields per epoch (each bucket flushes its rest)."""
    lengths, counts = np.unique(np.array([w.length for w in windows], np.int64), return_counts=True)
    return steps_for_lengths(dict(zip(lengths.tolist(), counts.tolist(), strict=True)), batch_size, boundaries)


def steps_for_lengths(lengths: Mapping[int, int], batch_size: int | Sequence[int], boundaries: Sequence[int]) -> int:
    """Batches of one pass of :func:`batched` over windows with these lengths (length -> how many); ``batch_size``
    one for all buckets or one per bucket (:func:`bucket_sizes`)."""
    sizes = bucket_sizes(batch_size, boundaries)
    per_bucket: dict[int, int] = {}
    for length, n in lengths.items():
        bucket = int(_bucket_of(np.array([int(length)]), boundaries)[0])
        per_bucket[bucket] = per_bucket.get(bucket, 0) + n
    return int(sum(-(-n // sizes[bucket]) for bucket, n in per_bucket.items() if n))


def batched(ds: tf.data.Dataset, *, batch_size: int | Sequence[int], boundaries: Sequence[int], pad_id: int) -> tf.data.Dataset:
    """``(x, labels)`` windows -> batches of similar lengths, each padded to its longest, prefetched; ``batch_size``
    one for all buckets or one per bucket (:func:`bucket_sizes`).

    Padding is ``pad_id`` for ids, 0 for the mask and ``IGNORE`` for labels, so padded
    positions never count in the loss or the metrics; each bucket flushes its rest at the
    end of a pass. Auto-sharding by data, for strategies that shard.
    """
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda x, y: tf.shape(y)[0],
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=list(bucket_sizes(batch_size, boundaries)),
        padding_values=({"input_ids": pad_id, "attention_mask": 0}, IGNORE),
        pad_to_bucket_boundary=False,
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def make_dataset(
    windows: Sequence[Window],
    *,
    batch_size: int | Sequence[int],
    boundaries: Sequence[int],
    pad_id: int,
    shuffle: bool,
    seed: int,
) -> tf.data.Dataset:
    """``({"input_ids", "attention_mask"}, labels)`` batches, each padded to its longest window.

    Padding is ``pad_id`` for ids, 0 for the mask and ``IGNORE`` for labels, so padded
    positions never count in the loss or the metrics.
    """
    lengths = np.array([w.length for w in windows], np.int64)

    def ragged(key: str) -> tf.RaggedTensor:
        flat = np.concatenate([getattr(w, key) for w in windows]).astype(np.int32)
        return tf.RaggedTensor.from_row_lengths(flat, lengths)

    ds = tf.data.Dataset.from_tensor_slices((ragged("input_ids"), ragged("labels")))
    ds = ds.map(
        lambda ids, labels: ({"input_ids": ids, "attention_mask": tf.ones_like(ids)}, labels),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(windows), seed=seed, reshuffle_each_iteration=True)
    return batched(ds, batch_size=batch_size, boundaries=boundaries, pad_id=pad_id)


def replica_pieces(ds: tf.data.Dataset, context: tf.distribute.InputContext) -> tf.data.Dataset:
    """This input pipeline's share of each global batch of ``ds``, one piece per local replica.

    Every worker builds the same stream of global batches (same windows, same seed) and
    keeps, of each, the rows of its own replicas: replica ``r`` of ``R`` gets rows
    ``[r * k, (r + 1) * k)`` (clipped), ``k = ceil(rows / R)``. So every worker runs the same
    number of steps whatever the bucket sizes (tf.data's auto-sharding would not promise
    that), a step covers exactly one global batch, and a replica may get an empty piece,
    which the loss allows. For :meth:`tf.distribute.Strategy.distribute_datasets_from_function`.
    """
    replicas = context.num_replicas_in_sync
    local = replicas // context.num_input_pipelines
    first = context.input_pipeline_id * local

    def pieces(x, y):
        rows = tf.shape(y)[0]
        size = (rows + replicas - 1) // replicas

        def piece(k):
            start = tf.minimum((first + tf.cast(k, tf.int32)) * size, rows)
            end = tf.minimum(start + size, rows)
            return {name: value[start:end] for name, value in x.items()}, y[start:end]

        return tf.data.Dataset.range(local).map(piece)

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.flat_map(pieces).with_options(options).prefetch(tf.data.AUTOTUNE)


def pad_batch(windows: Sequence[Window], pad_id: int) -> dict[str, np.ndarray]:
    """Pad windows to the longest one: int32 ``input_ids`` and ``attention_mask``."""
    width = max(w.length for w in windows)
    ids = np.full((len(windows), width), pad_id, np.int32)
    mask = np.zeros((len(windows), width), np.int32)
    for i, w in enumerate(windows):
        ids[i, : w.length] = w.input_ids
        mask[i, : w.length] = 1
    return {"input_ids": ids, "attention_mask": mask}
