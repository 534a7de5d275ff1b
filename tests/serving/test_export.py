"""Export: versioned SavedModel, reloaded in a process that imports only TensorFlow (and TF-Text)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tfner
from tests.conftest import SHARED_DATA, TRAIN, reference_spans

# One process that imports only TensorFlow (and TF-Text) answers every question the tests below ask of it:
# a TensorFlow start-up is paid once.
TF_ONLY = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the WordPiece op, as TF Serving links it
path, asked = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8"))
loaded = tf.saved_model.load(path)
fn = loaded.signatures["serving_default"]
out = fn(input_ids=tf.constant(asked["ids"], tf.int32), attention_mask=tf.constant(asked["mask"], tf.int32))
labels = json.load(open(path + "/assets/labels.json"))
text_fn = loaded.signatures["predict_text"]

def spans_of(texts, batch=32):
    spans = []
    for i in range(0, len(texts), batch):
        ents = {k: v.numpy() for k, v in text_fn(text=tf.constant(texts[i:i + batch])).items()}
        spans += [[(int(ents["entity_start"][r, j]), int(ents["entity_end"][r, j]), ents["entity_label"][r, j].decode(),
                    float(ents["entity_score"][r, j])) for j in range(int(ents["num_entities"][r]))]
                  for r in range(len(texts[i:i + batch]))]
    return spans

texts = asked["texts"]
print(json.dumps(dict(
    tags=[[t.decode() for t in row] for row in out["tags"].numpy()],
    label_ids=out["label_ids"].numpy().tolist(), scores=out["scores"].numpy().tolist(), labels=labels,
    outputs=sorted(fn.structured_outputs), text_outputs=sorted(text_fn.structured_outputs), spans=spans_of(texts),
    dense=all(isinstance(v, tf.Tensor) for v in text_fn(text=tf.constant(texts)).values()),
    corpora={name: spans_of(t) for name, t in asked["corpora"].items()},
    foreign=sorted(m for m in ("tfner", "transformers", "tf_keras") if m in sys.modules))))
"""
# saved_model_cli with TF-Text's ops registered first (it has no flag to load an op library).
SAVED_MODEL_CLI = "import sys, tensorflow_text; from tensorflow.python.tools import saved_model_cli; saved_model_cli.main()"
TEXT_OUTPUTS = ["entity_end", "entity_end_byte", "entity_label", "entity_score", "entity_start",
                "entity_start_byte", "num_entities"]
TEXTS = ["Alice flew to Paris.", "", "Carol met Bob in London .", "Ça va, Ａlice? 😀 Bob\u200b went to Rome!"]


@pytest.fixture(scope="module")
def exported(fitted_export):
    return fitted_export.parent, fitted_export


def batch_for(tagger, sentences):
    from tfner.data import alignment, pipeline

    wins = alignment.encode(tagger.tokenizer_, sentences, None, None, max_length=32, overlap=4)
    return pipeline.pad_batch(wins, tagger.tokenizer_.pad_token_id)


def test_export_layout_and_versions(fitted, exported, tmp_path):
    base, version = exported
    assert version == base / "1"
    assert (version / "saved_model.pb").exists() and (version / "variables").is_dir()
    assert json.loads((version / "assets" / "labels.json").read_text()) == fitted.labels_
    cfg = tfner.TaggerConfig.from_json((version / "assets" / "tfner_config.json").read_text())
    assert cfg == fitted.config_
    # A second export takes the next version and leaves the first untouched.
    other = tmp_path / "sm"
    shutil.copytree(version, other / "1")
    before = (other / "1" / "saved_model.pb").read_bytes()
    assert fitted.export(other) == other / "2"
    assert (other / "1" / "saved_model.pb").read_bytes() == before
    # no temporary folder left behind; the server's config files sit beside the versions
    assert sorted(p.name for p in other.iterdir()) == ["1", "2", "batching_parameters.txt", "models.config"]
    with pytest.raises(tfner.ExportError):
        fitted.export(other / "2")  # a version folder is not a base path


SENTENCES = [["Alice", "flew", "to", "Paris"], ["Carol", "met", "Bob", "in", "London", "."]]
CORPORA = {"wnut17": None, "conll2003": SHARED_DATA / "conll2003" / "eng.testb"}


def corpus_texts(name: str) -> list[str] | None:
    """The first 200 test sentences of ``name`` as texts; None where the corpus is absent (CoNLL-2003 is not shipped)."""
    from tfner.data.datasets import wnut17_path
    from tfner.data.readers import read_conll

    path = CORPORA[name] or wnut17_path("test")
    return [" ".join(s.words) for s in read_conll(path)[:200]] if path.exists() else None


