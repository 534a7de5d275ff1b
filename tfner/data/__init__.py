"""Stage 1, data: files and in-memory lists -> sentences -> aligned windows -> tf.data.

``readers`` (column files, in-memory pairs) -> ``schemes`` (tag schemes, spans from tags)
-> ``alignment`` (sub-word alignment and windows) -> ``pipeline`` (tf.data batches).
``words`` splits raw text with character offsets, ``spans`` holds the immutable ``Span``,
``datasets`` the shipped corpora. Only ``pipeline`` imports TensorFlow, so reading and
scoring work without it. This layer imports nothing from ``modeling``, ``training``,
``serving`` or ``tagger`` (enforced by import-linter, see pyproject.toml).
"""
