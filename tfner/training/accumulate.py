"""Gradient accumulation: one optimizer update from ``k`` micro-batches (``accumulate_steps=k``).

For a GPU too small for the batch you want: each update sees ``k`` batches of
``batch_size`` windows, with only one micro-batch's activations alive at a time, and is the
update one batch of all their rows would give. Both heads' losses are a sum over labelled
positions divided by their count (:func:`tfner.modeling.loss.global_label_count`), so
averaging the ``k`` micro-batch losses would weigh a micro-batch of few labelled tokens as
much as a full one. Here the count ``C`` is taken once over the whole group (all
micro-batches, all replicas), micro-batch ``i`` contributes ``local_sum_i / C``, and the
gradients are *summed*: exactly the gradient of the union's loss. Global-norm clipping, the
loss-scale check (``mixed_float16``) and AdamW then see that gradient once; the learning
-rate schedule counts updates, not micro-batches.

The input: :func:`group_batches` stacks ``k`` consecutive batches of one pass on axis 1
(``[rows, k, tokens]``, padding with rows whose labels are all ``IGNORE``), so one dataset
element is one update and a distribution strategy splits its rows across replicas as it
splits a batch's. The last group of a pass may hold fewer micro-batches.
"""

from __future__ import annotations

import tensorflow as tf

from tfner.data.alignment import IGNORE
from tfner.modeling.loss import global_label_count


def group_batches(ds: tf.data.Dataset, k: int, pad_id: int) -> tf.data.Dataset:
    """``k`` consecutive ``(x, labels)`` batches of ``ds`` as one element, micro-batches on axis 1."""
    grouped = ds.padded_batch(k, padding_values=({"input_ids": pad_id, "attention_mask": 0}, IGNORE))

    def swap(v):
        # through float32, exact for ids and labels below 2**24: oneDNN has no integer Transpose
        # on CPUs without AVX-512, and TensorFlow prints a fallback notice for it on every fit
        return tf.cast(tf.transpose(tf.cast(v, tf.float32), [1, 0, 2]), v.dtype)

    def rows_first(x, y):
        return {name: swap(v) for name, v in x.items()}, swap(y)

    return grouped.map(rows_first, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def updates_per_epoch(batches: int, k: int) -> int:
    return -(-batches // k)


def install(model: tf.keras.Model, loss) -> None:
    """Make ``model.fit`` take :func:`group_batches` input: one update per group.

    ``loss`` has ``local_sum(y_true, logits)`` (``MaskedTokenLoss``, ``CrfLoss``). Call inside
    the strategy scope, after ``model.compile``. Keras shows the true global loss (the mean
    over the epoch of each update's loss); validation is untouched.
    """
    tracker = tf.keras.metrics.Mean(name="loss")

    def train_step(data):
        x, y = data
        y = tf.cast(y, tf.int32)
        count = global_label_count(y)
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        optimizer = model.optimizer
        scaled = isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
        variables = model.trainable_variables

        def micro_step(i, total, grads):
            xi = {name: v[:, i] for name, v in x.items()}
            with tf.GradientTape() as tape:
                part = loss.local_sum(y[:, i], model(xi, training=True).logits) / count
                target = optimizer.get_scaled_loss(part) if scaled else part
            g = tape.gradient(target, variables)
            if scaled:
                g = optimizer.get_unscaled_gradients(g)
            g = [tf.zeros(v.shape, v.dtype) if gi is None else tf.convert_to_tensor(gi) for v, gi in zip(variables, g, strict=True)]
            return i + 1, total + part, [a + b for a, b in zip(grads, g, strict=True)]

        _, total, grads = tf.while_loop(
            lambda i, *_: i < tf.shape(y)[1], micro_step,
            (tf.constant(0), tf.constant(0.0), [tf.zeros(v.shape, v.dtype) for v in variables]))
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        # Each replica holds its share of the global loss; Mean's state is summed over replicas,
        # so R * share with weight 1 per replica averages to the global loss.
        tracker.update_state(total * replicas)
        return {"loss": tracker.result()}

    model.train_step = train_step
    model.accumulated_loss = tracker  # tracked among model.metrics: Keras resets it every epoch
