"""tfner: fine-tune BERT for named-entity recognition with TensorFlow/Keras, serve it with TF Serving.

Typical use (see README.md)::

    import tfner
    tagger = tfner.fit("train.conll", "dev.conll", epochs=3)
    tagger.predict(["Alice flew to Paris."])
    # [[Span(start=0, end=5, label='PER', ...), Span(start=14, end=19, label='LOC', ...)]]
    tagger.export("saved_models/my-ner")
"""

import os as _os

# The one import-time side effect, and a necessary one: transformers' TF models are
# tf-keras (Keras 2) models, and `tf.keras` resolves to tf-keras only if this variable is
# "1" when `tf.keras` is first touched (TensorFlow reads it lazily, so importing
# TensorFlow itself earlier is fine). tfner cannot work with Keras 3, hence no opt-out.
_os.environ["TF_USE_LEGACY_KERAS"] = "1"

from tfner import logs as _logs  # noqa: E402

_logs.set_cpp_log_level()  # TensorFlow's C++ logs: errors only, unless asked for (tfner.logs)

from typing import TYPE_CHECKING  # noqa: E402

# Light modules (no TensorFlow) are imported at once; the estimator, which needs
# TensorFlow and transformers, is imported on first use of `fit`, `load` or `Tagger`,
# so reading data, scoring and span handling work without paying for TensorFlow. TensorFlow
# itself is loaded first, through `tfner.logs.import_tensorflow` (its start-up lines hidden).
from tfner.config import TaggerConfig  # noqa: E402
from tfner.data.jsonl import read_jsonl, write_spans  # noqa: E402
from tfner.data.readers import Sentence, read_conll  # noqa: E402
from tfner.data.spans import Span  # noqa: E402
from tfner.errors import (  # noqa: E402
    ConfigError,
    DataFormatError,
    DataNotFoundError,
    EncoderError,
    ExportError,
    MissingDependencyError,
    ModelNotFoundError,
    NotFittedError,
    ServerUnavailableError,
    ServingError,
    SignatureNotFoundError,
    TfnerError,
)
from tfner.metrics import Evaluation, TagEvaluation  # noqa: E402
from tfner.render import render  # noqa: E402

if TYPE_CHECKING:
    from tfner.pretraining import pretrain
    from tfner.tagger import Tagger, fit, load, prepare
    from tfner.tuning import search

__version__ = "0.1.0"

__all__ = [
    "ConfigError", "DataFormatError", "DataNotFoundError", "EncoderError", "Evaluation", "ExportError", "MissingDependencyError", "TagEvaluation",
    "ModelNotFoundError",
    "NotFittedError", "Sentence", "ServerUnavailableError", "ServingError", "SignatureNotFoundError", "Span",
    "Tagger", "TaggerConfig", "TfnerError", "fit", "load", "prepare", "pretrain", "read_conll", "read_jsonl", "render", "search",
    "write_spans",
]

_FROM_TAGGER = ("Tagger", "fit", "load", "prepare")


def __getattr__(name: str):
    if name in ("pretrain", "search", *_FROM_TAGGER):
        _logs.import_tensorflow()
    if name == "pretrain":
        from tfner.pretraining import pretrain

        globals()[name] = pretrain
        return pretrain
    if name == "search":  # the function; its module is tfner.tuning (a module named search would shadow it)
        from tfner.tuning import search

        globals()[name] = search
        return search
    if name in _FROM_TAGGER:
        from tfner import tagger

        value = getattr(tagger, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfner' has no attribute {name!r}")
