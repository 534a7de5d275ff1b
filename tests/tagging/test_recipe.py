"""tfner.tagging.recipe: the options left to tfner, filled by rules on the corpus and the encoder."""

from __future__ import annotations

import itertools

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


def test_holdout_of_a_corpus_without_documents_takes_sentences_as_asked():
    kept, held = recipe.holdout(sentences(1_500), seed=3)
    assert len(held) == 150 and len(kept) == 1_350
    assert len(recipe.holdout(sentences(30_000), seed=0, fraction=0.2)[1]) == 6_000  # the fraction asked, no cap


def test_choose_fills_only_what_is_left_open():
    cfg, _, r = recipe.choose(TaggerConfig(), corpus(sentences(50), sentences(5)), hidden_size=384)
    assert (cfg.batch_size, cfg.learning_rate, cfg.head, r.dev) == (16, 1e-4, "crf", "given")
    assert recipe.choose(TaggerConfig(label_all_subtokens=True), corpus(sentences(5)), 384)[0].head == "softmax"
    assert recipe.choose(TaggerConfig(head="softmax"), corpus(sentences(5)), 384)[2].head_reason == "as asked"
    assert "under 5,000 train sentences" in r.batch_size_reason and "384" in r.learning_rate_reason
    cfg, _, r = recipe.choose(TaggerConfig(batch_size=8, learning_rate=2e-5), corpus(sentences(50)), 768)
    assert (cfg.batch_size, cfg.learning_rate) == (8, 2e-5)
    assert r.batch_size_reason == r.learning_rate_reason == "as asked"


def test_the_dev_reason_names_which_rounds_weights_the_fit_keeps():
    """The console's recipe line says how the round is chosen: the default rule, and each asked for."""
    given = corpus(sentences(50), sentences(5))
    r = recipe.choose(TaggerConfig(), given, 384)[2]
    assert r.dev_reason.startswith("5 sentences given; keeps the best round's weights where dev finds them clearly "
                                   "better than the last's (in 95% of paired bootstrap resamples), else the last's")
    assert recipe.choose(TaggerConfig(restore_best=True), given, 384)[2].dev_reason == \
        "5 sentences given; keeps the best round's weights"
    assert recipe.choose(TaggerConfig(restore_best=False), given, 384)[2].dev_reason == \
        "5 sentences given; keeps the last round's weights"
    from tfner.tagging.inputs import read_corpus

    held = recipe.choose(TaggerConfig(restore_best=False), read_corpus(TaggerConfig(), [(["a"], ["O"])] * 20, 0.1),
                         384)[2]
    assert held.dev_reason.endswith("to score and stop early; keeps the last round's weights")


def test_without_dev_all_of_train_trains_at_any_size():
    for n in (10, 1_000, 50_000):
        _, kept, r = recipe.choose(TaggerConfig(), corpus(sentences(n)), 384)
        assert (len(kept.train), kept.dev, r.dev) == (n, None, "none")
        assert "all of train trains for the whole schedule" in r.dev_reason and "fit(train, 0.1)" in r.dev_reason
    _, asked, r = recipe.choose(TaggerConfig(epochs=2), corpus(sentences(1_000)), 384)
    assert asked.dev is None and len(asked.train) == 1_000 and "no early stopping" in r.dev_reason
    with pytest.raises(tfner.ConfigError, match="patience"):
        recipe.choose(TaggerConfig(patience=2), corpus(sentences(10)), 384)


def test_dev_given_as_a_fraction_holds_out_that_much_of_train_at_any_size():
    from tfner.tagging.inputs import read_corpus

    train = [(["alice", f"w{i}"], ["B-PER", "O"]) for i in range(40)]
    read = read_corpus(TaggerConfig(), train, 0.25)
    assert (read.dev, read.holdout, len(read.train)) == (None, 0.25, 40)
    cfg, held, r = recipe.choose(TaggerConfig(epochs=2), read, 384)  # epochs given: the slice is still held out
    assert (len(held.train), len(held.dev), r.dev) == (30, 10, "held out")  # round(0.25 * 40) = 10
    assert held.train + held.dev != read.train and sorted(map(id, held.train + held.dev)) == sorted(map(id, read.train))
    assert "10 of 40 train sentences held out as asked (dev=0.25, seed 0) to score; " in r.dev_reason  # no stopping
    assert "to score and stop early" in recipe.choose(TaggerConfig(epochs=2, patience=1), read, 384)[2].dev_reason
    # the batch size is sized by the sentences that train: 5,200 less a tenth is under 5,000
    _, _, r = recipe.choose(TaggerConfig(), Corpus(sentences(5_200), None, ["O"], [], None, holdout=0.1), 384)
    assert (r.batch_size, r.batch_size_reason) == (16, "under 5,000 train sentences")
    assert recipe.choose(TaggerConfig(), corpus(sentences(5_200)), 384)[2].batch_size == 32
    assert recipe.choose(TaggerConfig(seed=1), read, 384)[1].dev != held.dev  # seeded
    for bad in (0, 1, 1.5, -0.1, True):
        with pytest.raises(tfner.ConfigError, match="dev"):
            read_corpus(TaggerConfig(), train, bad)
    with pytest.raises(tfner.ConfigError, match="leaves none to train on"):
        recipe.choose(TaggerConfig(), read_corpus(TaggerConfig(), train[:1], 0.5), 384)