@pytest.fixture(scope="module")
def tf_only(fitted, exported, tmp_path_factory):
    """What the export answers in a process that imports only TensorFlow and TF-Text."""
    batch = batch_for(fitted, SENTENCES)
    corpora = {name: texts for name in CORPORA if (texts := corpus_texts(name)) is not None}
    asked = tmp_path_factory.mktemp("tf-only") / "asked.json"
    asked.write_text(json.dumps({"ids": batch["input_ids"].tolist(), "mask": batch["attention_mask"].tolist(),
                                 "texts": TEXTS, "corpora": corpora}), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", TF_ONLY, str(exported[1]), str(asked)], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return batch, corpora, json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_reload_in_tensorflow_only_process_gives_same_tags(fitted, tf_only):
    batch, _, r = tf_only
    sentences = SENTENCES
    assert r["foreign"] == []  # nothing but TensorFlow (and TF-Text's ops) was needed
    assert r["outputs"] == ["label_ids", "probs", "scores", "tags"]
    assert r["text_outputs"] == TEXT_OUTPUTS and r["dense"]
    # predict_text in the TF-only process gives the spans Tagger.predict gives in memory
    in_memory = fitted.predict(TEXTS)
    assert [[tuple(x[:3]) for x in row] for row in r["spans"]] == [
        [(s.start, s.end, s.label) for s in row] for row in in_memory]
    for row, mem_row in zip(r["spans"], in_memory, strict=True):
        np.testing.assert_allclose([x[3] for x in row], [s.score for s in mem_row], atol=1e-5)
    mem = fitted.module_.serve(input_ids=tf.constant(batch["input_ids"]),
                               attention_mask=tf.constant(batch["attention_mask"]))
    assert r["label_ids"] == mem["label_ids"].numpy().tolist()
    np.testing.assert_allclose(r["scores"], mem["scores"].numpy(), atol=1e-5)
    assert r["tags"] == [[fitted.labels_[i] for i in row] for row in r["label_ids"]]
    # Word-level: the first piece of each word carries the same tag as predict_tags in memory.
    words_from_export = [[r["tags"][0][k] for k in (1, 2, 3, 4)]]
    assert words_from_export == fitted.predict_tags(sentences[:1])


def test_tfner_load_of_export_predicts_like_in_memory(fitted, exported):
    base, _ = exported
    served = tfner.load(base)  # the base folder resolves to its latest version
    texts = ["Alice flew to Paris.", "  Bob   went to\tLondon!", ""]
    assert served.predict(texts) == fitted.predict(texts)
    assert served.labels_ == fitted.labels_
    with pytest.raises(tfner.ConfigError, match="is an export: its graph computes in the precision"):
        tfner.load(base, precision="float32")


@pytest.mark.slow
def test_saved_model_cli_show_and_run(exported, tmp_path):
    _, version = exported
    np.save(tmp_path / "ids.npy", np.array([[2, 5, 12, 13, 3]], np.int32))
    np.save(tmp_path / "mask.npy", np.ones((1, 5), np.int32))
    env = {"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"}

    def cli(*args):
        proc = subprocess.run([sys.executable, "-c", SAVED_MODEL_CLI, *args], capture_output=True, text=True,
                              env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    show = cli("show", "--dir", str(version), "--all")
    assert "serving_default" in show and "input_ids" in show and "tags" in show
    # predict_text as documented: text string [batch] in; dense [batch, entities] / [batch] out
    text_sig = show[show.index("signature_def['predict_text']"):]
    text_sig = text_sig[:text_sig.index("Method name")]
    assert "inputs['text'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in text_sig
    for name, dtype, shape in [("entity_start", "DT_INT64", "(-1, -1)"), ("entity_end", "DT_INT64", "(-1, -1)"),
                               ("entity_start_byte", "DT_INT64", "(-1, -1)"),
                               ("entity_end_byte", "DT_INT64", "(-1, -1)"),
                               ("entity_label", "DT_STRING", "(-1, -1)"), ("entity_score", "DT_FLOAT", "(-1, -1)"),
                               ("num_entities", "DT_INT64", "(-1)")]:
        assert f"outputs['{name}'] tensor_info:\n        dtype: {dtype}\n        shape: {shape}" in text_sig, name
    run = cli("run", "--dir", str(version), "--tag_set", "serve", "--signature_def", "serving_default", "--inputs",
              f"input_ids={tmp_path / 'ids.npy'};attention_mask={tmp_path / 'mask.npy'}")
    assert "label_ids" in run and "scores" in run
    run = cli("run", "--dir", str(version), "--tag_set", "serve", "--signature_def", "predict_text",
              "--input_exprs", "text=['Alice flew to Paris.', '']")
    assert "num_entities" in run and "entity_label" in run


def test_saved_tagger_round_trip(fitted, tmp_path):
    path = fitted.save(tmp_path / "tagger")
    again = tfner.load(path)
    sentences = [w for w, _ in TRAIN[:4]]
    assert again.predict_tags(sentences) == fitted.predict_tags(sentences)
    assert again.config_ == fitted.config_
    assert again.export(tmp_path / "sm") == tmp_path / "sm" / "1"
    with pytest.raises(tfner.ConfigError, match="'saved' or one of"):
        tfner.load(path, precision="half")


def test_load_rejects_what_is_not_a_tagger(tmp_path):
    with pytest.raises(tfner.ExportError, match="does not exist"):
        tfner.load(tmp_path / "nothing")
    with pytest.raises(tfner.ExportError, match="neither"):
        tfner.load(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("corpus", ["wnut17", "conll2003"])
def test_predict_text_in_a_tensorflow_only_process_on_200_real_sentences(fitted, tf_only, corpus):
    _, corpora, r = tf_only
    if corpus not in corpora:
        pytest.skip(f"CoNLL-2003 not found at {CORPORA[corpus]}; it is research-only and read from ../shared/data")
    texts = corpora[corpus]
    assert r["foreign"] == [] and len(r["corpora"][corpus]) == 200
    in_memory = fitted.predict(texts)
    differences = []
    for text, served, mem in zip(texts, r["corpora"][corpus], in_memory, strict=True):
        want = reference_spans(fitted, text)
        if [tuple(x[:3]) for x in served] != [(s.start, s.end, s.label) for s in mem] or \
                [tuple(x[:3]) for x in served] != [w[:3] for w in want]:
            differences.append(text)
        np.testing.assert_allclose([x[3] for x in served], [w[3] for w in want], atol=1e-4)
    assert differences == []
    assert sum(len(x) for x in r["corpora"][corpus]) > 20  # the toy model tags something in real text
