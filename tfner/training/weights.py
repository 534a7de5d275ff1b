"""A model's weights by name: captured and put back by variable identity, never by position.

``model.get_weights()`` lists the trainable weights before the non-trainable ones, so freezing
or unfreezing a layer between a capture and ``set_weights`` puts every value in the wrong
variable (or fails on a shape). Here each value is keyed by its variable's name inside the
model (the model's own name scope dropped: a second model built in the same process is called
``..._1``), so the values go back where they came from whatever the layers' trainability.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf


def weight_name(model: tf.keras.Model, variable: tf.Variable) -> str:
    """``variable``'s name without the model's scope: ``bert/embeddings/word_embeddings/weight:0``."""
    prefix = f"{model.name}/"
    return variable.name[len(prefix):] if variable.name.startswith(prefix) else variable.name


def named_variables(model: tf.keras.Model) -> dict[str, tf.Variable]:
    """Every weight of ``model`` (trainable or not) by :func:`weight_name`; names must be unique."""
    out: dict[str, tf.Variable] = {}
    for variable in model.weights:
        name = weight_name(model, variable)
        if name in out:
            raise ValueError(f"two weights of {model.name} are called {name!r}: they cannot be told apart by name")
        out[name] = variable
    return out


def weight_values(model: tf.keras.Model) -> dict[str, np.ndarray]:
    """A copy of every weight's value, by name."""
    variables = named_variables(model)
    return dict(zip(variables, tf.keras.backend.batch_get_value(list(variables.values())), strict=True))


def assign_weights(model: tf.keras.Model, values: Mapping[str, np.ndarray]) -> None:
    """Put ``values`` (from :func:`weight_values`) back into ``model``'s weights of the same names.

    Raises ``ValueError`` naming the weights if the names or shapes differ: nothing is assigned then.
    """
    variables = named_variables(model)
    missing, extra = sorted(variables.keys() - values.keys()), sorted(values.keys() - variables.keys())
    if missing or extra:
        raise ValueError(f"the saved weights do not match {model.name}: missing {missing[:5]}, unknown {extra[:5]}")
    wrong = [f"{name} {tuple(values[name].shape)} for {tuple(v.shape)}" for name, v in variables.items()
             if tuple(np.shape(values[name])) != tuple(v.shape)]
    if wrong:
        raise ValueError(f"the saved weights do not fit {model.name}'s shapes: {wrong[:5]}")
    tf.keras.backend.batch_set_value([(v, values[name]) for name, v in variables.items()])
