"""Stage 4, serving: what TF Serving loads and how clients talk to it.

``export`` writes versioned SavedModels (signatures, assets, atomic versions);
``text_graph`` is the in-graph raw text -> entities path behind ``predict_text``, built on
``graph_pieces`` (words, offsets and WordPiece ids) and ``graph_windows`` (windows, owners and
the model on windows of like length);
``servability`` checks an export against each TF Serving release's op set (``opsets/``);
``server_files`` writes warm-up records, ``models.config`` and batching parameters;
``clients`` talks REST and gRPC to a server, ``outputs`` turns ``predict_text``'s dense
outputs into spans; ``versions`` lists, finds and prunes version folders. This layer may
use ``data`` and ``modeling`` and imports nothing from ``training`` or ``tagger``.
"""

from tfner.serving.servability import check_servable

__all__ = ["check_servable"]
