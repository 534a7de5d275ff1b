"""The named steps :class:`tfner.tagger.Tagger` composes; nothing else in tfner imports them.

* :mod:`~tfner.tagging.inputs` - data -> sentences -> label list -> windows -> tf.data;
* :mod:`~tfner.tagging.model_setup` - encoder, head, loss and optimizer (``init_from`` too);
* :mod:`~tfner.tagging.fit_run` - callbacks, resume, Keras' ``fit``, the run's result;
* :mod:`~tfner.tagging.state` - the learned state of a fitted or loaded tagger;
* :mod:`~tfner.tagging.prediction` - word lists and raw texts -> tags and spans;
* :mod:`~tfner.tagging.scoring` - scores and the one writer of scored predictions;
* :mod:`~tfner.tagging.saved_tagger` - the on-disk format of a saved tagger and an export's assets.

Inside, steps lower in this list's dependency order never import higher ones (import-linter's
contract in pyproject.toml): state < prediction < scoring; state < saved_tagger; inputs and
model_setup < fit_run.
"""
