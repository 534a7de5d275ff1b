"""What a default run prints: tfner's own lines, not the libraries' start-up noise.

tfner's console: what is loaded, the precision chosen, data counts, a progress bar per epoch
(loss, then real tokens/s) and one line per epoch with dev F1 per type. The libraries are
quieted with their own switches, each only while tfner works (their settings come back after):

* TensorFlow's C++ log level: ``TF_CPP_MIN_LOG_LEVEL=3`` is set when tfner is imported, unless
  the variable is already set (it must be, before TensorFlow loads; the cuInit error of a
  machine without GPU, runtime notices);
* TensorFlow's Python logger and ``transformers.logging`` (the "weights not used / newly
  initialized" lists, the TensorFlow deprecation notice): ERROR during ``fit`` and ``load``.

``verbose=2`` or the environment variable ``TFNER_LIBRARY_LOGS=1`` shows everything (the
variable must be set before tfner is imported for the C++ logs).

Not removable by any switch: the lines TensorFlow 2.19+ prints while its shared libraries
load — absl's "All log messages before absl::InitializeLog() is called are written to
STDERR", oneDNN's notice and "Could not find cuda drivers" — which ignore
``TF_CPP_MIN_LOG_LEVEL`` (tensorflow/tensorflow#100442, open). tfner does not filter output.
"""

from __future__ import annotations

import contextlib
import logging
import os

ENV = "TFNER_LIBRARY_LOGS"


def wanted(verbose: int) -> bool:
    """Whether the libraries' own logs should show."""
    return verbose >= 2 or os.environ.get(ENV, "") not in ("", "0")


def set_cpp_log_level() -> None:
    """Before TensorFlow loads: quiet its C++ logs, unless asked for or set by the user."""
    if not wanted(0):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def quiet_libraries(verbose: int):
    """TensorFlow's Python logger and transformers' logging at ERROR inside, as before after."""
    if wanted(verbose):
        yield
        return
    import transformers

    tf_logger = logging.getLogger("tensorflow")
    before = transformers.logging.get_verbosity(), tf_logger.level
    transformers.logging.set_verbosity_error()
    tf_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        transformers.logging.set_verbosity(before[0])
        tf_logger.setLevel(before[1])
