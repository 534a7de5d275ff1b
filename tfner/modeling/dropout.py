"""Dropout masks that a checkpoint of the model can continue: each random layer draws from a
``tf.random.Generator`` the model keeps (see :func:`checkpointed_dropout`)."""

from __future__ import annotations

import tensorflow as tf


def checkpointed_dropout(model: tf.keras.Model, seed: int) -> int:
    """Draw ``model``'s dropout masks from random generators whose state a checkpoint of the model holds.

    tf-keras' ``Dropout`` draws by default from TensorFlow's stateful random ops, whose
    position lives in the kernels of the traced step, not in any variable; and the
    ``tf.random.Generator`` it can use instead (``enable_tf_random_generator``) is left out of
    checkpoints on purpose (``BaseRandomLayer._trackable_children``). Either way a run resumed
    from a backup (a new process, a new model) restarts every mask sequence from the seed and
    ends with other weights than an uninterrupted run.

    Here each random layer (``Dropout``, and any other tf-keras random layer, in the order
    ``model.submodules`` lists them) draws from its own ``tf.random.Generator``, split from one
    seeded with ``seed``, and the model keeps the generators as its attribute
    ``dropout_generators``: a checkpoint of the model (Keras' ``BackupAndRestore``,
    ``tf.train.Checkpoint(model=...)``) saves and restores where every mask sequence is. They
    are not among ``model.weights`` (``save_pretrained`` and ``restore_best`` leave them out).
    Call inside the strategy scope, once the model is built and before training. Returns how
    many layers draw so.
    """
    from tf_keras.src import backend  # RandomGenerator: tf-keras' switch between kinds of random ops

    layers = [m for m in model.submodules if isinstance(m, tf.keras.__internal__.layers.BaseRandomLayer)]
    generators = tf.random.Generator.from_seed(seed, alg="philox").split(len(layers)) if layers else []
    for layer, generator in zip(layers, generators, strict=True):
        rng = backend.RandomGenerator(rng_type=backend.RandomGenerator.RNG_STATEFUL)
        rng._generator, rng._built = generator, True  # this generator, not one from a guessed seed
        layer._random_generator = rng  # (not tracked by the layer: Keras keeps it out of checkpoints)
    model.dropout_generators = generators  # tracked by the model: in its checkpoints
    return len(layers)
