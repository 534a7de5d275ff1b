"""Reading CoNLL column files and in-memory lists into IOB2 sentences.

Expected counts come from the SOURCE.md files in ../shared/data (counted by a separate
script), not from running tfner; entity counts use the small chunker below, written
independently of tfner.data.schemes.
"""

from __future__ import annotations

import collections
import functools
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from tfner.data.datasets import wnut17_path
from tfner.data.readers import read_conll
from tfner.data.sources import as_sentences
from tfner.errors import ConfigError, DataFormatError


def write(tmp_path: Path, text: str, name: str = "data.conll") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def count_entities(tag_seqs) -> collections.Counter:
    """conlleval chunking: an entity starts at B-, or at I- not continuing the same type."""
    counts: collections.Counter = collections.Counter()
    for tags in tag_seqs:
        current = None  # type of the entity in progress
        for tag in tags:
            kind = None if tag == "O" else tag[2:]
            if kind is not None and (tag.startswith("B-") or kind != current):
                counts[kind] += 1
            current = kind
    return counts


def pairs(sentences):
    return [(s.words, s.tags) for s in sentences]


# --- hand-made files -------------------------------------------------------------------


def test_sentence_breaks_on_empty_and_whitespace_only_lines_and_docstart_is_skipped(tmp_path):
    text = (
        "-DOCSTART- O\n"        # 1
        "\n"                    # 2
        "Acme\tB-ORG\n"           # 3
        "hires\tO\n"          # 4
        "\t\n"                  # 5  a lone tab, as in WNUT-17's train file
        "Dutch\tB-MISC\n"      # 6
        "call\tO\n"             # 7
        "   \n"                 # 8  spaces only
        "\n"                    # 9  a second break in a row makes no empty sentence
        "Ann\tB-PER"          # 10 no newline at end of file
    )
    sents = read_conll(write(tmp_path, text))
    assert pairs(sents) == [
        (("Acme", "hires"), ("B-ORG", "O")),
        (("Dutch", "call"), ("B-MISC", "O")),
        (("Ann",), ("B-PER",)),
    ]
    assert [s.line for s in sents] == [3, 6, 10]
    assert [s.document for s in sents] == [0, 0, 0]  # one -DOCSTART- before any sentence: one document


def test_docstart_lines_number_the_documents(tmp_path):
    text = ("Ann B-PER\n\n"                       # before any -DOCSTART-: document 0
            "-DOCSTART- O\n\nBo B-PER\nran O\n\nCy B-PER\n\n"  # document 1, two sentences
            "-DOCSTART- O\n\n-DOCSTART- O\n\n"     # an empty document numbers nothing
            "Di B-PER\n-DOCSTART- O\nEd B-PER\n")    # a -DOCSTART- inside a sentence ends it
    sents = read_conll(write(tmp_path, text))
    assert [(s.words[0], s.document) for s in sents] == [("Ann", 0), ("Bo", 1), ("Cy", 1), ("Di", 2), ("Ed", 3)]
    # lists are one document; Sentence objects keep theirs
    assert {s.document for s in as_sentences([(["a"], ["O"]), (["b"], ["O"])])} == {0}
    assert [s.document for s in as_sentences(sents)] == [0, 1, 1, 2, 3]


@pytest.mark.parametrize(
    "lines",
    [
        ["Acme B-ORG", "hires O", "Dutch B-MISC"],
        ["Acme NN I-NP B-ORG", "hires VB I-VP O", "Dutch AJ I-NP B-MISC"],
        ["Acme\tNNP\tI-NP\tB-ORG", "hires\tVBZ\tI-VP\tO", "Dutch\tJJ\tI-NP\tB-MISC"],
    ],
    ids=["2-columns", "4-columns", "4-columns-tabs"],
)
def test_word_is_first_column_and_tag_is_last(tmp_path, lines):
    sents = read_conll(write(tmp_path, "\n".join(lines) + "\n"))
    assert pairs(sents) == [(("Acme", "hires", "Dutch"), ("B-ORG", "O", "B-MISC"))]


