"""REST and gRPC clients against loopback stand-ins of TF Serving (see standins.py).

No real ``tensorflow_model_server`` can be installed here; the stand-ins serve the exported
SavedModel on 127.0.0.1 (free ports) following TF Serving's documented request and error
formats, and stop when each test ends. Calls have short timeouts.
"""

from __future__ import annotations

import socket

import pytest

import tfner
from tests.serving.standins import GrpcStandIn, RestStandIn
from tfner.serving.clients import GrpcClient, RestClient

TEXTS = ["Alice flew to Paris.", "", "Bob went to London and met Carol in Rome!", "Ça va, Ａlice? 😀 \ud83d Bob"]
FAST = dict(timeout=20.0, backoff=0.01)


@pytest.fixture(scope="module")
def version_dir(fitted_export):
    return fitted_export


@pytest.fixture(scope="module")
def rest(version_dir):
    with RestStandIn(version_dir, "ner") as server:
        yield server


@pytest.fixture(scope="module")
def grpc_server(version_dir):
    with GrpcStandIn(version_dir, "ner") as server:
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("row_format", [False, True], ids=["columnar", "row"])
def test_rest_predict_gives_the_spans_of_tagger_predict(fitted, rest, row_format):
    client = RestClient(rest.url, "ner", **FAST)
    assert client.predict(TEXTS, row_format=row_format) == fitted.predict(TEXTS)
    assert sum(len(row) for row in client.predict(TEXTS)) >= 5
    assert RestClient(rest.url, "ner", version=1, **FAST).predict(TEXTS[:1]) == fitted.predict(TEXTS[:1])
    assert client.predict([]) == []


def test_grpc_predict_gives_the_spans_of_tagger_predict(fitted, grpc_server):
    with GrpcClient(grpc_server.target, "ner", **FAST) as client:
        assert client.predict(TEXTS) == fitted.predict(TEXTS)
    with GrpcClient(grpc_server.target, "ner", version=1, **FAST) as client:
        assert client.predict(TEXTS[:1]) == fitted.predict(TEXTS[:1])


