"""tfner.tagging.recipe: the options left to tfner, filled by rules on the corpus and the encoder."""

from __future__ import annotations

import pytest

import tfner
from tfner.config import TaggerConfig
from tfner.data.readers import Sentence
from tfner.tagging import recipe
from tfner.tagging.inputs import Corpus


def sentences(n: int, per_document: int | None = None) -> list[Sentence]:
    return [Sentence([f"w{i}"], ["O"], document=0 if per_document is None else i // per_document) for i in range(n)]


def corpus(train, dev=None) -> Corpus:
    return Corpus(train, dev, ["O"], [], None)


def test_batch_size_and_learning_rate_rules():
    assert recipe.batch_size(4_999)[0] == 16 and recipe.batch_size(5_000)[0] == 32
    assert [recipe.learning_rate(h)[0] for h in (32, 384, 512, 513, 768, 1024)] == [1e-4, 1e-4, 1e-4, 5e-5, 5e-5, 3e-5]


def test_holdout_takes_whole_documents_in_file_order():
    train = sentences(2_000, per_document=20)  # 100 documents of 20
    kept, held = recipe.holdout(train, seed=0)
    assert len(held) == 200 and len(kept) == 1_800  # 10%, exactly 10 documents
    assert {s.document for s in held}.isdisjoint({s.document for s in kept})
    assert sorted(kept + held, key=lambda s: int(s.words[0][1:])) == train
    assert [int(s.words[0][1:]) for s in held] == sorted(int(s.words[0][1:]) for s in held)
    assert recipe.holdout(train, seed=0) == (kept, held)  # seeded
    assert recipe.holdout(train, seed=1)[1] != held


def test_holdout_passes_over_documents_too_large_for_the_slice():
    # one document of 9,000 sentences and nine of 111: the big one would empty train; the slice is 1,000 at most
    train = [Sentence([f"w{i}"], ["O"], document=0 if i < 9_000 else 1 + (i - 9_000) // 111) for i in range(9_999)]
    for seed in range(5):
        kept, held = recipe.holdout(train, seed)
        assert 500 <= len(held) <= 1_000 and len(kept) >= 8_999
        assert all(s.document != 0 for s in held)  # 9,000 sentences never fit a slice of 1,000


def test_holdout_under_document_context_is_one_run_of_consecutive_sentences():
    kept, held = recipe.holdout(sentences(1_500), seed=4, contiguous=True)
    ids = [int(s.words[0][1:]) for s in held]
    assert len(ids) == 150 and ids == list(range(ids[0], ids[0] + 150))


def test_an_asked_decoding_keeps_the_softmax_head():
    cfg, _, r = recipe.choose(TaggerConfig(decode="constrained"), corpus(sentences(5)), 384)
    assert cfg.head == "softmax" and "decode='constrained'" in r.head_reason


def test_holdout_of_a_corpus_without_documents_takes_sentences_and_is_capped():
    kept, held = recipe.holdout(sentences(1_500), seed=3)
    assert len(held) == 150 and len(kept) == 1_350
    assert len(recipe.holdout(sentences(30_000), seed=0)[1]) == 1_000  # at most HOLDOUT_MAX


def test_choose_fills_only_what_is_left_open():
    cfg, _, r = recipe.choose(TaggerConfig(), corpus(sentences(50), sentences(5)), hidden_size=384)
    assert (cfg.batch_size, cfg.learning_rate, cfg.head, r.dev) == (16, 1e-4, "crf", "given")
    assert recipe.choose(TaggerConfig(label_all_subtokens=True), corpus(sentences(5)), 384)[0].head == "softmax"
    assert recipe.choose(TaggerConfig(head="softmax"), corpus(sentences(5)), 384)[2].head_reason == "as asked"
    assert "under 5,000 train sentences" in r.batch_size_reason and "384" in r.learning_rate_reason
    cfg, _, r = recipe.choose(TaggerConfig(batch_size=8, learning_rate=2e-5), corpus(sentences(50)), 768)
    assert (cfg.batch_size, cfg.learning_rate) == (8, 2e-5)
    assert r.batch_size_reason == r.learning_rate_reason == "as asked"


def test_choose_holds_out_dev_only_for_a_large_corpus_with_the_schedule_left_open():
    big = corpus(sentences(1_000))
    _, held, r = recipe.choose(TaggerConfig(), big, 384)
    assert (len(held.train), len(held.dev), r.dev) == (900, 100, "held out")
    assert "100 of 1,000 train sentences held out" in r.describe("x")
    _, small, r = recipe.choose(TaggerConfig(), corpus(sentences(999)), 384)
    assert (small.dev, r.dev) == (None, "none") and "under 1,000" in r.dev_reason
    _, asked, r = recipe.choose(TaggerConfig(epochs=2), big, 384)  # epochs given: train on everything, as asked
    assert asked.dev is None and len(asked.train) == 1_000
    with pytest.raises(tfner.ConfigError, match="patience"):
        recipe.choose(TaggerConfig(patience=2), corpus(sentences(10)), 384)


def test_the_learning_rate_follows_the_encoders_own_config(tiny_encoder):
    from tfner.modeling import encoder

    assert encoder.hidden_size(tiny_encoder) == 32  # conftest's tiny BERT
    assert encoder.hidden_size("all-MiniLM-L6-v2") == 384  # the offline encoder
    with pytest.raises(tfner.EncoderError):
        encoder.hidden_size("/nonexistent/encoder")
