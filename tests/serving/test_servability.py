"""The export-time servability check against each TF Serving release's op set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

import tfner
from tfner.serving import export as export_lib
from tfner.serving.servability import SERVING_VERSIONS, check_servable, make_servable, serving_release


class Trimmer(tf.Module):
    """A SavedModel using TF-Text's RoundRobinTrimmer: its op is missing from every server before 2.20."""

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="a"),
                                  tf.TensorSpec([None, None], tf.int32, name="b")])
    def trim(self, a, b):
        pair = [tf.RaggedTensor.from_tensor(a, padding=0), tf.RaggedTensor.from_tensor(b, padding=0)]
        first, second = tf_text.RoundRobinTrimmer(max_seq_length=4).trim(pair)
        return {"a": first.to_tensor(), "b": second.to_tensor()}

    def signatures(self):
        return {"serving_default": self.trim}


@pytest.fixture(scope="module")
def exported_default(fitted_export):
    return fitted_export


def test_the_default_export_loads_on_every_server_from_2_14(exported_default):
    for release in SERVING_VERSIONS:
        report = check_servable(exported_default, release)
        assert report.ok, report.summary()
        assert "WordpieceTokenizeWithOffsets" in report.ops and "VarHandleOp" in report.ops
    info = json.loads((exported_default / "assets" / export_lib.VERSIONS_FILE).read_text())
    assert info["tensorflow"] == tf.__version__ and info["tensorflow-text"] == tf_text.__version__
    assert info["oldest_tf_serving"] == "2.14" and info["tfner"] == tfner.__version__


def test_a_plain_save_is_refused_by_2_14_until_made_servable(fitted, tmp_path):
    path = tmp_path / "plain"
    tf.saved_model.save(fitted.module_, str(path), signatures=fitted.module_.signatures())
    before = check_servable(path, "2.14")
    assert not before.ok and before.problems[0].certain
    assert {(p.kind, p.op, p.detail) for p in before.problems} == {("attr", "VarHandleOp", "debug_name")}
    assert "would refuse" in before.summary() and "debug_name" in before.summary()
    assert check_servable(path, "2.20").ok  # 2.20's VarHandleOp has debug_name
    reference = tf.saved_model.load(str(path)).signatures["predict_text"](text=tf.constant(["Alice flew to Paris"]))

    removed = make_servable(path, "2.14")
    assert removed == {"VarHandleOp.debug_name": sum(p.op == "VarHandleOp" for p in before.problems)}
    assert check_servable(path, "2.14").ok
    tf.saved_model.experimental.read_fingerprint(str(path))  # the fingerprint was rewritten, still readable
    after = tf.saved_model.load(str(path)).signatures["predict_text"](text=tf.constant(["Alice flew to Paris"]))
    for name, value in reference.items():  # stripping changed nothing the model computes
        np.testing.assert_array_equal(after[name].numpy(), value.numpy())


def test_an_op_the_server_lacks_is_named(tmp_path):
    path = tmp_path / "trimmer"
    tf.saved_model.save(Trimmer(), str(path), signatures=Trimmer().signatures())
    make_servable(path, "2.19")
    report = check_servable(path, "2.19")
    assert not report.ok
    assert {p.op for p in report.problems if p.kind == "op"} == {"TFText>RoundRobinTrim"}
    assert "TFText>RoundRobinTrim: op not registered" in report.summary()
    assert check_servable(path, "2.20").ok  # server 2.20 links TF-Text 2.20, which has it


def test_export_refuses_an_unservable_model_and_writes_nothing(tmp_path):
    base = tmp_path / "models"
    with pytest.raises(tfner.ExportError, match=r"(?s)TF Serving 2\.19 would refuse.*TFText>RoundRobinTrim"):
        export_lib.export(Trimmer(), base, {}, serving_version="2.19")
    assert list(base.iterdir()) == []  # no version, no temporary folder
    with pytest.warns(UserWarning, match="RoundRobinTrim.*\n.*allow_unservable=True"):
        written = export_lib.export(Trimmer(), base, {}, serving_version="2.19", allow_unservable=True)
    assert written == base / "1" and (written / "saved_model.pb").exists()
    assert export_lib.export(Trimmer(), base, {}, serving_version="2.20") == base / "2"  # fine for 2.20


def test_server_releases_are_named_by_major_and_minor():
    assert serving_release("2.14.1") == "2.14" and serving_release("2.20") == "2.20"
    for bad in ("2.13", "2.21", "latest", "3"):
        with pytest.raises(tfner.ExportError, match="2.14 to 2.20"):
            serving_release(bad)
