"""Clients for a TF Serving server that serves a tfner export: REST and gRPC, same spans as ``Tagger.predict``.

Both call the ``predict_text`` signature and turn its dense outputs into :class:`Span` lists
with :func:`spans_from_outputs`, the function ``Tagger.predict`` uses, so a served model and
an in-memory tagger give the same objects. Both retry a call the server could not take
(connection refused, HTTP 503, gRPC ``UNAVAILABLE``) with a growing pause, time out, and raise
tfner's own errors: :class:`ServerUnavailableError`, :class:`ModelNotFoundError`,
:class:`SignatureNotFoundError`, or :class:`ServingError` with the server's message.

* :class:`RestClient`: ``POST /v1/models/<name>[/versions/<v>]:predict`` in the columnar
  (``inputs``) or row (``instances``) format; ``status()`` and ``metadata()`` are
  ``GET /v1/models/<name>[/versions/<v>][/metadata]``. Standard library only.
* :class:`GrpcClient`: ``PredictionService.Predict`` with tensorflow-serving-api's
  ``PredictRequest``; ``status()`` is ``ModelService.GetModelStatus``, ``metadata()``
  ``PredictionService.GetModelMetadata``.
"""

from __future__ import annotations

import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from tfner.data.spans import Span
from tfner.errors import ConfigError, ModelNotFoundError, ServerUnavailableError, ServingError, SignatureNotFoundError
from tfner.serving.outputs import check_texts, clean_text, spans_from_outputs
from tfner.serving.server_files import check_model_name

TEXT_SIGNATURE = "predict_text"
T = TypeVar("T")


def _check_texts(texts: Iterable[str]) -> list[str]:
    """``texts`` checked as ``Tagger.predict`` checks them (:func:`check_texts`), each cleaned as it cleans it."""
    return [clean_text(t) for t in check_texts(texts)]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address, IPv6 in brackets or not) is this machine's loopback.

    >>> [is_loopback(h) for h in ("localhost", "127.0.0.1", "[::1]", "10.0.0.2", "example.com")]
    [True, True, True, False, False]
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _retry(call: Callable[[], T], retries: int, backoff: float, transient: Callable[[Exception], bool],
           describe: str) -> T:
    for attempt in range(retries + 1):
        try:
            return call()
        except Exception as err:  # noqa: BLE001 - classified right below
            if not transient(err):
                raise
            if attempt == retries:
                raise ServerUnavailableError(f"{describe}: unavailable after {retries + 1} attempt(s): {err}") from err
            time.sleep(backoff * 2 ** attempt)
    raise AssertionError("unreachable")


class RestClient:
    """TF Serving's REST API for one model, e.g. ``RestClient("http://127.0.0.1:8501", "ner")``.

    Requests go through the environment's proxy (``http_proxy``, ``no_proxy``) as any HTTP client's, except to
    a loopback address, which no proxy can reach on the caller's behalf: those always go straight to it.
    """

    def __init__(self, url: str, model: str, *, version: int | None = None, timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.2, signature: str = TEXT_SIGNATURE):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"url must be http://host:port (or https://), got {url!r}")
        check_model_name(model)  # a name the REST path carries as it is (the server does not decode %xx)
        self.url, self.model, self.version = url.rstrip("/"), model, version
        self.timeout, self.retries, self.backoff, self.signature = timeout, retries, backoff, signature
        direct = [urllib.request.ProxyHandler({})] if is_loopback(parts.hostname) else []
        self._opener = urllib.request.build_opener(*direct)

    def _path(self, suffix: str = "") -> str:
        version = f"/versions/{self.version}" if self.version is not None else ""
        return f"{self.url}/v1/models/{self.model}{version}{suffix}"

    def _request(self, url: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET",
                                         headers={"Content-Type": "application/json"})

        def call():
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as err:
                if err.code == 503:
                    raise  # transient: retried
                self._raise_for(err.code, _error_text(err))

        def transient(err: Exception) -> bool:
            if isinstance(err, urllib.error.HTTPError):
                return err.code == 503
            return isinstance(err, urllib.error.URLError | ConnectionError | TimeoutError)

        return _retry(call, self.retries, self.backoff, transient, f"TF Serving at {self.url}")

    def _raise_for(self, code: int, message: str):
        if code == 404 or "not found" in message.lower() and "signature" not in message.lower():
            raise ModelNotFoundError(f"model {self.model!r}" + (f" version {self.version}" if self.version else "")
                                     + f" is not served at {self.url}: {message}")
        if "signature" in message.lower():
            raise SignatureNotFoundError(f"model {self.model!r} at {self.url} has no signature "
                                         f"{self.signature!r}: {message}")
        raise ServingError(f"TF Serving at {self.url} answered HTTP {code}: {message}")

    def predict(self, texts: Iterable[str], *, row_format: bool = False) -> list[list[Span]]:
        """Entities of each text; ``row_format=True`` sends ``instances`` instead of ``inputs``."""
        texts = _check_texts(texts)
        if not texts:
            return []
        body: dict[str, Any]
        if row_format:
            body = {"signature_name": self.signature, "instances": [{"text": t} for t in texts]}
            rows = self._request(self._path(":predict"), body)["predictions"]
            outputs = {name: [row[name] for row in rows] for name in rows[0]}
        else:
            body = {"signature_name": self.signature, "inputs": {"text": texts}}
            outputs = self._request(self._path(":predict"), body)["outputs"]
        return spans_from_outputs(texts, outputs)

    def status(self) -> dict:
        """``GET /v1/models/<name>[/versions/<v>]``: the versions and their states."""
        return self._request(self._path())

    def metadata(self) -> dict:
        """``GET /v1/models/<name>[/versions/<v>]/metadata``: the signatures."""
        return self._request(self._path("/metadata"))


