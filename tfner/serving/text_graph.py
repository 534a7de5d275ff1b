"""Raw text -> entities with character offsets, entirely in a TensorFlow graph.

This is what the ``predict_text`` signature of an export runs, and what
``Tagger.predict`` runs in memory, so both give the same spans by construction. The steps
mirror the Python path one for one:

1. decode UTF-8 into code points (invalid bytes become U+FFFD, as Python's
   ``bytes.decode("utf-8", "replace")``), with the byte offset of each;
2. split words where :func:`tfner.data.words.split_words` splits (a run table from
   :mod:`tfner.data.charmap`, looked up with a binary search);
3. normalise each word as the encoder's fast tokenizer does (drop, map or keep each code
   point; table read off the tokenizer) and cut it into WordPiece ids with the encoder's
   vocabulary (TF-Text's ``WordpieceTokenizeWithOffsets``, linked by every TF Serving
   release from 2.14 on); a word with no piece, or over the tokenizer's character limit,
   becomes ``[UNK]``;
4. plan windows exactly as :func:`tfner.data.alignment.plan_windows` (prefix sums and
   binary searches in one ``while_loop``): a text longer than ``max_length`` is never
   truncated, and each word is scored by the one window that owns it, the one where it
   has the most context;
5. run the model on the request's windows sorted by length, a chunk of about ``chunk_tokens``
   padded tokens at a time, each chunk padded only to its own longest window (so a request of
   many short texts and a few long ones costs about its tokens, not its count times its
   longest window; a request whose windows all fit one chunk skips the loop, as
   a request of texts of one window each skips the planning loop); take each word's first
   sub-token, pick the labels (argmax, or the best sequence IOB2 allows:
   :class:`tfner.modeling.decoding.WordDecoder`);
6. assemble entities under conlleval's chunking (as :func:`tfner.data.schemes.entities`)
   and pad them into dense ``[batch, max entities]`` tensors with a count per text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tensorflow as tf
import tensorflow_text as tf_text

from tfner.data.charmap import ALONE, SPACE, WORD, NormalizerTable, Runs, normalizer_table, split_table
from tfner.modeling.decoding import WordDecoder

OUTSIDE, BEGIN, INSIDE = 0, 1, 2
#: Padded tokens per model call (windows sorted by length, each chunk padded to its longest): on
#: MiniLM-L6 and 2 CPU cores, 256 ran requests of 64 CoNLL sentences fastest among 192-1,024.
CHUNK_TOKENS = 256


def in_graph(tokenizer) -> bool:
    """Whether the text path can run ``tokenizer`` in the graph: WordPiece only (BERT, DistilBERT,
    ELECTRA). Byte-level BPE (RoBERTa) and Unigram (XLM-RoBERTa) have no op TF Serving links."""
    return type(tokenizer.backend_tokenizer.model).__name__ == "WordPiece"


def text_options(tokenizer, *, max_length: int, overlap: int, decode: str = "argmax") -> dict:
    """:class:`TextTagger`'s options for a transformers fast WordPiece tokenizer."""
    model = tokenizer.backend_tokenizer.model
    return {
        "vocab": tokenizer.get_vocab(),
        "special": {"cls": tokenizer.cls_token_id, "sep": tokenizer.sep_token_id,
                    "pad": tokenizer.pad_token_id, "unk": tokenizer.unk_token_id},
        "split": split_table(),
        "normalizer": normalizer_table(tokenizer),
        "max_length": max_length,
        "overlap": overlap,
        "max_chars_per_word": int(getattr(model, "max_input_chars_per_word", 100)),
        "decode": decode,
    }


def _runs(runs: Runs, name: str) -> tuple[tf.Tensor, tf.Tensor]:
    return (tf.constant(runs.starts, tf.int32, name=f"{name}_starts"),
            tf.constant(runs.values, tf.int32, name=f"{name}_values"))


def _lookup_runs(starts: tf.Tensor, values: tf.Tensor, cps: tf.Tensor) -> tf.Tensor:
    return tf.gather(values, tf.searchsorted(starts, cps, side="right") - 1)


def _word_softmax(logits, where):
    """Label probabilities of the words at ``where`` (``[words, 2]``: window, position) in ``logits``.

    In float64, rounded to float32: a float32 exp can differ in its last bit with an element's place
    in the buffer (vectorised lanes against the scalar tail), so a text's scores would depend on
    which texts share its request and in what order; the rounding hides float64's differences.
    """
    return tf.cast(tf.nn.softmax(tf.cast(tf.gather_nd(logits, where), tf.float64), axis=-1), tf.float32)


