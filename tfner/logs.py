"""What a default run prints: tfner's own lines, not the libraries' start-up noise.

tfner's console: what is loaded, the precision chosen, data counts, a progress bar per epoch
(loss, then real tokens/s) and one line per epoch with dev F1 per type. The libraries are
quieted with their own switches where they have one, each only while tfner works:

* TensorFlow's C++ log level: ``TF_CPP_MIN_LOG_LEVEL=2`` (errors only) is set when tfner is
  imported, unless the variable is already set (it must be, before TensorFlow loads);
* TensorFlow's Python logger and ``transformers.logging`` (the "weights not used / newly
  initialized" lists, the TensorFlow deprecation notice): ERROR during ``fit`` and ``load``
  (:func:`quiet_libraries`; their settings come back after).

The lines TensorFlow 2.19+ prints while its shared libraries load ignore ``TF_CPP_MIN_LOG_LEVEL``
(tensorflow/tensorflow#100442), and so does the cuInit error when its devices are first
listed on a machine without GPU. For those, :func:`import_tensorflow` (how tfner's entry points
load TensorFlow: ``tfner.fit``, ``load``, ``Tagger``, ``prepare``, ``pretrain``, ``search``,
the command line and the demo) sends file descriptor 2 to a temporary file meanwhile, then
writes back every line that is not one of :data:`KNOWN_START_UP_LINES`, in order: an error or
a warning tfner does not know still reaches the user. A process that imported TensorFlow (or a
module of tfner that needs it, such as ``tfner.tagger``) before shows what TensorFlow printed.

``verbose=2`` (``fit``, ``load``), the command line's ``--debug`` or the environment variable
``TFNER_LIBRARY_LOGS=1`` shows the libraries' logs; the last two also the start-up lines (the
variable must be set before tfner is imported for the C++ log level).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import IO

ENV = "TFNER_LIBRARY_LOGS"

#: The C++ log level tfner sets: errors only (INFO and WARNING lines hidden).
CPP_LOG_LEVEL = "2"

#: What TensorFlow prints before its log level applies, as ``(source file, start of the
#: message)``; ``None`` for absl's notice, which names no file. The first three come twice (two
#: shared libraries load), the cuInit error once on a machine without GPU. Nothing else is hidden.
KNOWN_START_UP_LINES: tuple[tuple[str | None, str], ...] = (
    (None, "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"),
    ("port.cc", "oneDNN custom operations are on."),
    ("cudart_stub.cc", "Could not find cuda drivers on your machine, GPU will not be used."),
    ("cuda_platform.cc", "failed call to cuInit:"),
)

# absl's prefix: severity and date (MMDD), time (before absl is set up: 00:00:<Unix seconds>),
# thread, file:line]
_ABSL_LINE = re.compile(r"[IWEF]\d{4} [\d:.]+ +\d+ (?P<file>[^\s:]+):\d+\] (?P<message>.*)")


def wanted(verbose: int) -> bool:
    """Whether the libraries' own logs should show."""
    return verbose >= 2 or os.environ.get(ENV, "") not in ("", "0")


def set_cpp_log_level() -> None:
    """Before TensorFlow loads: its C++ logs at errors only, unless asked for or set by the user."""
    if not wanted(0):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", CPP_LOG_LEVEL)


def show_library_logs() -> None:
    """Everything the libraries print, from now on in this process (the command line's ``--debug``).

    Takes back tfner's C++ log level too if TensorFlow has not loaded yet.
    """
    os.environ[ENV] = "1"
    if "tensorflow" not in sys.modules and os.environ.get("TF_CPP_MIN_LOG_LEVEL") == CPP_LOG_LEVEL:
        del os.environ["TF_CPP_MIN_LOG_LEVEL"]


def is_known_start_up_line(line: str) -> bool:
    """Whether ``line`` is one of :data:`KNOWN_START_UP_LINES` (matched by source file and message)."""
    line = line.rstrip("\r\n")
    match = _ABSL_LINE.fullmatch(line)
    source, message = (match["file"].rsplit("/", 1)[-1], match["message"]) if match else (None, line)
    return any(source == file and message.startswith(start) for file, start in KNOWN_START_UP_LINES)


@contextlib.contextmanager
def start_up_lines_hidden() -> Iterator[None]:
    """File descriptor 2 into a temporary file inside; after, also when the body raises, every
    line of it but the known start-up lines written back to file descriptor 2, in order.

    Catches what C++ code writes as well as Python's ``sys.stderr`` when that is descriptor 2
    (flushed on the way in and out). Does nothing when the libraries' logs are wanted.
    """
    opened = None if wanted(0) else _open_capture()
    if opened is None:
        yield
        return
    buffer, saved = opened
    _flush_stderr()
    with buffer:
        try:
            os.dup2(buffer.fileno(), 2)
            yield
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            buffer.seek(0)
            kept = b"".join(line for line in buffer
                            if not is_known_start_up_line(line.decode("utf-8", "replace")))
            _write_all(2, kept)


_ONE_AT_A_TIME = threading.Lock()  # two threads redirecting descriptor 2 at once could leave it redirected


@functools.cache
def import_tensorflow() -> ModuleType:
    """TensorFlow, imported and its devices listed with the known start-up lines hidden.

    tfner's entry points call it before anything that imports TensorFlow; once a process has
    TensorFlow, it only returns the module.
    """
    with _ONE_AT_A_TIME, start_up_lines_hidden():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the first listing tries cuInit (its error on a machine without GPU)
    return tf


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


def _open_capture() -> tuple[IO[bytes], int] | None:
    """A temporary file and a copy of descriptor 2; None without either (then nothing is hidden)."""
    try:
        buffer = tempfile.TemporaryFile()
    except OSError:
        return None
    try:
        return buffer, os.dup(2)
    except OSError:
        buffer.close()
        return None


def _flush_stderr() -> None:
    for stream in (sys.stderr, sys.__stderr__):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()


def _write_all(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):  # descriptor 2 closed or broken: nowhere left to write
        while data:
            data = data[os.write(fd, data):]