def _error_text(err) -> str:
    try:
        return str(json.loads(err.read().decode("utf-8")).get("error", err.reason))
    except (ValueError, AttributeError):
        return str(err.reason)


class GrpcClient:
    """TF Serving's gRPC API for one model, e.g. ``GrpcClient("127.0.0.1:8500", "ner")``.

    As :class:`RestClient`, a loopback target is reached directly, whatever ``grpc_proxy``/``http_proxy`` say.
    """

    def __init__(self, target: str, model: str, *, version: int | None = None, timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.2, signature: str = TEXT_SIGNATURE):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.target, self.model, self.version = target, model, version
        self.timeout, self.retries, self.backoff, self.signature = timeout, retries, backoff, signature
        host = target.split("///")[-1].rsplit(":", 1)[0]  # host:port, [::1]:port, dns:///host:port
        self._channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)] if is_loopback(host) else [])
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _spec(self, spec) -> None:
        spec.name = self.model
        if self.version is not None:
            spec.version.value = self.version

    def _call(self, method, request):
        import grpc

        def call():
            try:
                return method(request, timeout=self.timeout)
            except grpc.RpcError as err:
                code, details = err.code(), err.details() or ""
                if code == grpc.StatusCode.UNAVAILABLE:
                    raise
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise ServingError(f"TF Serving at {self.target} did not answer within {self.timeout} s") from None
                if code == grpc.StatusCode.NOT_FOUND:
                    raise ModelNotFoundError(f"model {self.model!r} is not served at {self.target}: {details}") \
                        from None
                if "signature" in details.lower():
                    raise SignatureNotFoundError(f"model {self.model!r} at {self.target} has no signature "
                                                 f"{self.signature!r}: {details}") from None
                raise ServingError(f"TF Serving at {self.target} answered {code.name}: {details}") from None

        def transient(err: Exception) -> bool:
            return isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.UNAVAILABLE

        return _retry(call, self.retries, self.backoff, transient, f"TF Serving at {self.target}")

    def predict(self, texts: Iterable[str]) -> list[list[Span]]:
        """Entities of each text, from ``PredictionService.Predict`` on ``predict_text``."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        texts = _check_texts(texts)
        if not texts:
            return []
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec)
        request.model_spec.signature_name = self.signature
        request.inputs["text"].CopyFrom(tf.make_tensor_proto([t.encode("utf-8") for t in texts], dtype=tf.string))
        response = self._call(self._predict.Predict, request)
        outputs = {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
        return spans_from_outputs(texts, outputs)

    def status(self):
        """``ModelService.GetModelStatus``: a ``GetModelStatusResponse``."""
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec)
        return self._call(self._models.GetModelStatus, request)

    def metadata(self):
        """``PredictionService.GetModelMetadata`` for ``signature_def``: a ``GetModelMetadataResponse``."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        return self._call(self._predict.GetModelMetadata, request)
