"""Stage 4, serving: what TF Serving loads and how clients talk to it.

``export`` writes versioned SavedModels (signatures, assets, atomic versions). A text
signature, the servability check, warm-up files and REST/gRPC clients belong here. This
layer may use ``data`` and ``modeling`` and imports nothing from ``training`` or ``tagger``.
"""