def test_status_and_metadata(rest, grpc_server):
    client = RestClient(rest.url, "ner", **FAST)
    assert client.status()["model_version_status"][0]["state"] == "AVAILABLE"
    signatures = client.metadata()["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "predict_text"} <= set(signatures)
    with GrpcClient(grpc_server.target, "ner", **FAST) as g:
        (status,) = g.status().model_version_status
        assert status.version == 1 and status.state == status.AVAILABLE
        from tensorflow_serving.apis import get_model_metadata_pb2

        sigs = get_model_metadata_pb2.SignatureDefMap()
        g.metadata().metadata["signature_def"].Unpack(sigs)
        assert set(sigs.signature_def["predict_text"].outputs) >= {"entity_start", "num_entities"}


def test_unknown_model_version_and_signature_are_named_errors(rest, grpc_server):
    with pytest.raises(tfner.ModelNotFoundError, match="'nope'"):
        RestClient(rest.url, "nope", **FAST).predict(TEXTS)
    with pytest.raises(tfner.ModelNotFoundError, match="version 7"):
        RestClient(rest.url, "ner", version=7, **FAST).predict(TEXTS)
    with pytest.raises(tfner.SignatureNotFoundError, match="'missing'"):
        RestClient(rest.url, "ner", signature="missing", **FAST).predict(TEXTS)
    with GrpcClient(grpc_server.target, "nope", **FAST) as g, pytest.raises(tfner.ModelNotFoundError):
        g.predict(TEXTS)
    with GrpcClient(grpc_server.target, "ner", signature="missing", **FAST) as g, \
            pytest.raises(tfner.SignatureNotFoundError, match="'missing'"):
        g.predict(TEXTS)
    # a status request for an unknown model gets the server's status message, still a named error
    with pytest.raises(tfner.ModelNotFoundError, match="Could not find any versions of model nope"):
        RestClient(rest.url, "nope", **FAST).status()
    with GrpcClient(grpc_server.target, "nope", **FAST) as g, \
            pytest.raises(tfner.ModelNotFoundError, match="Could not find any versions of model nope"):
        g.status()


def test_a_server_that_is_down_gives_server_unavailable_after_retries():
    port = free_port()  # nothing listens there
    with pytest.raises(tfner.ServerUnavailableError, match="3 attempt"):
        RestClient(f"http://127.0.0.1:{port}", "ner", retries=2, timeout=2.0, backoff=0.01).predict(TEXTS)
    with GrpcClient(f"127.0.0.1:{port}", "ner", retries=2, timeout=2.0, backoff=0.01) as g, \
            pytest.raises(tfner.ServerUnavailableError, match="3 attempt"):
        g.predict(TEXTS)


def test_unavailable_answers_are_retried(fitted, version_dir):
    with RestStandIn(version_dir, "ner", unavailable=2) as server:
        assert RestClient(server.url, "ner", retries=2, **FAST).predict(TEXTS) == fitted.predict(TEXTS)
    with RestStandIn(version_dir, "ner", unavailable=2) as server, pytest.raises(tfner.ServerUnavailableError):
        RestClient(server.url, "ner", retries=1, **FAST).predict(TEXTS)
    with GrpcStandIn(version_dir, "ner", unavailable=2) as server, \
            GrpcClient(server.target, "ner", retries=2, **FAST) as g:
        assert g.predict(TEXTS) == fitted.predict(TEXTS)


def test_a_generator_of_texts_is_read_once(fitted, rest, grpc_server):
    # review: the clients read texts twice, so a generator came back as [] with no request sent
    assert RestClient(rest.url, "ner", **FAST).predict(t for t in TEXTS) == fitted.predict(TEXTS)
    with GrpcClient(grpc_server.target, "ner", **FAST) as g:
        assert g.predict(iter(TEXTS)) == fitted.predict(TEXTS)


def test_bad_texts_are_rejected_before_any_request():
    # nothing listens on the port: a request would be a ServerUnavailableError, not the DataFormatError of
    # Tagger.predict, naming the text
    clients = [RestClient(f"http://127.0.0.1:{free_port()}", "ner", retries=0, **FAST),
               GrpcClient(f"127.0.0.1:{free_port()}", "ner", retries=0, **FAST)]
    for client in clients:
        for bad, message in (("Alice flew to Paris.", "list of strings"), (None, r"list of strings .*, got NoneType"),
                             (["ok", 3], r"texts\[1\]: each text must be a string, got int"),
                             ([b"Alice"], r"texts\[0\]: .* got bytes")):
            with pytest.raises(tfner.DataFormatError, match=message):
                client.predict(bad)
    with pytest.raises(tfner.ConfigError, match="model name"):  # the REST path would carry it escaped or broken
        RestClient("http://127.0.0.1:8501", "my model")


def test_loopback_servers_are_reached_directly_whatever_the_proxy_settings(fitted, rest, grpc_server, monkeypatch):
    """A proxy cannot reach the caller's own loopback: before, REST posted the texts to http_proxy and gRPC sent
    CONNECT to grpc_proxy (the proxy's error then blamed TF Serving)."""
    import threading

    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen()
    proxy.settimeout(0.2)
    seen: list[bytes] = []

    def listen():
        while not stopped.is_set():
            try:
                conn, _ = proxy.accept()
            except OSError:
                continue
            with conn:
                seen.append(conn.recv(200))
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    stopped = threading.Event()
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    address = f"http://127.0.0.1:{proxy.getsockname()[1]}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "grpc_proxy"):
        monkeypatch.setenv(name, address)
    for name in ("no_proxy", "NO_PROXY", "no_grpc_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        assert RestClient(rest.url, "ner", **FAST).predict(TEXTS[:1]) == fitted.predict(TEXTS[:1])
        with GrpcClient(grpc_server.target, "ner", **FAST) as client:
            assert client.predict(TEXTS[:1]) == fitted.predict(TEXTS[:1])
    finally:
        stopped.set()
        thread.join()
        proxy.close()
    assert seen == []
    for url in ("127.0.0.1:8501", "localhost:8501", "ftp://127.0.0.1:8501"):  # before: retried as "unavailable"
        with pytest.raises(tfner.ConfigError, match="http://host:port"):
            RestClient(url, "ner")
