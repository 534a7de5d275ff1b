"""Warm-up records, models.config and batching parameters, read back as TF Serving reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import text_format

from tfner.serving import server_files


@pytest.fixture(scope="module")
def exported(fitted_export):
    return fitted_export


def test_warmup_records_are_prediction_logs_that_run_against_the_model(exported):
    records = server_files.read_warmup(exported / "assets.extra" / "tf_serving_warmup_requests")
    assert 0 < len(records) <= server_files.MAX_WARMUP_RECORDS
    loaded = tf.saved_model.load(str(exported))
    used = set()
    for log in records:
        request = log.predict_log.request
        assert request.model_spec.name == "ner"
        signature = loaded.signatures[request.model_spec.signature_name]
        inputs = {name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}
        assert set(inputs) == set(signature.structured_input_signature[1])  # exactly the signature's inputs
        out = signature(**inputs)
        rows = next(iter(inputs.values())).shape[0]
        assert all(v.shape[0] == rows for v in out.values())
        used.add(request.model_spec.signature_name)
    assert used == {"serving_default", "predict_text"}
    # the batch-8 text request holds the empty and the multi-window text
    texts = [tf.make_ndarray(log.predict_log.request.inputs["text"]).tolist() for log in records
             if log.predict_log.request.model_spec.signature_name == "predict_text"]
    assert max(len(t) for t in texts) >= 5 and any(b"" in t for t in texts)


def test_models_config_parses_with_the_official_proto(exported):
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse((exported.parent / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    (entry,) = config.model_config_list.config
    assert entry.name == "ner" and entry.model_platform == "tensorflow"
    assert Path(entry.base_path) == exported.parent.resolve() and Path(entry.base_path).is_absolute()
    assert entry.model_version_policy.latest.num_versions == 1


def test_batching_parameters_parse_and_do_not_pad_variable_length_inputs(exported):
    message = text_format.Parse((exported.parent / "batching_parameters.txt").read_text(),
                                server_files.batching_parameters_message()())
    assert message.max_batch_size.value == 64 and message.batch_timeout_micros.value > 0
    assert list(message.allowed_batch_sizes)[-1] == message.max_batch_size.value
    assert list(message.allowed_batch_sizes) == sorted(message.allowed_batch_sizes)
    assert message.pad_variable_length_inputs is False
    with pytest.raises(text_format.ParseError):  # the message type really checks names
        text_format.Parse("max_batch_sise { value: 3 }", server_files.batching_parameters_message()())


def test_command_lines_name_the_written_files(exported):
    base = exported.parent.resolve()
    cmd = server_files.model_server_command(base)
    assert f"--model_config_file={base}/models.config" in cmd
    assert f"--batching_parameters_file={base}/batching_parameters.txt" in cmd
    docker = server_files.docker_command(base, "ner")
    assert f"-v {base}:/models/ner:ro" in docker and "-e MODEL_NAME=ner" in docker
    assert "127.0.0.1:8501:8501" in docker  # published on loopback only
    # a folder with a space and a shell character: the printed commands still split into the same arguments
    import shlex

    odd = Path("/srv/my models;rm -rf x/ner")
    cmd = shlex.split(server_files.model_server_command(odd))
    assert f"--model_config_file={odd}/models.config" in cmd and f"--batching_parameters_file={odd}/batching_parameters.txt" in cmd
    docker = shlex.split(server_files.docker_command(odd, "ner"))
    assert docker[docker.index("-v") + 1] == f"{odd}:/models/ner:ro" and "MODEL_NAME=ner" in docker


def test_server_files_go_only_into_an_export_base_folder(exported, tmp_path):
    import tfner

    # a version folder, or a folder holding no version, would be served nothing: before, both were written to
    with pytest.raises(tfner.ExportError, match="it is a version folder, pass its parent"):
        server_files.write_server_config(exported, "ner")
    with pytest.raises(tfner.ExportError, match="not an export's base folder"):
        server_files.write_server_config(tmp_path, "ner")
    assert not (exported / "models.config").exists() and not list(tmp_path.iterdir())
    for name in ("", " ", "a/b"):
        with pytest.raises(tfner.ConfigError, match="model name"):
            server_files.write_server_config(exported.parent, name)


# session_bundle_config.proto (TF Serving), message BatchingParameters: field -> number, as written there.
BATCHING_FIELD_NUMBERS = {"max_batch_size": 1, "batch_timeout_micros": 2, "max_enqueued_batches": 3,
                          "num_batch_threads": 4, "thread_pool_name": 5, "allowed_batch_sizes": 6,
                          "pad_variable_length_inputs": 7}


def test_batching_parameters_use_tf_serving_s_field_numbers_on_the_wire():
    message = server_files.batching_parameters_message()()
    assert {f.name: f.number for f in message.DESCRIPTOR.fields} == BATCHING_FIELD_NUMBERS
    # second route: read the field numbers back off the serialised bytes (tag = number << 3 | wire type)
    message.max_enqueued_batches.value = 5
    message.thread_pool_name.value = "pool"
    data = message.SerializeToString()
    first = data[0] >> 3
    second = data[2 + data[1]] >> 3
    assert (first, second) == (3, 5)