def test_the_command_lines_dev_is_a_file_or_else_a_fraction(tmp_path, monkeypatch):
    from tfner.cli import _dev

    monkeypatch.chdir(tmp_path)
    assert (_dev(None), _dev("0.1"), _dev("dev.conll")) == (None, 0.1, "dev.conll")
    (tmp_path / "0.5").write_text("a O\n", encoding="utf-8")  # a file of that name wins
    assert _dev("0.5") == "0.5"


def test_the_learning_rate_follows_the_encoders_own_config(tiny_encoder):
    from tfner.modeling import encoder

    assert encoder.hidden_size(tiny_encoder) == 32  # conftest's tiny BERT
    assert encoder.hidden_size("all-MiniLM-L6-v2") == 384  # the offline encoder
    with pytest.raises(tfner.EncoderError):
        encoder.hidden_size("/nonexistent/encoder")


class CountingTokenizer:
    """Two sub-words a word, as a fast tokenizer would count them (no special tokens)."""

    def __call__(self, words, is_split_into_words, add_special_tokens):
        assert is_split_into_words and not add_special_tokens
        return {"input_ids": [[7] * (2 * len(w)) for w in words]}


def with_words(train: list[Sentence], n: int) -> list[Sentence]:
    return [Sentence([f"w{i}"] * n, ["O"] * n, document=s.document) for i, s in enumerate(train)]


def test_context_is_packed_only_where_documents_give_a_sentence_neighbours():
    def chosen(train, **options):
        cfg, _, r = recipe.choose(TaggerConfig(**{"context": "auto", **options}), corpus(train), 384)
        return cfg.context, r.context_reason

    assert chosen(sentences(60)) == ("sentence", "no documents marked")  # a file without -DOCSTART-: one document
    assert chosen(sentences(60, per_document=1))[0] == "sentence"  # JSONL lines, or a random sample of a corpus
    assert chosen(sentences(60, per_document=2)) == ("sentence", "documents of 2.0 sentences on average, under 3")
    assert chosen(sentences(60, per_document=3)) == ("packed", "20 documents of 3.0 sentences on average")
    assert chosen(sentences(60, per_document=3), context="sentence") == ("sentence", "as asked")


def test_packed_windows_are_256_long_and_overlap_by_63_unless_asked():
    auto = TaggerConfig(context="auto")
    cfg, _, _ = recipe.choose(auto, corpus(sentences(60, per_document=6)), 384)
    assert (cfg.context, cfg.max_length, cfg.window_overlap, cfg.windowing.overlap) == ("packed", 256, 63, 63)
    assert cfg.sentences_alone == 0.5  # config_ records what trained
    assert TaggerConfig(context="packed", max_length=100).chosen_overlap == 49  # 63 does not fit: (100 - 2) // 2
    cfg, _, _ = recipe.choose(auto.replace(max_length=128, window_overlap=10), corpus(sentences(60, per_document=6)),
                              384)
    assert (cfg.context, cfg.max_length, cfg.window_overlap) == ("packed", 128, 10)  # as asked
    cfg, _, r = recipe.choose(auto, corpus(sentences(60)), 384)
    assert (cfg.context, cfg.max_length, cfg.window_overlap, cfg.sentences_alone) == ("sentence", 128, 32, 0.0)
    assert r.describe("x").startswith("recipe: sentence context (no documents marked), batch 16")
    cfg, _, r = recipe.choose(TaggerConfig(), corpus(sentences(60, per_document=6)), 384)
    assert (cfg.context, cfg.window_overlap) == ("sentence", 32)  # the default: sentence windows, as set
    assert r.describe("x").startswith("recipe: batch 16")
    assert TaggerConfig(max_length=32).windowing.overlap == 15  # 32 does not fit a window of 32: the most allowed
    assert TaggerConfig(context="packed", max_length=64).windowing.overlap == 31
    cfg, _, _ = recipe.choose(auto.replace(window_overlap=10), corpus(sentences(60, per_document=6)), 384)
    assert cfg.window_overlap == 10  # asked


