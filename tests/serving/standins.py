"""Loopback stand-ins for TF Serving, driven by a loaded SavedModel (no real server can run here).

They follow TF Serving's documented behaviour closely enough to test tfner's clients:

* :class:`RestStandIn` (``http.server`` on 127.0.0.1, a free port): ``POST
  /v1/models/<name>[/versions/<v>]:predict`` with ``instances`` (row format: ``predictions``,
  one object per instance for several outputs) or ``inputs`` (columnar: ``outputs``), never
  both; JSON strings become UTF-8 bytes, ``{"b64": ...}`` binary; errors as ``{"error": ...}``
  with 404 for an unknown model or version and 400 for a bad request or signature;
  ``GET /v1/models/<name>[/versions/<v>][/metadata]``.
* :class:`GrpcStandIn` (``grpc.server`` on 127.0.0.1, a free port) implementing the official
  ``PredictionServiceServicer`` (Predict, GetModelMetadata) and ``ModelServiceServicer``
  (GetModelStatus) from tensorflow-serving-api; ``NOT_FOUND`` for an unknown model or version,
  ``FAILED_PRECONDITION`` for an unknown signature (as TF Serving's predict_util), ``INVALID_ARGUMENT``
  for bad inputs.

Both can answer "unavailable" (HTTP 503 / ``UNAVAILABLE``) to the first ``unavailable``
predict calls, to test retries. Use them as context managers: they stop on exit.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the server links TF-Text's ops)


class _Model:
    def __init__(self, version_dir: Path, name: str):
        self.name, self.version = name, int(Path(version_dir).name)
        self.loaded = tf.saved_model.load(str(version_dir))
        self.lock = threading.Lock()
        self.unavailable = 0

    def servable(self, name: str, version: int | None, *, status: bool = False) -> str | None:
        """The error message TF Serving gives when it does not serve (name, version), else None.

        A status request (GetModelStatus, ``GET /v1/models/<name>``) for a model the server
        does not know gets ServableStateMonitor's message; a predict or metadata request gets
        the manager's "Servable not found".
        """
        if status and name != self.name:
            return f"Could not find any versions of model {name}"
        if status and version is not None and version != self.version:
            return f"Could not find version {version} of model {name}"
        if name != self.name or (version is not None and version != self.version):
            spec = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            return f"Servable not found for request: {spec}"
        return None

    def take_unavailable(self) -> bool:
        with self.lock:
            if self.unavailable > 0:
                self.unavailable -= 1
                return True
            return False

    def run(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        fn = self.loaded.signatures[signature]
        expected = fn.structured_input_signature[1]
        if set(inputs) != set(expected):
            raise ValueError(f"inputs {sorted(inputs)} do not match the signature's {sorted(expected)}")
        tensors = {k: tf.constant(v, dtype=expected[k].dtype) for k, v in inputs.items()}
        return {k: v.numpy() for k, v in fn(**tensors).items()}


def _json_value(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _to_json(name: str, value):
    if isinstance(value, np.ndarray):
        return [_to_json(name, v) for v in value] if value.ndim else _to_json(name, value.item())
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()} if name.endswith("_bytes") else value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


class RestStandIn:
    """``with RestStandIn(version_dir, "ner") as server: server.url``"""

    def __init__(self, version_dir: Path, name: str, *, unavailable: int = 0):
        self.model = _Model(version_dir, name)
        self.model.unavailable = unavailable
        model = self.model

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, code: int, body: dict):
                data = json.dumps(body).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self):
                m = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/(\d+))?(/metadata|:predict)?", self.path)
                if not m:
                    self._send(404, {"error": f"Malformed request: {self.command} {self.path}"})
                    return None
                name, version, action = m.group(1), int(m.group(2)) if m.group(2) else None, m.group(3) or ""
                missing = model.servable(name, version, status=self.command == "GET" and not m.group(3))
                if missing:
                    self._send(404, {"error": missing})
                    return None
                return action

            def do_GET(self):
                action = self._route()
                if action == "":
                    self._send(200, {"model_version_status": [{"version": str(model.version), "state": "AVAILABLE",
                                                               "status": {"error_code": "OK", "error_message": ""}}]})
                elif action == "/metadata":
                    sigs = {k: {"inputs": {n: {"dtype": s.dtype.as_datatype_enum and s.dtype.name,
                                               "shape": s.shape.as_list()}
                                           for n, s in fn.structured_input_signature[1].items()},
                                "outputs": sorted(fn.structured_outputs)}
                            for k, fn in model.loaded.signatures.items()}
                    self._send(200, {"model_spec": {"name": model.name, "version": str(model.version)},
                                     "metadata": {"signature_def": {"signature_def": sigs}}})
                elif action is not None:
                    self._send(405, {"error": "Unsupported method"})

            def do_POST(self):
                action = self._route()
                if action is None:
                    return
                if action != ":predict":
                    self._send(404, {"error": f"Malformed request: POST {self.path}"})
                    return
                if model.take_unavailable():
                    self._send(503, {"error": "Model is not available yet"})
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8"))
                except ValueError as err:
                    self._send(400, {"error": f"JSON Parse error: {err}"})
                    return
                signature = body.get("signature_name", "serving_default")
                if signature not in model.loaded.signatures:
                    self._send(400, {"error": f'Serving signature name: "{signature}" not found in signature def'})
                    return
                if ("instances" in body) == ("inputs" in body):
                    self._send(400, {"error": "JSON Value: request must have exactly one of 'instances' or 'inputs'"})
                    return
                names = list(model.loaded.signatures[signature].structured_input_signature[1])
                if "instances" in body:
                    rows = body["instances"]
                    if rows and not isinstance(rows[0], dict):
                        rows = [{names[0]: r} for r in rows]  # a bare value per instance: the single input
                    inputs = {n: np.array([_json_value(r[n]) for r in rows], dtype=object
                                          if isinstance(_json_value(rows[0][n]), bytes) else None) for n in names}
                else:
                    given = body["inputs"] if isinstance(body["inputs"], dict) else {names[0]: body["inputs"]}
                    inputs = {n: np.array(_json_value(v), dtype=object if _is_bytes(_json_value(v)) else None)
                              for n, v in given.items()}
                try:
                    outputs = model.run(signature, inputs)
                except (ValueError, tf.errors.InvalidArgumentError) as err:
                    self._send(400, {"error": str(err).splitlines()[0]})
                    return
                if "instances" in body:
                    n = len(body["instances"])
                    preds = [{k: _to_json(k, v[i]) for k, v in outputs.items()} for i in range(n)]
                    self._send(200, {"predictions": preds if len(outputs) > 1 else
                                     [next(iter(p.values())) for p in preds]})
                else:
                    cols = {k: _to_json(k, v) for k, v in outputs.items()}
                    self._send(200, {"outputs": cols if len(cols) > 1 else next(iter(cols.values()))})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> RestStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


def _is_bytes(value) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, bytes)


class GrpcStandIn:
    """``with GrpcStandIn(version_dir, "ner") as server: server.target``"""

    def __init__(self, version_dir: Path, name: str, *, unavailable: int = 0):
        import grpc
        from tensorflow_serving.apis import (
            get_model_metadata_pb2,
            get_model_status_pb2,
            model_service_pb2_grpc,
            predict_pb2,
            prediction_service_pb2_grpc,
        )

        self.model = model = _Model(version_dir, name)
        model.unavailable = unavailable

        def check(spec, context, status=False):
            version = spec.version.value if spec.HasField("version") else None
            missing = model.servable(spec.name, version, status=status)
            if missing:
                context.abort(grpc.StatusCode.NOT_FOUND, missing)

        class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):
                check(request.model_spec, context)
                if model.take_unavailable():
                    context.abort(grpc.StatusCode.UNAVAILABLE, "Model is not available yet")
                signature = request.model_spec.signature_name or "serving_default"
                if signature not in model.loaded.signatures:
                    # predict_util.cc: FailedPrecondition, 'Serving signature key "x" not found.'
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                  f'Serving signature key "{signature}" not found.')
                inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
                try:
                    outputs = model.run(signature, inputs)
                except (ValueError, tf.errors.InvalidArgumentError) as err:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err).splitlines()[0])
                response = predict_pb2.PredictResponse()
                response.model_spec.name, response.model_spec.signature_name = model.name, signature
                response.model_spec.version.value = model.version
                for k, v in outputs.items():
                    response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
                return response

            def GetModelMetadata(self, request, context):
                check(request.model_spec, context)
                from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

                saved = saved_model_pb2.SavedModel.FromString(
                    (Path(version_dir) / "saved_model.pb").read_bytes())
                signatures = get_model_metadata_pb2.SignatureDefMap()
                for key, sig in saved.meta_graphs[0].signature_def.items():
                    if not key.startswith("__"):
                        signatures.signature_def[key].CopyFrom(sig)
                response = get_model_metadata_pb2.GetModelMetadataResponse()
                response.model_spec.name = model.name
                response.model_spec.version.value = model.version
                response.metadata["signature_def"].Pack(signatures)
                del meta_graph_pb2
                return response

        class Models(model_service_pb2_grpc.ModelServiceServicer):
            def GetModelStatus(self, request, context):
                check(request.model_spec, context, status=True)
                response = get_model_status_pb2.GetModelStatusResponse()
                status = response.model_version_status.add()
                status.version = model.version
                status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
                return response

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Prediction(), self.server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(Models(), self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.target = f"127.0.0.1:{port}"

    def __enter__(self) -> GrpcStandIn:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop(grace=None).wait(timeout=10)
