"""tfner's own error classes.

Every error raised for bad user input is a subclass of :class:`TfnerError` and of the
built-in class a Python user would catch (``ValueError``, ``TypeError``...), so both
``except tfner.TfnerError`` and ``except ValueError`` work.
"""

from __future__ import annotations


class TfnerError(Exception):
    """Base class of every error tfner raises on purpose."""


class ConfigError(TfnerError, ValueError):
    """An option is unknown, of the wrong type, or inconsistent with another option."""


class DataFormatError(TfnerError, ValueError):
    """Input data is malformed. The message names the source (file or list) and line/index.

    Attributes:
        source: the file path or a description such as ``"train[12]"``.
        line: 1-based line number in ``source`` where the problem is, or ``None``.
        message: what is wrong, without the place.
    """

    def __init__(self, source: str, line: int | None, message: str):
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class DataNotFoundError(TfnerError, FileNotFoundError):
    """A data file does not exist (also a ``FileNotFoundError``)."""

    def __init__(self, path: str):
        self.source = path
        super().__init__(f"{path}: no such file")


class NotFittedError(TfnerError, AttributeError):
    """``predict``/``evaluate``/``export`` was called on a tagger that has not been fitted."""


class EncoderError(TfnerError, ValueError):
    """The encoder (pre-trained model) could not be found or loaded."""


class MissingDependencyError(TfnerError, ImportError):
    """An optional dependency a feature needs is not installed (the message says what to install)."""


class ExportError(TfnerError, ValueError):
    """A SavedModel could not be written or read as a tfner export."""


class ServingError(TfnerError, RuntimeError):
    """A TF Serving server refused or failed a request (the message gives the server's words)."""


class ServerUnavailableError(ServingError, ConnectionError):
    """The server could not be reached or said it is unavailable, after the client's retries."""


class ModelNotFoundError(ServingError, LookupError):
    """The server does not serve the requested model name or version."""


class SignatureNotFoundError(ServingError, LookupError):
    """The served model has no signature of the requested name."""
