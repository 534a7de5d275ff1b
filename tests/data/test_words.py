"""split_words: offsets, punctuation, whitespace, format characters.

Second route: on text without control or format characters (which BERT deletes), the
words must be exactly those of transformers' ``BasicTokenizer`` (BERT's split before
WordPiece), so entity boundaries fall where the model's own word boundaries are.
"""

from __future__ import annotations

import itertools
import random
import unicodedata

import pytest
from transformers import BasicTokenizer

from tfner.data.words import split_words

BERT_POOL = (
    "abcXYZ019_"              # ASCII letters, digits, underscore
    ".,;:!?'\"()-/&@#$%"      # ASCII punctuation and symbols
    " \t\n\r"                 # ASCII whitespace
    "\u00a0\u2003\u3000"        # Unicode space separators (NBSP, em space, ideographic)
    "éßØдЖ中文ひ٣²\u0301\u093f"  # non-ASCII letters, digits, combining marks
    "😂€°…—’"                 # symbols and non-ASCII punctuation
)
POOL = BERT_POOL + "\x0b\x0c\u2028\u0085\x1c" + "\ufeff\u200b\u200d"  # + other whitespace, format chars


def bert_words(text: str) -> list[str]:
    return BasicTokenizer(do_lower_case=False, tokenize_chinese_chars=True, strip_accents=False).tokenize(text)


def random_texts(n: int = 3000, pool: str = POOL):
    rng = random.Random(1729)
    for _ in range(n):
        yield "".join(rng.choice(pool) for _ in range(rng.randint(0, 25)))


def test_offsets_slice_back_to_the_word_on_random_text():
    for text in random_texts():
        words = split_words(text)
        for word, start, end in words:
            assert text[start:end] == word
            assert word and not any(ch.isspace() for ch in word)
        # words are in order and do not overlap
        assert all(a[2] <= b[1] for a, b in itertools.pairwise(words))
        # nothing but whitespace is dropped
        assert "".join(w for w, _, _ in words) == "".join(ch for ch in text if not ch.isspace())


def test_matches_bert_basic_tokenizer_on_random_text():
    for text in random_texts(pool=BERT_POOL):
        # BasicTokenizer NFC-normalises its output; tfner keeps the original characters.
        assert [unicodedata.normalize("NFC", w) for w, _, _ in split_words(text)] == bert_words(text), repr(text)


@pytest.mark.parametrize(
    "text, words",
    [
        ("Dr. O'Neil", ["Dr", ".", "O", "'", "Neil"]),
        ("U.S.A.", ["U", ".", "S", ".", "A", "."]),
        ("hello,world!!", ["hello", ",", "world", "!", "!"]),
        ("_id_", ["_", "id", "_"]),
        ("e-mail @bob #tag", ["e", "-", "mail", "@", "bob", "#", "tag"]),
        ("(3.5%)", ["(", "3", ".", "5", "%", ")"]),
        ("Zürich’s", ["Zürich", "’", "s"]),
        ("東京 2020", ["東", "京", "2020"]),
        ("5€ café", ["5€", "café"]),
    ],
)
def test_punctuation_is_split_off(text, words):
    assert [w for w, _, _ in split_words(text)] == words


def test_whitespace_of_every_kind_separates_words_and_is_never_part_of_one():
    text = "Alice\tflew\nto\r\nNew\u00a0York\u2003in\u3000May\x0b."
    assert split_words(text) == [
        ("Alice", 0, 5), ("flew", 6, 10), ("to", 11, 13), ("New", 15, 18),
        ("York", 19, 23), ("in", 24, 26), ("May", 27, 30), (".", 31, 32),
    ]


@pytest.mark.parametrize("text", ["", " ", "\t\n \u00a0\u3000"])
def test_empty_or_blank_text_has_no_words(text):
    assert split_words(text) == []


def test_bom_is_its_own_word():
    # U+FEFF is a format character, not whitespace (WNUT-17 dev has the token 'Dubbz\ufeff').
    assert "\ufeff".isspace() is False
    assert split_words("Dubbz\ufeff") == [("Dubbz\ufeff", 0, 6)]  # inside a word, it stays there
    assert split_words("\ufeff hi") == [("\ufeff", 0, 1), ("hi", 2, 4)]


@pytest.mark.parametrize("word", ["cafe\u0301", "हिन्दी"])
def test_combining_marks_stay_inside_the_word(word):
    assert split_words(word) == [(word, 0, len(word))]
