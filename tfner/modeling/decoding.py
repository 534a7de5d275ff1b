"""Word probabilities -> word tags: per-word argmax, or the best sequence the tagging scheme allows.

``decode="argmax"`` picks each word's most probable tag. ``decode="constrained"`` picks the
most probable tag *sequence* among those IOB2 allows (Viterbi over the words' log
probabilities with :func:`tfner.modeling.crf.iob2_constraints` as hard constraints): no
``I-X`` after ``O`` or after another type, none at the start. It costs no training and
fixes the invalid sequences a per-word softmax produces. The in-graph text path and the
Python words path both call :class:`WordDecoder`, so they decode alike. ``"crf"`` (the CRF
head's decoding) is the same Viterbi with the head's learned transitions added to the
constraints.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfner.modeling import crf

DECODES = ("argmax", "constrained", "crf")
_TINY = 1e-30  # log(0) guard


class WordDecoder(tf.Module):
    """``decoder(probs [seqs, words, labels], lengths [seqs]) -> (ids, scores)``, both ``[seqs, words]``.

    A score is the probability of the chosen tag. Positions past a sequence's length hold 0.
    """

    def __init__(self, labels: Sequence[str], mode: str = "argmax", head=None):
        super().__init__(name="word_decoder")
        if mode not in DECODES:
            raise ValueError(f"decode must be one of {DECODES}, got {mode!r}")
        if (mode == "crf") != (head is not None):
            raise ValueError("mode 'crf' decodes with a CrfHead's learned transitions, and only it takes a head")
        self.mode = mode
        self.head = head
        n = len(labels)
        allowed, may_start = crf.iob2_constraints(labels)
        self.transitions, self.start = crf.constrain(tf.zeros([n, n]), tf.zeros([n]), allowed, may_start)
        self.end = tf.zeros([n])

    def __call__(self, probs, lengths):
        probs = tf.convert_to_tensor(probs, tf.float32)
        lengths = tf.cast(lengths, tf.int32)
        if self.mode == "argmax":
            ids = tf.argmax(probs, axis=-1, output_type=tf.int32)
        else:
            ids = _best_paths(probs, lengths, *self._path_scores())
        return _with_scores(probs, lengths, ids)

    def decode(self, probs, lengths):
        """``__call__`` for eager callers (``predict_tags``, ``evaluate``, dev scoring in ``fit``): the
        Viterbi runs as one traced graph, not op by op (a scan step at a time from Python took most
        of a CRF tagger's decoding time). The same ops on the same inputs: the same tags."""
        if self.mode == "argmax":
            return self(probs, lengths)
        probs = tf.convert_to_tensor(probs, tf.float32)
        lengths = tf.cast(lengths, tf.int32)
        transitions, start, end = (tf.cast(x, tf.float32) for x in self._path_scores())
        return _with_scores(probs, lengths, _traced_best_paths(probs, lengths, transitions, start, end))

    def _path_scores(self):
        return self.head.scores() if self.mode == "crf" else (self.transitions, self.start, self.end)


def _best_paths(probs, lengths, transitions, start, end):
    """The best path's label ids of each sequence, ``[seqs, words]``."""
    # log-softmax differs from the logits by a constant per word, which no path ranking sees
    log_probs = tf.math.log(tf.maximum(probs, _TINY))
    ids, _ = crf.viterbi(log_probs, lengths, transitions, start, end)
    return ids


#: :func:`_best_paths` traced once per process for any batch, length and label count
_traced_best_paths = tf.function(_best_paths, input_signature=[
    tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([None], tf.int32),
    tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.float32)])


def _with_scores(probs, lengths, ids):
    """``(ids, scores)``: 0 past each sequence's length, a score the chosen label's probability."""
    valid = tf.sequence_mask(lengths, tf.shape(probs)[1])
    ids = tf.where(valid, ids, 0)
    scores = tf.where(valid, tf.gather(probs, ids, batch_dims=2), 0.0)
    return ids, scores
