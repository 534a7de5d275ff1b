"""An XLM-RoBERTa tagger whose tokenizer folder holds the binary SentencePiece model saves, exports and
reloads with the same spans (issue 21, defect 1: every tokenizer file was read as UTF-8 text)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN, run_python
from tests.xlmr_helper import SENTENCEPIECE_FILE, write_tiny_xlmr

pytest.importorskip("sentencepiece")

TEXTS = [f"{a} {verb} {b} in {city}{end}" for a, verb, b, city, end in zip(
    ["Alice", "Bob", "Carol", "alice", "Bob", "Carol", "Alice", "Carol", "Bob", "Alice", "Bob"] * 2,
    ["met", "flew to", "went to", "met", "met", "flew to", "went to", "met", "met", "flew to", "went to"] * 2,
    ["Bob", "Paris", "Rome", "carol", "Alice", "London", "Paris", "Bob", "Carol", "Rome", "London"] * 2,
    ["Rome", "London", "Paris", "rome", "Paris", "Rome", "London", "Paris", "Rome", "London", "Paris"] * 2,
    [".", "!", "", " .", ".", "?", "!", ".", "", "!", "."] * 2, strict=True)]


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    encoder = write_tiny_xlmr(tmp_path_factory.mktemp("tiny_xlmr"))
    return tfner.fit(TRAIN, DEV, encoder=encoder, verbose=0, **{**TINY_OPTIONS, "epochs": 8})


def spans(tagger, texts=TEXTS):
    return [[(s.start, s.end, s.label, s.text) for s in row] for row in tagger.predict(texts)]


def test_the_tagger_really_has_the_sentencepiece_model_and_finds_entities(tagger, tmp_path):
    tagger.tokenizer_.save_pretrained(tmp_path)
    assert (tmp_path / SENTENCEPIECE_FILE).exists()  # what transformers copies when saving
    assert len(TEXTS) >= 20 and sum(map(len, spans(tagger))) >= 20


def test_save_and_load_give_the_same_spans(tagger, tmp_path):
    loaded = tfner.load(tagger.save(tmp_path / "saved"), verbose=0)
    assert spans(loaded) == spans(tagger)
    saved = tmp_path / "saved" / SENTENCEPIECE_FILE
    if saved.exists():  # kept byte for byte, never decoded as text
        assert saved.read_bytes() == _sentencepiece_bytes(tagger, tmp_path)


def test_export_and_load_give_the_same_spans(tagger, tmp_path):
    served = tfner.load(tagger.export(tmp_path / "export"), verbose=0)
    assert spans(served) == spans(tagger)


TF_ONLY = r"""
import json, os, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(os.environ["EXPORT"])
batch = json.loads(os.environ["BATCH"])
out = loaded.signatures["serving_default"](input_ids=tf.constant(batch["input_ids"], tf.int32),
                                           attention_mask=tf.constant(batch["attention_mask"], tf.int32))
np.save(os.environ["PROBS"], out["probs"].numpy())
print(sorted(m for m in sys.modules if m.split(".")[0] in ("tfner", "transformers", "tokenizers", "sentencepiece")))
"""


def test_the_export_serves_in_a_tensorflow_only_process(tagger, tmp_path):
    import tensorflow as tf

    from tfner.data import alignment, pipeline
    from tfner.data.words import split_words

    version = tagger.export(tmp_path / "export")
    sentences = [[w for w, _, _ in split_words(t)] for t in TEXTS[:8]]
    windows = alignment.encode(tagger.tokenizer_, sentences, None, None, max_length=32, overlap=4)
    batch = pipeline.pad_batch(windows, tagger.tokenizer_.pad_token_id)
    batch = {k: np.asarray(batch[k]).tolist() for k in ("input_ids", "attention_mask")}
    out = run_python(TF_ONLY, env={"EXPORT": str(version), "BATCH": json.dumps(batch),
                                   "PROBS": str(tmp_path / "probs.npy")})
    assert out.stdout.strip().splitlines()[-1] == "[]"  # neither tfner nor a tokenizer library imported
    want = tagger._serve(input_ids=tf.constant(batch["input_ids"]), attention_mask=tf.constant(batch["attention_mask"]))
    np.testing.assert_allclose(np.load(tmp_path / "probs.npy"), want["probs"].numpy(), rtol=1e-5, atol=1e-6)


def _sentencepiece_bytes(tagger, tmp_path) -> bytes:
    tagger.tokenizer_.save_pretrained(tmp_path / "tok")
    return (tmp_path / "tok" / SENTENCEPIECE_FILE).read_bytes()
