"""The files ``tensorflow_model_server`` reads besides the SavedModel, and its command lines.

* ``<version>/assets.extra/tf_serving_warmup_requests``: a TFRecord file of
  ``PredictionLog`` records (tensorflow-serving-api's protos), each a real ``PredictRequest``
  the server replays when it loads the version (``--enable_model_warmup``, on by default),
  so the first user request does not pay for graph initialisation.
* ``<base>/models.config``: a ``ModelServerConfig`` for ``--model_config_file``.
* ``<base>/batching_parameters.txt``: ``BatchingParameters`` for ``--enable_batching``.
  Server-side batching concatenates the tensors of several requests along the batch axis.
  That is safe for ``predict_text`` (one string per text). It is not for
  ``serving_default``: its ``[batch, seq]`` ids differ in ``seq`` from request to request, and
  ``pad_variable_length_inputs`` pads them with the tensor's *first element* (``[CLS]`` ids
  and attention-mask ones, so padded positions would be attended to). tfner therefore writes
  ``pad_variable_length_inputs: false``: batch ``predict_text`` traffic, or send
  ``serving_default`` requests padded to one fixed length (``max_length``).

The pip package tensorflow-serving-api has no Python module for ``BatchingParameters``, so
:func:`batching_parameters_message` builds that message type from its documented fields to
parse and check the file the way the server does (protobuf text format).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfner.errors import ConfigError, ExportError
from tfner.serving.versions import latest_version

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MODEL_CONFIG_FILE = "models.config"
BATCHING_FILE = "batching_parameters.txt"
#: TF Serving reads at most this many warm-up records.
MAX_WARMUP_RECORDS = 1000

Request = tuple[str, Mapping[str, np.ndarray]]  # (signature name, inputs)


def write_warmup(version_dir: str | os.PathLike, model_name: str, requests: Sequence[Request]) -> Path:
    """Write ``requests`` as ``PredictionLog`` records under ``assets.extra/``; return the file."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    if not 0 < len(requests) <= MAX_WARMUP_RECORDS:
        raise ValueError(f"between 1 and {MAX_WARMUP_RECORDS} warm-up requests, got {len(requests)}")
    path = Path(version_dir) / WARMUP_DIR / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in requests:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def read_warmup(path: str | os.PathLike) -> list:
    """The ``PredictionLog`` records of a warm-up file (as the server reads them)."""
    from tensorflow_serving.apis import prediction_log_pb2

    return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(str(path))]