def test_a_packed_batch_holds_about_as_many_sentences_as_the_sentence_rules_batch():
    tokenizer = CountingTokenizer()
    large = with_words(sentences(6_000, per_document=20), 8)  # 16 sub-words a sentence
    auto = TaggerConfig(context="auto")
    cfg, _, r = recipe.choose(auto, corpus(large), 384, tokenizer)
    # 32 sentences of 16 sub-words = 512; a window of 256 overlapping by 63 brings 256 - 2 - 63 = 191 new ones
    assert cfg.batch_size == round(32 * 16 / 191) == 3
    assert "packed windows of 191 new sub-words holding 16.0 a sentence" in r.batch_size_reason
    small = with_words(sentences(100, per_document=10), 8)
    assert recipe.choose(auto, corpus(small), 384, tokenizer)[0].batch_size == round(16 * 16 / 191) == 1
    short = auto.replace(max_length=128)  # 128 - 2 - 63 = 63 new sub-words a window
    assert recipe.choose(short, corpus(large), 384, tokenizer)[0].batch_size == round(32 * 16 / 63) == 8
    assert recipe.choose(auto.replace(batch_size=32), corpus(large), 384, tokenizer)[0].batch_size == 32  # asked
    unpacked = with_words(sentences(100), 8)
    assert recipe.choose(auto, corpus(unpacked), 384, tokenizer)[0].batch_size == 16
    assert recipe.packed_batch(4, 1.0, 128, 63) == 1  # never an empty batch


def test_tokens_per_sentence_counts_the_tokenizers_sub_words(tiny_tokenizer):
    train = [Sentence(["Alice", "flew", "to", "Paris"], ["O"] * 4), Sentence(["zzqx", "café", "!"], ["O"] * 3)]
    brute = sum(len(tiny_tokenizer.tokenize(w)) for s in train for w in s.words) / len(train)
    assert recipe.tokens_per_sentence(tiny_tokenizer, train, seed=0) == pytest.approx(brute)


def test_a_shuffled_corpus_is_not_packed_though_its_sentences_keep_their_document_ids():
    import random

    ordered = sentences(600, per_document=5)  # 120 documents of 5, in file order: packed
    assert recipe.context(ordered)[0] == "packed"
    shuffled = random.Random(0).sample(ordered, len(ordered))  # a random sample: neighbours are of other documents
    assert recipe.context(shuffled)[0] == "sentence"


def test_a_prepared_folder_keeps_sentence_windows():
    manifest = {"sentences": 6_000, "labels": ["O"]}
    cfg, _, r = recipe.choose(TaggerConfig(context="auto"), Corpus([], None, ["O"], [], manifest), 384)
    assert (cfg.context, cfg.window_overlap, cfg.batch_size) == ("sentence", 32, 32)
    assert r.context_reason == "a prepared folder holds sentence windows"


def test_a_seeded_quarter_of_packed_training_sentences_get_windows_of_their_own():
    from tfner.tagging.inputs import alone

    train = sentences(400, per_document=10)
    assert TaggerConfig(context="packed").chosen_sentences_alone == 0.5  # the default
    packed = TaggerConfig(context="packed", seed=3, sentences_alone=0.25)
    out = alone(train, packed)
    kept, moved = out[:300], out[300:]
    assert len(out) == 400 and all(s.document < 40 for s in kept)  # 0.25 of 400 moved to the end
    assert len({s.document for s in moved}) == 100 and min(s.document for s in moved) >= 40  # a new id each
    assert sorted(repr(s.words) + repr(s.tags) for s in out) == sorted(repr(s.words) + repr(s.tags) for s in train)  # same
    order = {id(s): i for i, s in enumerate(train)}
    assert [order[id(s)] for s in kept] == sorted(order[id(s)] for s in kept)  # the rest untouched, in their order
    runs = [d for d, _ in itertools.groupby(s.document for s in out)]
    assert len(runs) == len(set(runs))  # each document one run of neighbours: no taken sentence cuts it in two
    assert alone(train, packed) == out and alone(train, packed.replace(seed=4)) != out  # seeded
    assert alone(train, packed.replace(sentences_alone=0.0)) == train
    assert alone(train, TaggerConfig(context="sentence")) == train  # only packed windows have neighbours to drop