class TextTagger(tf.Module):
    """The in-graph text path; call :meth:`tag` with a ``[batch]`` string tensor inside a ``tf.function``.

    ``logits_fn(input_ids, attention_mask)`` returns ``[windows, tokens, labels]`` logits; it is
    called once per chunk of at most ``chunk_tokens`` padded tokens (or one window longer than that).
    """

    def __init__(
        self,
        logits_fn,
        labels: Sequence[str],
        vocab: Mapping[str, int],
        special: Mapping[str, int],
        split: Runs,
        normalizer: NormalizerTable,
        *,
        max_length: int,
        overlap: int,
        max_chars_per_word: int,
        decode: str = "argmax",
        head=None,
        tasks: Sequence[tuple[str, Sequence[str]]] = (),
        chunk_tokens: int = CHUNK_TOKENS,
    ):
        super().__init__(name="tfner_text")
        self._logits_fn = logits_fn
        self.chunk_tokens = chunk_tokens
        # further tasks' labels follow the main task's in the logits; each gets a tag per word
        self.sizes = [len(labels), *(len(task_labels) for _, task_labels in tasks)]
        self.task_names = [name for name, _ in tasks]
        self.task_tags = [tf.constant(list(task_labels), tf.string, name=f"{name}_labels") for name, task_labels in tasks]
        self.content = max_length - 2
        self.overlap = overlap
        self.max_chars = max_chars_per_word
        self.cls_id, self.sep_id = special["cls"], special["sep"]
        self.pad_id, self.unk_id = special["pad"], special["unk"]
        self.split_starts, self.split_values = _runs(split, "split")
        self.drop_starts, self.drop_values = _runs(normalizer.dropped, "drop")
        # A sentinel key below every code point, so the table is never empty.
        self.map_keys = tf.constant((-1, *normalizer.mapped_keys), tf.int32, name="map_keys")
        self.map_values = tf.constant(("", *normalizer.mapped_values), tf.string, name="map_values")
        tokens = sorted(vocab, key=vocab.__getitem__)
        init = tf.lookup.KeyValueTensorInitializer(tf.constant(tokens), tf.constant([vocab[t] for t in tokens],
                                                                                    tf.int64))
        self.vocab_table = tf.lookup.StaticVocabularyTable(init, num_oov_buckets=1)
        self.unk_token = unk_token = next(t for t, i in vocab.items() if i == self.unk_id)
        # Words longer than the character limit are emptied first (-> [UNK]); the byte
        # limit only has to let every shorter word through.
        self.wordpiece = tf_text.WordpieceTokenizer(self.vocab_table, suffix_indicator="##",
                                                    max_bytes_per_word=4 * max_chars_per_word + 4,
                                                    token_out_type=tf.int64, unknown_token=unk_token)
        prefixes, types, names = [], [], sorted({lab[2:] for lab in labels if lab != "O"})
        for lab in labels:
            prefixes.append(OUTSIDE if lab == "O" else BEGIN if lab.startswith("B-") else INSIDE)
            types.append(-1 if lab == "O" else names.index(lab[2:]))
        self.decoder = WordDecoder(labels, decode, head=head)
        self.label_prefix = tf.constant(prefixes, tf.int32, name="label_prefix")
        self.label_type = tf.constant(types, tf.int32, name="label_type")
        self.type_names = tf.constant(names or [""], tf.string, name="type_names")

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
        return tf.cast(pieces[:, : self.content], tf.int32)

    def word_pieces(self, texts):
        """Words of each text with their WordPiece ids, as the graph sees them (for checks and tools).

        Returns ``(words, pieces)``: ``words`` maps ``row``/``start``/``end`` (code points) and
        ``start_byte``/``end_byte`` to ``[words]`` tensors over all texts; ``pieces`` is a ragged
        ``[words, (pieces)]`` int32 tensor (``[UNK]`` for a word with none; at most
        ``max_length - 2`` pieces).
        """
        words, flat, segment, n_words = self._words(texts)
        return words, self._pieces(self._normalized(flat, segment, n_words))

    # --- 4: windows -----------------------------------------------------------------
    def _plan(self, cost, word_row, n_texts):
        """Windows ``(text, first_word, end_word)`` over the flat word list, as ``plan_windows``."""
        n = tf.size(cost, out_type=tf.int64)
        per_text = tf.math.unsorted_segment_sum(tf.ones_like(word_row), word_row, n_texts)
        bounds = tf.concat([[0], tf.cumsum(per_text)], 0)  # words of text b: bounds[b]:bounds[b+1]
        texts = tf.where(per_text > 0)[:, 0]
        prefix = tf.concat([[0], tf.cumsum(tf.cast(cost, tf.int64))], 0)
        content, overlap = tf.constant(self.content, tf.int64), tf.constant(self.overlap, tf.int64)

        def find(value, side):
            return tf.searchsorted(prefix, tf.reshape(value, [1]), side=side, out_type=tf.int64)[0]

        def body(j, start, out_row, out_start, out_end):
            b = texts[j]
            stop = bounds[b + 1]
            end = tf.minimum(find(prefix[start] + content, "right") - 1, stop)
            nxt = tf.maximum(start + 1, find(prefix[end] - overlap, "left"))
            nxt_cost = tf.gather(tf.cast(cost, tf.int64), tf.minimum(end, n - 1))
            nxt = tf.where(prefix[end] - prefix[nxt] + nxt_cost > content, end, nxt)
            out = (out_row.write(out_row.size(), b), out_start.write(out_start.size(), start),
                   out_end.write(out_end.size(), end))
            last = tf.greater_equal(end, stop)
            # texts without words have none to skip, so the next text's first word is `stop`
            return (tf.where(last, j + 1, j), tf.where(last, stop, nxt), *out)

        def one_window_each():  # every text with words fits one window: the loop would give just these
            return texts, tf.gather(bounds, texts), tf.gather(bounds, texts + 1)

        def loop():
            arrays = [tf.TensorArray(tf.int64, size=0, dynamic_size=True, element_shape=[]) for _ in range(3)]
            zero = tf.constant(0, tf.int64)  # the first text with words starts at word 0
            _, _, rows, starts, ends = tf.while_loop(
                lambda j, *_: j < tf.size(texts, tf.int64), body, (zero, zero, *arrays),
                maximum_iterations=tf.cast(n + n_texts + 1, tf.int32))
            return rows.stack(), starts.stack(), ends.stack()

        # The loop costs about as much as the rest of the text path for a short request (measured:
        # ~0.3 ms of ~1.5 ms at batch 1), and most requests are texts of one window each.
        per_text_cost = tf.math.unsorted_segment_sum(tf.cast(cost, tf.int64), word_row, n_texts)
        fits = tf.reduce_all(per_text_cost <= content)
        return tf.cond(fits, one_window_each, loop)

    # --- 5: the model, on windows of like length ------------------------------------
    def _window_logits(self, body):
        """``[windows, tokens, logits]`` float32 for ``[CLS] body [SEP]`` of each window, in window order.

        The windows are sorted by length and run through the model a chunk at a time, each chunk
        padded only to its own longest window and holding about ``chunk_tokens`` padded tokens, so a
        request's cost follows its windows' lengths rather than its longest window times its count.
        The chunks' logits are padded to the longest window and put back in window order.
        """
        lengths = tf.cast(body.row_lengths() + 2, tf.int32)
        n = tf.size(lengths)
        # [CLS] body [SEP] written into the padded matrix (a ragged concat along axis 1 would
        # transpose an integer matrix: see _pieces)
        input_ids = tf.pad(body.to_tensor(self.pad_id), [[0, 0], [1, 1]], constant_values=self.pad_id)
        width = tf.shape(input_ids)[1]
        column = tf.range(width)[None, :]
        input_ids = tf.where(tf.equal(column, 0), self.cls_id, input_ids)
        input_ids = tf.where(tf.equal(column, lengths[:, None] - 1), self.sep_id, input_ids)
        # Sorted by length, windows of one length by their content (a hash of their ids), also where
        # one call takes them all: the same texts then meet the model in the same rows whatever order
        # a request lists them in (Tagger.predict sorts texts, a client need not), and a row's logits
        # can differ in the last bits with its place in the batch
        weights = tf.range(1, tf.cast(width, tf.int64) + 1) * 0x5851F42D4C957F2D  # wraps around: a hash
        content = tf.reduce_sum(tf.cast(input_ids, tf.int64) * weights[None, :], axis=1)
        by_content = tf.argsort(tf.cast(tf.bitwise.bitwise_and(content, 0x7FFFFFFF), tf.int32), stable=True)
        order = tf.gather(by_content, tf.argsort(tf.gather(lengths, by_content), stable=True))
        input_ids, lengths = tf.gather(input_ids, order), tf.gather(lengths, order)
        budget = tf.constant(self.chunk_tokens, tf.int32)

        def one_chunk():  # every window padded to the longest fits the budget: one call
            return tf.cast(self._logits_fn(input_ids, tf.sequence_mask(lengths, width, tf.int32)), tf.float32)

        def chunked():
            return self._chunked_logits(input_ids, lengths, n, width, budget)

        # as in _plan, the loop is the path's largest fixed cost; a request that fits one chunk skips it
        logits = tf.cond(n * width <= budget, one_chunk, chunked)
        return tf.gather(logits, tf.math.invert_permutation(order))

    def _chunked_logits(self, input_ids, lengths, n, width, budget):
        """The logits of windows sorted by length, a chunk of about ``budget`` padded tokens at a time."""

        def chunk(start, out):
            # the most windows from `start` whose count times the longest of them fits the budget (at least one)
            count = tf.range(1, n - start + 1) * lengths[start:]
            stop = start + tf.maximum(1, tf.reduce_sum(tf.cast(count <= budget, tf.int32)))
            longest = lengths[stop - 1]
            ids = input_ids[start:stop, :longest]
            mask = tf.sequence_mask(lengths[start:stop], longest, tf.int32)
            logits = tf.cast(self._logits_fn(ids, mask), tf.float32)
            return stop, out.write(out.size(), tf.pad(logits, [[0, 0], [0, width - longest], [0, 0]]))

        chunks = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False,
                                element_shape=tf.TensorShape([None, None, sum(self.sizes)]))
        _, chunks = tf.while_loop(lambda start, _: start < n, chunk, (tf.constant(0), chunks),
                                  parallel_iterations=1, maximum_iterations=n)
        return chunks.concat()

    # --- the whole path ---------------------------------------------------------------
    def tag(self, texts):
        n_texts = tf.size(texts, out_type=tf.int64)
        words, pieces = self.word_pieces(texts)
        n_words = tf.shape(pieces.row_splits, out_type=tf.int64)[0] - 1
        cost = pieces.row_lengths()
        win_row, win_start, win_end = self._plan(cost, words["row"], n_texts)
        q = pieces.row_splits
        tokens = tf.gather(pieces.flat_values, tf.ragged.range(tf.gather(q, win_start), tf.gather(q, win_end)))
        # A request without a word gets one empty [CLS] [SEP] window, so the model is still called
        # (its output shapes come from the call); a request with words gets none (a spare window
        # beside a real one was padded to the real one's length in its chunk: twice the encoder's
        # work at batch 1)
        spare = tf.zeros(tf.cast(tf.equal(tokens.nrows(), 0), tf.int32)[None], tf.int64)
        body = tf.RaggedTensor.from_row_lengths(tokens.flat_values, tf.concat([tokens.row_lengths(), spare], 0),
                                            validate=False)
        logits = self._window_logits(body)
        parts = tf.split(logits, self.sizes, axis=-1) if self.task_names else [logits]
        own_start = self._own_starts(q, win_row, win_start, win_end)
        word_ids = tf.range(n_words)
        owner = tf.searchsorted(own_start, word_ids, side="right", out_type=tf.int64) - 1
        position = 1 + tf.gather(q, word_ids) - tf.gather(q, tf.gather(win_start, owner))
        word_probs = _word_softmax(parts[0], tf.stack([owner, position], axis=1))
        label_ids, scores = self._decode(word_probs, words["row"], n_texts)
        out = self._entities(words, label_ids, scores, n_texts, n_words)
        if self.task_names:
            out.update(self._task_words(words, parts[1:], tf.stack([owner, position], axis=1), n_texts))
        return out

    def _task_words(self, words, parts, where, n_texts):
        """Every word's offsets and each further task's tag and score for it (argmax per word)."""

        def dense(values, default):
            return tf.RaggedTensor.from_value_rowids(values, words["row"], nrows=n_texts, validate=False).to_tensor(default)

        out = {"word_start": dense(words["start"], -1), "word_end": dense(words["end"], -1),
               "num_words": tf.math.unsorted_segment_sum(tf.ones_like(words["row"]), words["row"], n_texts)}
        for name, part, names in zip(self.task_names, parts, self.task_tags, strict=True):
            word_probs = _word_softmax(part, where)
            ids = tf.argmax(word_probs, axis=-1, output_type=tf.int32)
            out[f"{name}_tag"] = dense(tf.gather(names, ids), "")
            out[f"{name}_score"] = dense(tf.reduce_max(word_probs, axis=-1), 0.0)
        return out

    @staticmethod
    def _own_starts(q, win_row, win_start, win_end):
        """The first word each window owns, as :func:`tfner.data.alignment.own_start`.

        In the overlap with the previous window of the same text, a window owns from the
        first word where its context (the smaller of the sub-tokens before and after the word
        in the window) beats the previous window's; else from the previous window's end.
        """
        same_text = tf.concat([[False], tf.equal(win_row[1:], win_row[:-1])], 0)
        prev_start = tf.concat([[0], win_start[:-1]], 0)
        prev_end = tf.concat([[0], win_end[:-1]], 0)
        candidates = tf.ragged.range(win_start, tf.where(same_text, tf.maximum(prev_end, win_start), win_start))
        k, w = candidates.value_rowids(), candidates.flat_values

        def context(start, end):
            first, last = tf.gather(start, k), tf.gather(end, k)
            return tf.minimum(tf.gather(q, w) - tf.gather(q, first), tf.gather(q, last) - tf.gather(q, w + 1))

        better = context(win_start, win_end) > context(prev_start, prev_end)
        never = tf.int64.max
        first_better = tf.math.unsorted_segment_min(tf.where(better, w, never), k, tf.size(win_start))
        return tf.where(same_text, tf.minimum(first_better, prev_end), win_start)

    def _decode(self, word_probs, word_row, n_texts):
        """Tags of every word, decoded text by text (:class:`WordDecoder`)."""
        per_text = tf.RaggedTensor.from_value_rowids(word_probs, word_row, nrows=n_texts, validate=False)
        lengths = per_text.row_lengths()
        longest = tf.maximum(tf.reduce_max(tf.concat([lengths, [0]], 0)), 1)  # the decoder needs a time step
        dense = per_text.to_tensor(0.0, shape=tf.stack([n_texts, longest, tf.shape(word_probs, out_type=tf.int64)[1]]))
        ids, scores = self.decoder(dense, lengths)
        return (tf.RaggedTensor.from_tensor(ids, lengths=lengths).flat_values,
                tf.RaggedTensor.from_tensor(scores, lengths=lengths).flat_values)

    # --- 6: entities -------------------------------------------------------------------
    def _entities(self, words, label_ids, scores, n_texts, n_words):
        prefix = tf.gather(self.label_prefix, label_ids)
        kind = tf.gather(self.label_type, label_ids)
        first_of_text = tf.not_equal(words["row"], tf.concat([[-1], words["row"][:-1]], 0))
        prev_prefix = tf.where(first_of_text, OUTSIDE, tf.concat([[OUTSIDE], prefix[:-1]], 0))
        prev_kind = tf.concat([[-1], kind[:-1]], 0)
        inside = tf.not_equal(prefix, OUTSIDE)
        continues = (tf.equal(prefix, INSIDE) & tf.not_equal(prev_prefix, OUTSIDE)
                     & tf.equal(prev_kind, kind))
        opens = inside & ~continues
        n_ent = tf.reduce_sum(tf.cast(opens, tf.int64))
        entity_of_word = tf.where(inside, tf.cumsum(tf.cast(opens, tf.int64)) - 1, n_ent)
        first = tf.boolean_mask(tf.range(n_words), opens)
        last = tf.math.unsorted_segment_max(tf.range(n_words), entity_of_word, n_ent + 1)[:n_ent]
        score = tf.math.unsorted_segment_mean(scores, entity_of_word, n_ent + 1)[:n_ent]
        row = tf.gather(words["row"], first)

        def dense(values, default):
            return tf.RaggedTensor.from_value_rowids(values, row, nrows=n_texts, validate=False).to_tensor(default)

        return {
            "entity_start": dense(tf.gather(words["start"], first), -1),
            "entity_end": dense(tf.gather(words["end"], last), -1),
            "entity_start_byte": dense(tf.gather(words["start_byte"], first), -1),
            "entity_end_byte": dense(tf.gather(words["end_byte"], last), -1),
            "entity_label": dense(tf.gather(self.type_names, tf.gather(kind, first)), ""),
            "entity_score": dense(score, 0.0),
            "num_entities": tf.math.unsorted_segment_sum(tf.ones_like(row), row, n_texts),
        }
