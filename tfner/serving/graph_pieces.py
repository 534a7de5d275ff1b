"""Raw text -> words with character and byte offsets and their WordPiece ids, in a TensorFlow graph.

Steps 1-3 of the text path (:mod:`tfner.serving.text_graph`), mirroring the Python path one
for one:

1. decode UTF-8 into code points (invalid bytes become U+FFFD, as Python's
   ``bytes.decode("utf-8", "replace")``), with the byte offset of each;
2. split words where :func:`tfner.data.words.split_words` splits (a run table from
   :mod:`tfner.data.charmap`, looked up with a binary search);
3. normalise each word as the encoder's fast tokenizer does (drop, map or keep each code
   point; table read off the tokenizer) and cut it into WordPiece ids with the encoder's
   vocabulary (TF-Text's ``WordpieceTokenizeWithOffsets``, linked by every TF Serving
   release from 2.14 on); a word with no piece, or over the tokenizer's character limit,
   becomes ``[UNK]``.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf
import tensorflow_text as tf_text

from tfner.data.charmap import ALONE, SPACE, WORD, NormalizerTable, Runs


def in_graph(tokenizer) -> bool:
    """Whether the text path can run ``tokenizer`` in the graph: WordPiece only (BERT, DistilBERT,
    ELECTRA). Byte-level BPE (RoBERTa) and Unigram (XLM-RoBERTa) have no op TF Serving links."""
    return type(tokenizer.backend_tokenizer.model).__name__ == "WordPiece"


def _runs(runs: Runs, name: str) -> tuple[tf.Tensor, tf.Tensor]:
    return (tf.constant(runs.starts, tf.int32, name=f"{name}_starts"),
            tf.constant(runs.values, tf.int32, name=f"{name}_values"))


def _lookup_runs(starts: tf.Tensor, values: tf.Tensor, cps: tf.Tensor) -> tf.Tensor:
    return tf.gather(values, tf.searchsorted(starts, cps, side="right") - 1)


class GraphWordPieces(tf.Module):
    """Call with a ``[batch]`` string tensor (inside a ``tf.function``) for ``(words, pieces)``.

    ``words`` maps ``row``/``start``/``end`` (code points) and ``start_byte``/``end_byte`` to
    ``[words]`` int64 tensors over all texts, in text order; ``pieces`` is a ragged
    ``[words, (pieces)]`` int32 tensor (``[UNK]`` for a word with none; at most ``max_pieces``).
    """

    def __init__(self, vocab: Mapping[str, int], unk_id: int, split: Runs, normalizer: NormalizerTable, *,
                 max_pieces: int, max_chars_per_word: int):
        super().__init__(name="tfner_word_pieces")
        self.max_pieces = max_pieces
        self.max_chars = max_chars_per_word
        self.split_starts, self.split_values = _runs(split, "split")
        self.drop_starts, self.drop_values = _runs(normalizer.dropped, "drop")
        # A sentinel key below every code point, so the table is never empty.
        self.map_keys = tf.constant((-1, *normalizer.mapped_keys), tf.int32, name="map_keys")
        self.map_values = tf.constant(("", *normalizer.mapped_values), tf.string, name="map_values")
        tokens = sorted(vocab, key=vocab.__getitem__)
        init = tf.lookup.KeyValueTensorInitializer(tf.constant(tokens), tf.constant([vocab[t] for t in tokens],
                                                                                    tf.int64))
        self.vocab_table = tf.lookup.StaticVocabularyTable(init, num_oov_buckets=1)
        self.unk_token = unk_token = next(t for t, i in vocab.items() if i == unk_id)
        # Words longer than the character limit are emptied first (-> [UNK]); the byte
        # limit only has to let every shorter word through.
        self.wordpiece = tf_text.WordpieceTokenizer(self.vocab_table, suffix_indicator="##",
                                                    max_bytes_per_word=4 * max_chars_per_word + 4,
                                                    token_out_type=tf.int64, unknown_token=unk_token)

    def __call__(self, texts):
        words, flat, segment, n_words = self._words(texts)
        return words, self._pieces(self._normalized(flat, segment, n_words))

    # --- 1-2: code points and words -------------------------------------------------
    def _words(self, texts):
        cps, byte_starts = tf.strings.unicode_decode_with_offsets(texts, "UTF-8", errors="replace",
                                                                  replacement_char=0xFFFD)
        flat = cps.flat_values
        n_chars = tf.shape(flat, out_type=tf.int64)[0]
        row = cps.value_rowids()
        pos = tf.range(n_chars)
        local = pos - tf.gather(cps.row_splits, row)  # code-point index inside its text
        cls = _lookup_runs(self.split_starts, self.split_values, flat)
        prev = tf.concat([[SPACE], cls[:-1]], 0)
        prev = tf.where(tf.equal(local, 0), SPACE, prev)
        in_word = tf.not_equal(cls, SPACE)
        starts = tf.equal(cls, ALONE) | (tf.equal(cls, WORD) & tf.not_equal(prev, WORD))
        n_words = tf.reduce_sum(tf.cast(starts, tf.int64))
        word_of_char = tf.cumsum(tf.cast(starts, tf.int64)) - 1
        segment = tf.where(in_word, word_of_char, n_words)  # spaces go to a discarded segment
        first_char = tf.boolean_mask(pos, starts)
        end_char = tf.math.unsorted_segment_max(pos + 1, segment, n_words + 1)[:n_words]
        word_row = tf.gather(row, first_char)
        text_start = tf.gather(cps.row_splits, word_row)
        text_bytes = tf.cast(tf.strings.length(texts), tf.int64)
        flat_bytes = byte_starts.flat_values
        # byte offset of the code point after the word's last one, or the text's byte length
        after = tf.gather(tf.concat([flat_bytes, [0]], 0), end_char)
        at_text_end = tf.equal(end_char, tf.gather(cps.row_splits, word_row + 1))
        end_byte = tf.where(at_text_end, tf.gather(text_bytes, word_row), after)
        words = {
            "row": word_row,
            "start": first_char - text_start,
            "end": end_char - text_start,
            "start_byte": tf.gather(flat_bytes, first_char),
            "end_byte": end_byte,
        }
        return words, flat, segment, n_words

    # --- 3: normalised words and their pieces -----------------------------------------
    def _normalized(self, flat, segment, n_words):
        dropped = tf.equal(_lookup_runs(self.drop_starts, self.drop_values, flat), 1)
        k = tf.minimum(tf.searchsorted(self.map_keys, flat, side="left"), tf.size(self.map_keys) - 1)
        mapped = tf.equal(tf.gather(self.map_keys, k), flat)
        chars = tf.strings.unicode_encode(tf.expand_dims(flat, 1), "UTF-8")
        chars = tf.where(mapped, tf.gather(self.map_values, k), chars)
        chars = tf.where(dropped, "", chars)
        words = tf.strings.unsorted_segment_join(chars, segment, n_words + 1)[:n_words]
        too_long = tf.strings.length(words, unit="UTF8_CHAR") > self.max_chars
        return tf.where(too_long, "", words)

    def _pieces(self, normalized):
        # An emptied word is [UNK]: spelt out before WordPiece rather than concatenated after it,
        # as a ragged concat along axis 1 transposes an integer matrix, which oneDNN has no kernel
        # for without AVX-512 (it falls back and logs an error line).
        pieces = self.wordpiece.tokenize(tf.where(tf.equal(normalized, ""), self.unk_token, normalized))
        return tf.cast(pieces[:, : self.max_pieces], tf.int32)