# IOB1 (CoNLL-2003 original style) and its IOB2 form, converted by hand:
# I-PER I-PER -> one PER; 'John I-PER' 'Mary B-PER' -> two PERs; I-LOC then I-MISC -> two.
IOB1_TEXT = "Ann I-PER\nSmith I-PER\nand O\nJohn I-PER\nMary B-PER\nin O\nLyon I-LOC\nGermany I-MISC\n"
IOB2_TAGS = ("B-PER", "I-PER", "O", "B-PER", "B-PER", "O", "B-LOC", "B-MISC")


@pytest.mark.parametrize("scheme", ["auto", "iob1"])
def test_iob1_file_is_converted_to_iob2(tmp_path, scheme):
    sents = read_conll(write(tmp_path, IOB1_TEXT), scheme=scheme)
    assert sents[0].tags == IOB2_TAGS
    assert sents[0].words == ("Ann", "Smith", "and", "John", "Mary", "in", "Lyon", "Germany")


def test_iob2_file_is_read_unchanged_under_auto_and_iob2(tmp_path):
    text = "".join(f"w{i} {t}\n" for i, t in enumerate(IOB2_TAGS))
    path = write(tmp_path, text)
    assert read_conll(path, scheme="auto")[0].tags == IOB2_TAGS
    assert read_conll(path, scheme="iob2")[0].tags == IOB2_TAGS


@pytest.mark.parametrize("before", ["D O", "D B-PER"], ids=["after-O", "after-other-type"])
def test_scheme_iob2_rejects_i_tag_not_continuing_an_entity_with_file_and_line(tmp_path, before):
    text = "-DOCSTART- O\n\nA O\nB B-PER\n\nC O\n" + before + "\nE I-LOC\n\nF O\n"
    path = write(tmp_path, text)  # 'E I-LOC' is on line 8
    with pytest.raises(DataFormatError) as info:
        read_conll(path, scheme="iob2")
    assert f"{path}:8:" in str(info.value)
    assert "I-LOC" in str(info.value)
    assert (info.value.source, info.value.line) == (str(path), 8)


def test_word_without_tag_column_names_file_and_line(tmp_path):
    path = write(tmp_path, "Acme B-ORG\nrejects O\n\nDutch B-MISC\ncall   \n")  # line 5 has no tag
    with pytest.raises(DataFormatError) as info:
        read_conll(path)
    assert f"{path}:5:" in str(info.value)
    assert info.value.line == 5


@pytest.mark.parametrize("tag", ["X-PER", "B-", "b-PER", "I_PER"])
def test_malformed_tag_names_file_and_line(tmp_path, tag):
    path = write(tmp_path, f"-DOCSTART- O\n\nAcme B-ORG\n\nDutch B-MISC\nsays O\nhi {tag}\n")
    with pytest.raises(DataFormatError) as info:
        read_conll(path)
    assert f"{path}:7:" in str(info.value)
    assert repr(tag) in str(info.value)


def test_error_line_is_right_when_docstart_sits_inside_a_sentence(tmp_path):
    path = write(tmp_path, "a O\n-DOCSTART- O\nb O\nc I-X\n")  # 'c I-X' is line 4
    with pytest.raises(DataFormatError) as info:
        read_conll(path, scheme="iob2")
    assert info.value.line == 4


def test_unknown_scheme_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        read_conll(write(tmp_path, "Acme B-ORG\n"), scheme="bio")
    with pytest.raises(ConfigError):
        as_sentences([(["Acme"], ["B-ORG"])], scheme="IOB2")


# --- in-memory data --------------------------------------------------------------------


def test_in_memory_length_mismatch_names_the_item():
    data = [(["Acme", "hires"], ["B-ORG", "O"]), (["Dutch", "call"], ["B-MISC"])]
    with pytest.raises(DataFormatError) as info:
        as_sentences(data, name="train")
    assert str(info.value).startswith("train[1]")