def model_config_text(model_name: str, base_path: str | os.PathLike) -> str:
    """A ``ModelServerConfig`` (text format) serving the latest version under ``base_path``."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add()
    entry.name = model_name
    entry.base_path = str(Path(base_path).resolve())
    entry.model_platform = "tensorflow"
    entry.model_version_policy.latest.num_versions = 1
    return text_format.MessageToString(config)


def batching_parameters_message():
    """TF Serving's ``BatchingParameters`` message type (session_bundle_config.proto), built here.

    Field names, types and numbers as TF Serving documents them; the scalar options are
    ``google.protobuf`` wrapper messages (``max_batch_size { value: 64 }``).
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    proto = descriptor_pb2.FileDescriptorProto(name="tfner_batching_parameters.proto", package="tensorflow.serving",
                                               syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    message = proto.message_type.add(name="BatchingParameters")
    F = descriptor_pb2.FieldDescriptorProto
    for number, name, kind, type_name, label in [
        (1, "max_batch_size", F.TYPE_MESSAGE, ".google.protobuf.Int64Value", F.LABEL_OPTIONAL),
        (2, "batch_timeout_micros", F.TYPE_MESSAGE, ".google.protobuf.Int64Value", F.LABEL_OPTIONAL),
        (3, "max_enqueued_batches", F.TYPE_MESSAGE, ".google.protobuf.Int64Value", F.LABEL_OPTIONAL),
        (4, "num_batch_threads", F.TYPE_MESSAGE, ".google.protobuf.Int64Value", F.LABEL_OPTIONAL),
        (5, "thread_pool_name", F.TYPE_MESSAGE, ".google.protobuf.StringValue", F.LABEL_OPTIONAL),
        (6, "allowed_batch_sizes", F.TYPE_INT64, None, F.LABEL_REPEATED),
        (7, "pad_variable_length_inputs", F.TYPE_BOOL, None, F.LABEL_OPTIONAL),
    ]:
        field = message.field.add(name=name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


def batching_parameters_text(*, max_batch_size: int = 64, batch_timeout_micros: int = 2000,
                             num_batch_threads: int | None = None, max_enqueued_batches: int = 100) -> str:
    """``BatchingParameters`` for ``--batching_parameters_file`` (text format), checked by parsing."""
    from google.protobuf import text_format

    threads = num_batch_threads or os.cpu_count() or 1
    sizes = sorted({s for s in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if s < max_batch_size} | {max_batch_size})
    text = (
        "# Written by tfner. Batch predict_text traffic (one string per text). serving_default's\n"
        "# [batch, seq] ids differ in length between requests: padding them would attend to\n"
        "# garbage, so variable-length inputs are not padded (send fixed-length rows to batch them).\n"
        f"max_batch_size {{ value: {max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {batch_timeout_micros} }}\n"
        f"num_batch_threads {{ value: {threads} }}\n"
        f"max_enqueued_batches {{ value: {max_enqueued_batches} }}\n"
        + "".join(f"allowed_batch_sizes: {s}\n" for s in sizes)
        + "pad_variable_length_inputs: false\n"
    )
    text_format.Parse(text, batching_parameters_message()())
    return text


#: the characters a model name may hold (see :func:`check_model_name`)
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def check_model_name(model_name: str) -> str:
    """``model_name`` if TF Serving can serve it under REST and gRPC alike, else ``ConfigError``.

    The REST API routes ``/v1/models/<name>:predict`` by the request's path as sent, without
    percent-decoding it, so a name must be one a URL path carries as it is: ASCII letters, digits
    and ``- . _ ~`` (RFC 3986's unreserved characters), not only dots. A space or an accent
    would be served under gRPC and unreachable over REST.

    >>> check_model_name("ner-v2.en_core")
    'ner-v2.en_core'
    """
    if (not isinstance(model_name, str) or not model_name or not set(model_name) <= _NAME_CHARS
            or not model_name.strip(".")):
        raise ConfigError("model name must be ASCII letters, digits and '-', '.', '_', '~' (not only dots): "
                          f"TF Serving's REST API routes /v1/models/<name>:predict by it as written; got {model_name!r}")
    return model_name


def write_server_config(base: str | os.PathLike, model_name: str) -> tuple[Path, Path]:
    """Write ``models.config`` and ``batching_parameters.txt`` into the export's base folder.

    ``ExportError`` unless ``base`` holds a numbered version with a SavedModel (a version folder itself, or
    any other folder, would be served nothing); ``ConfigError`` for a model name :func:`check_model_name` refuses.
    """
    base = Path(base)
    latest = latest_version(base)
    if latest is None or not (latest / "saved_model.pb").exists():
        hint = ": it is a version folder, pass its parent" if (base / "saved_model.pb").exists() else ""
        raise ExportError(f"{base} is not an export's base folder (no numbered version holding saved_model.pb)"
                          f"{hint}")
    check_model_name(model_name)
    config, batching = base / MODEL_CONFIG_FILE, base / BATCHING_FILE
    config.write_text(model_config_text(model_name, base), encoding="utf-8")
    batching.write_text(batching_parameters_text(), encoding="utf-8")
    return config, batching


def model_server_command(base: str | os.PathLike) -> str:
    """The ``tensorflow_model_server`` command line for the files :func:`write_server_config` wrote."""
    base = Path(base).resolve()
    return (f"tensorflow_model_server --port=8500 --rest_api_port=8501 "
            f"--model_config_file={shlex.quote(str(base / MODEL_CONFIG_FILE))} --enable_batching "
            f"--batching_parameters_file={shlex.quote(str(base / BATCHING_FILE))} --enable_model_warmup=true")


def docker_command(base: str | os.PathLike, model_name: str) -> str:
    """The ``docker run tensorflow/serving`` command line serving the export folder ``base``."""
    base = Path(base).resolve()
    return (f"docker run --rm -p 127.0.0.1:8500:8500 -p 127.0.0.1:8501:8501 "
            f"-v {shlex.quote(f'{base}:/models/{model_name}:ro')} -e {shlex.quote(f'MODEL_NAME={model_name}')} "
            f"tensorflow/serving:2.20.0 --enable_batching "
            f"--batching_parameters_file={shlex.quote(f'/models/{model_name}/{BATCHING_FILE}')}")
