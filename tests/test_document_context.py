"""context="document": a word that only its document can resolve is tagged by its document."""

from __future__ import annotations

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
    alone = tfner.fit(corpus, encoder=tiny_encoder, verbose=0, **options)
    assert len(set(acme_tags(alone, corpus))) == 1