@pytest.mark.parametrize("item", [("Acme hires", ["B-ORG", "O"]), (["Acme", "hires"], "O")])
def test_in_memory_bare_string_is_rejected(item):
    with pytest.raises(DataFormatError) as info:
        as_sentences([(["ok"], ["O"]), item], name="train")
    assert "train[1]" in str(info.value)


def test_in_memory_iob1_is_converted_without_touching_the_input():
    tags = ["I-PER", "I-PER", "O", "I-LOC"]
    sents = as_sentences([(["Ann", "Smith", "in", "Lyon"], tags)], name="train")
    assert sents[0].tags == ("B-PER", "I-PER", "O", "B-LOC")
    assert tags == ["I-PER", "I-PER", "O", "I-LOC"]


def test_in_memory_iob2_violation_names_item_and_word():
    with pytest.raises(DataFormatError) as info:
        as_sentences([(["a"], ["O"]), (["b", "c"], ["O", "I-LOC"])], name="dev", scheme="iob2")
    assert str(info.value).startswith("dev[1], word 1:")


def test_in_memory_non_string_tag_is_a_data_format_error():
    with pytest.raises(DataFormatError):
        as_sentences([(["Acme"], [None])], name="train")


# --- shipped WNUT-17 (counts from shared/data/wnut17/SOURCE.md) -------------------------

WNUT_TYPES = ("person", "location", "group", "creative-work", "corporation", "product")
WNUT = {  # split: (sentences, tokens, entities per type in WNUT_TYPES order)
    "train": (3394, 62730, (660, 548, 264, 140, 221, 142)),
    "dev": (1009, 15733, (470, 74, 39, 105, 34, 114)),
    "test": (1287, 23394, (429, 150, 165, 142, 66, 127)),
}


@pytest.mark.parametrize("split", list(WNUT))
def test_wnut17_counts(split):
    n_sents, n_tokens, per_type = WNUT[split]
    path = wnut17_path(split)
    sents = read_conll(path, scheme="iob2")
    assert len(sents) == n_sents
    assert sum(len(s.words) for s in sents) == n_tokens
    # second route for tokens: non-blank lines of the raw file (WNUT has no -DOCSTART-)
    assert sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()) == n_tokens
    assert count_entities(s.tags for s in sents) == dict(zip(WNUT_TYPES, per_type, strict=True))


def test_wnut17_dev_keeps_the_bom_character_inside_a_token():
    sents = read_conll(wnut17_path("dev"))
    hits = [(s.line + i) for s in sents for i, w in enumerate(s.words) if w == "Dubbz\ufeff"]
    assert hits == [16730]  # SOURCE.md: line 16730


# --- CoNLL-2003 (research-only, read from ../shared/data) ------------------------------

CONLL = {  # split: (IOB1 file, IOB2 file, sentences, tokens, documents)
    "train": ("eng.train", "train.txt", 14041, 203621, 946),
    "dev": ("eng.testa", "dev.txt", 3250, 51362, 216),
    "test": ("eng.testb", "test.txt", 3453, 46435, 231),
}


@functools.cache
def read_cached(path: str, scheme: str):
    return read_conll(path, scheme=scheme)


@pytest.fixture(scope="module")
def conll_dirs():
    iob1, iob2 = SHARED_DATA / "conll2003", SHARED_DATA / "conll2003_iob2"
    if not (iob1.is_dir() and iob2.is_dir()):
        pytest.skip(f"CoNLL-2003 not found at {SHARED_DATA}; it is research-only and read from ../shared/data")
    return iob1, iob2


@pytest.mark.parametrize("split", list(CONLL))
def test_conll2003_counts(conll_dirs, split):
    name, _, n_sents, n_tokens, n_docs = CONLL[split]
    sents = read_cached(str(conll_dirs[0] / name), "auto")
    assert len(sents) == n_sents
    assert sum(len(s.words) for s in sents) == n_tokens
    # documents: numbered 0.. in file order, as many as the release has
    assert [s.document for s in sents] == sorted(s.document for s in sents)
    assert len({s.document for s in sents}) == n_docs
    if split == "train":
        assert count_entities(s.tags for s in sents) == dict(PER=6600, ORG=6321, LOC=7140, MISC=3438)


