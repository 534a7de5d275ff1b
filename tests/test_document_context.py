"""context="document" and "packed" (what context="auto" chooses where train marks documents): a word that only its document can
resolve is tagged by its document."""

from __future__ import annotations

import logging

import pytest

import tfner
from tests.conftest import TINY_OPTIONS

# "acme" alone is a person in documents about people and a location in documents about
# places: nothing inside its own one-word sentence tells which.
PEOPLE = [(["Alice", "met", "Bob"], ["B-PER", "O", "B-PER"]), (["acme"], ["B-PER"]),
          (["Carol", "went"], ["B-PER", "O"])]
PLACES = [(["Paris", "and", "Rome"], ["B-LOC", "O", "B-LOC"]), (["acme"], ["B-LOC"]),
          (["London", "went"], ["B-LOC", "O"])]


def write_documents(path, documents):
    lines = []
    for doc in documents:
        lines += ["-DOCSTART- O", ""]
        for words, tags in doc:
            lines += [f"{w} {t}" for w, t in zip(words, tags, strict=True)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_documents(tmp_path_factory.mktemp("docs") / "docs.conll", [PEOPLE, PLACES] * 8)


class _TensorFlowWarnings(logging.Handler):
    """The warnings TensorFlow's Python logger emits while in use (Keras' export warnings go there)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        logging.getLogger("tensorflow").addHandler(self)
        return self

    def __exit__(self, *_):
        logging.getLogger("tensorflow").removeHandler(self)


def acme_tags(tagger, path):
    sentences = tfner.read_conll(path)
    tags = tagger._tag_words([s.words for s in sentences], [s.document for s in sentences])[0]
    return [t[0] for s, t in zip(sentences, tags, strict=True) if s.words == ("acme",)]


@pytest.mark.slow
def test_document_context_resolves_what_the_sentence_cannot(tiny_encoder, corpus):
    options = {**TINY_OPTIONS, "epochs": 10}
    with_context = tfner.fit(corpus, encoder=tiny_encoder, verbose=0, context="document", **options)
    assert with_context.train_stats_["windows"] == 16 * 3
    tags = acme_tags(with_context, corpus)
    assert tags == ["B-PER", "B-LOC"] * 8
    assert with_context.evaluate(corpus).f1 == 1.0  # evaluate gives each sentence its own document's context
    # predict_tags: the list is one document, in order
    assert with_context.predict_tags([w for w, _ in PEOPLE])[1] == ["B-PER"]
    assert with_context.predict_tags([w for w, _ in PLACES])[1] == ["B-LOC"]
    # the same words, each sentence alone: the one-word sentence is the same input in both
    # kinds of document, so at most half of them can be right
    alone = tfner.fit(corpus, encoder=tiny_encoder, verbose=0, **options)  # the default: sentence windows
    assert len(set(acme_tags(alone, corpus))) == 1


@pytest.mark.slow
def test_packed_windows_resolve_by_document_and_every_route_tags_alike(tiny_encoder, corpus, tmp_path):
    """context="packed": a document's sentences share windows. ``acme`` is resolved by its document;
    predict_tags, evaluate's predictions file and a reloaded export give the same tags; the CRF decodes
    each sentence on its own, so no sentence starts inside an entity of the one before."""
    sentences = tfner.read_conll(corpus)
    # context="auto": 16 documents of 3 sentences; no sentence alone (sentences_alone=0: a lone "acme" is either type)
    packed = tfner.fit(corpus, encoder=tiny_encoder, verbose=0, context="auto", sentences_alone=0.0,
                       **{**TINY_OPTIONS, "epochs": 10, "batch_size": 1, "head": "crf"})
    # windows of 8 come 1 * 32 // 16 = 2 a batch (as many positions as one full window): 8 updates an epoch
    assert packed.config_.context == "packed" and packed.train_stats_["recipe"]["context"] == "packed"
    # a document (6 one-piece words) fits one window of max_length 32: 16 windows, where sentences are 48
    assert packed.train_stats_["windows"] == 16
    assert acme_tags(packed, corpus) == ["B-PER", "B-LOC"] * 8
    evaluation = packed.evaluate(corpus, predictions_path=tmp_path / "pred.conll")
    assert evaluation.f1 == 1.0
    written = [[line.split()[2] for line in block.splitlines()]
               for block in (tmp_path / "pred.conll").read_text(encoding="utf-8").strip().split("\n\n")]
    words = [list(s.words) for s in sentences]
    documents = [s.document for s in sentences]
    tags, scores = packed._tag_words(words, documents)
    assert tags == written
    warnings = _TensorFlowWarnings()
    with warnings:
        reloaded = tfner.load(packed.export(tmp_path / "export"))
    assert not [m for m in warnings.messages if "serializ" in m], warnings.messages  # the CRF head saved in full
    again, again_scores = reloaded._tag_words(words, documents)
    assert again == tags
    for a, b in zip(scores, again_scores, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    # one long document: windows cut sentences, yet each sentence is decoded alone (no I- to open one)
    long_doc = [w for doc in [PEOPLE, PLACES] * 4 for w, _ in doc]
    assert all(not t[0].startswith("I-") for t in packed.predict_tags(long_doc) if t)
