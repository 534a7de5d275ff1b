"""Raw text -> entities with character offsets, entirely in a TensorFlow graph.

This is what the ``predict_text`` signature of an export runs, and what
``Tagger.predict`` runs in memory, so both give the same spans by construction. The steps
mirror the Python path one for one:

1-3. words with their offsets and WordPiece ids (:mod:`tfner.serving.graph_pieces`);
4-5. windows planned as :func:`tfner.data.alignment.plan_windows`, each word owned by the window
   where it has the most context, and the model run on the windows sorted by length, a chunk
   at a time (:mod:`tfner.serving.graph_windows`);
6. each word's first sub-token, its labels picked (argmax, or the best sequence IOB2 allows:
   :class:`tfner.modeling.decoding.WordDecoder`), entities assembled under conlleval's chunking
   (as :func:`tfner.data.schemes.entities`) and padded into dense ``[batch, max entities]``
   tensors with a count per text (this module).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tensorflow as tf

from tfner.data.charmap import NormalizerTable, Runs, normalizer_table, split_table
from tfner.modeling.decoding import WordDecoder
from tfner.serving.graph_pieces import GraphWordPieces
from tfner.serving.graph_windows import CHUNK_TOKENS, own_starts, plan, window_logits

OUTSIDE, BEGIN, INSIDE = 0, 1, 2


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
        self.cls_id, self.sep_id, self.pad_id = special["cls"], special["sep"], special["pad"]
        self.pieces = GraphWordPieces(vocab, special["unk"], split, normalizer, max_pieces=self.content,
                                      max_chars_per_word=max_chars_per_word)
        prefixes, types, names = [], [], sorted({lab[2:] for lab in labels if lab != "O"})
        for lab in labels:
            prefixes.append(OUTSIDE if lab == "O" else BEGIN if lab.startswith("B-") else INSIDE)
            types.append(-1 if lab == "O" else names.index(lab[2:]))
        self.decoder = WordDecoder(labels, decode, head=head)
        self.label_prefix = tf.constant(prefixes, tf.int32, name="label_prefix")
        self.label_type = tf.constant(types, tf.int32, name="label_type")
        self.type_names = tf.constant(names or [""], tf.string, name="type_names")

    def word_pieces(self, texts):
        """Words of each text with their WordPiece ids, as the graph sees them (for checks and tools):
        :class:`tfner.serving.graph_pieces.GraphWordPieces`."""
        return self.pieces(texts)

    # --- the whole path ---------------------------------------------------------------
    def tag(self, texts):
        n_texts = tf.size(texts, out_type=tf.int64)
        words, pieces = self.pieces(texts)
        n_words = tf.shape(pieces.row_splits, out_type=tf.int64)[0] - 1
        cost = pieces.row_lengths()
        win_row, win_start, win_end = plan(cost, words["row"], n_texts, content=self.content, overlap=self.overlap)
        q = pieces.row_splits
        tokens = tf.gather(pieces.flat_values, tf.ragged.range(tf.gather(q, win_start), tf.gather(q, win_end)))
        # A request without a word gets one empty [CLS] [SEP] window, so the model is still called
        # (its output shapes come from the call); a request with words gets none (a spare window
        # beside a real one was padded to the real one's length in its chunk: twice the encoder's
        # work at batch 1)
        spare = tf.zeros(tf.cast(tf.equal(tokens.nrows(), 0), tf.int32)[None], tf.int64)
        body = tf.RaggedTensor.from_row_lengths(tokens.flat_values, tf.concat([tokens.row_lengths(), spare], 0),
                                                validate=False)
        logits = window_logits(self._logits_fn, body, cls_id=self.cls_id, sep_id=self.sep_id, pad_id=self.pad_id,
                               n_logits=sum(self.sizes), chunk_tokens=self.chunk_tokens)
        parts = tf.split(logits, self.sizes, axis=-1) if self.task_names else [logits]
        own_start = own_starts(q, win_row, win_start, win_end)
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