@pytest.mark.parametrize("split", list(CONLL))
def test_conll2003_iob1_original_reads_as_the_iob2_copy(conll_dirs, split):
    iob1_name, iob2_name, _, _, _ = CONLL[split]
    from_iob1 = read_cached(str(conll_dirs[0] / iob1_name), "auto")
    from_iob2 = read_cached(str(conll_dirs[1] / iob2_name), "iob2")
    assert pairs(from_iob1) == pairs(from_iob2)


def test_conll2003_iob1_rejected_under_iob2_at_the_first_offending_line(conll_dirs):
    path = conll_dirs[0] / "eng.train"
    # Second route (no corpus text is quoted here): scan the raw lines for the first I- tag
    # that follows O or a sentence/document break, i.e. an entity opened with I-.
    expected, prev = None, "O"
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            prev = "O"
            continue
        if cols[-1].startswith("I-") and (prev == "O" or prev[2:] != cols[-1][2:]):
            expected = lineno
            break
        prev = cols[-1]
    assert expected is not None
    with pytest.raises(DataFormatError) as info:
        read_conll(path, scheme="iob2")
    assert f"{path}:{expected}:" in str(info.value)


def test_non_utf8_bytes_name_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.conll"
    path.write_bytes("Acme B-ORG\n\nK\xf6ln B-LOC\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as info:
        read_conll(path)
    assert info.value.line == 3 and str(path) in str(info.value)
    assert [s.words for s in read_conll(path, encoding="latin-1")] == [("Acme",), ("K\xf6ln",)]


def test_tags_that_are_not_a_list_are_a_data_error():
    with pytest.raises(DataFormatError, match=r"train\[0\]"):
        as_sentences([(["Acme"], None)], name="train")


def test_a_no_break_space_belongs_to_the_word(tmp_path):
    path = tmp_path / "nbsp.conll"
    path.write_text("New\u00a0York B-LOC\nis O\n", encoding="utf-8")
    [sentence] = read_conll(path)
    assert sentence.words == ("New\u00a0York", "is") and sentence.tags == ("B-LOC", "O")


def test_a_utf8_byte_order_mark_does_not_make_docstart_a_sentence(tmp_path):
    # issue 9's review: decoded as "utf-8", the BOM glued itself to -DOCSTART-, which became a word
    path = write(tmp_path, "\ufeff-DOCSTART- O\n\nAcme B-ORG\nhires O\n")
    assert (tmp_path / "data.conll").read_bytes().startswith(b"\xef\xbb\xbf")
    assert pairs(read_conll(path)) == [(("Acme", "hires"), ("B-ORG", "O"))]


def test_files_joined_by_cat_keep_their_documents_though_each_has_a_byte_order_mark(tmp_path):
    one = "\ufeff-DOCSTART- O\n\nAcme B-ORG\nhires O\n\n"
    path = tmp_path / "joined.conll"
    path.write_bytes((one + one.replace("Acme", "Bolt")).encode("utf-8"))  # `cat a b`: the second BOM mid-file
    read = read_conll(path)
    assert pairs(read) == [(("Acme", "hires"), ("B-ORG", "O")), (("Bolt", "hires"), ("B-ORG", "O"))]
    assert [s.document for s in read] == [0, 1]


def test_a_decoding_error_after_a_byte_order_mark_names_its_line_and_byte(tmp_path):
    body = b"Acme B-ORG\nhires O\n\n\xffbad O\n"
    for bom in (b"", b"\xef\xbb\xbf"):
        path = tmp_path / "bad.conll"
        path.write_bytes(bom + body)
        at = len(bom) + body.index(b"\xff")  # the file's byte, counted by hand
        with pytest.raises(DataFormatError, match=rf":4: .* at byte 0 of the line \(byte {at} of the file\)"):
            read_conll(path)


def test_a_utf16_file_reads_with_its_encoding(tmp_path):
    # issue 9's review: lines were split on the byte "\n" before decoding, which cuts UTF-16 apart
    path = tmp_path / "utf16.conll"
    path.write_bytes("K\xf6ln B-LOC\nliegt O\n\nAnn B-PER\n".encode("utf-16"))
    assert pairs(read_conll(path, encoding="utf-16")) == [(("K\xf6ln", "liegt"), ("B-LOC", "O")), (("Ann",), ("B-PER",))]


def test_a_bad_byte_is_located_by_line_and_byte(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_bytes(b"Acme B-ORG\n\nab\xffc O\n")
    with pytest.raises(DataFormatError, match=r"bad\.conll:3: .*at byte 2 of the line \(byte 14 of the file\)"):
        read_conll(path)


def test_word_and_tag_columns_can_be_chosen(tmp_path):
    path = write(tmp_path, "1\tAcme\tNNP\tB-ORG\tx\n2\thires\tVBZ\tO\tx\n\n1\tAnn\tNNP\tB-PER\tx\n")
    sents = read_conll(path, word_column=1, tag_column=3)
    assert pairs(sents) == [(("Acme", "hires"), ("B-ORG", "O")), (("Ann",), ("B-PER",))]
    assert pairs(read_conll(path, word_column=-4, tag_column=-2)) == pairs(sents)
    short = write(tmp_path, "1\tAcme\tNNP\tB-ORG\n2\thires\n", name="short.conll")
    with pytest.raises(DataFormatError, match=r"short\.conll:2: expected a word and a tag .*\(word column 1, tag column 3\)"):
        read_conll(short, word_column=1, tag_column=3)


@pytest.mark.parametrize("text,line,message", [
    # "New York" written with a space: the words would read as Visit, New, now and "York" would be lost
    ("Visit O\nNew York B-LOC\nnow O\n", 2, "3 columns where line 1 has 2"),
    # a line that lost its chunk column: its tag would become the chunk and the POS the tag
    ("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nGerman JJ B-ORG\n", 4, "3 columns where line 1 has 4"),
])
def test_a_line_with_another_number_of_columns_names_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(DataFormatError, match=message) as info:
        read_conll(path, aux_columns={"pos": 1} if text.startswith("EU") else None)
    assert (info.value.source, info.value.line) == (str(path), line)


def test_old_mac_line_endings_read_as_lines(tmp_path):
    text = "EU B-ORG\nrejects O\nGerman B-MISC\n\nPeter B-PER\n"
    unix = pairs(read_conll(write(tmp_path, text, "unix.conll")))
    assert unix == [(("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC")), (("Peter",), ("B-PER",))]
    for ending, name in (("\r", "mac.conll"), ("\r\n", "dos.conll")):
        path = tmp_path / name
        path.write_bytes(text.replace("\n", ending).encode("utf-8"))
        assert pairs(read_conll(path)) == unix


def test_a_crlf_file_rewritten_in_text_mode_keeps_its_sentences(tmp_path):
    # \r\r\n: a CRLF file written again through Windows text mode; one line end, not a line and a blank one
    path = tmp_path / "twice.conll"
    path.write_bytes(b"EU B-ORG\r\r\nrejects O\r\r\n\r\r\nPeter B-PER\r\r\n")
    assert pairs(read_conll(path)) == [(("EU", "rejects"), ("B-ORG", "O")), (("Peter",), ("B-PER",))]


def test_a_bad_byte_in_an_old_mac_file_is_located_by_its_line(tmp_path):
    path = tmp_path / "mac.conll"
    path.write_bytes(b"EU B-ORG\rrej\xffects O\r")
    with pytest.raises(DataFormatError, match=r"mac\.conll:2: not valid utf-8: .* at byte 3 of the line"):
        read_conll(path)
