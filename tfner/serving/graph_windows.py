"""Words -> windows -> the model's logits, in a TensorFlow graph.

Steps 4-5 of the text path (:mod:`tfner.serving.text_graph`):

4. plan windows exactly as :func:`tfner.data.alignment.plan_windows` (prefix sums and
   binary searches in one ``while_loop``): a text longer than the window is never
   truncated, and each word is scored by the one window that owns it, the one where it
   has the most context (:func:`own_starts`, as :func:`tfner.data.alignment.own_start`);
5. run the model on the request's windows sorted by length, a chunk of about ``chunk_tokens``
   padded tokens at a time, each chunk padded only to its own longest window (so a request of
   many short texts and a few long ones costs about its tokens, not its count times its
   longest window; a request whose windows all fit one chunk skips the loop, as a request of
   texts of one window each skips the planning loop).

These are functions: the text path keeps no state for these steps (its tables are in graph_pieces).
"""

from __future__ import annotations

import tensorflow as tf

#: Padded tokens per model call (windows sorted by length, each chunk padded to its longest): on
#: MiniLM-L6 and 2 CPU cores, 256 ran requests of 64 CoNLL sentences fastest among 192-1,024.
CHUNK_TOKENS = 256


def plan(cost, word_row, n_texts, *, content: int, overlap: int):
    """Windows ``(text, first_word, end_word)`` (int64 ``[windows]`` each) over the flat word list.

    ``cost`` holds each word's sub-tokens (``[words]``, texts in order, ``word_row`` their
    text); a window holds at most ``content`` sub-tokens and starts where it keeps about
    ``overlap`` of the previous one's, as :func:`tfner.data.alignment.plan_windows`.
    """
    n = tf.size(cost, out_type=tf.int64)
    per_text = tf.math.unsorted_segment_sum(tf.ones_like(word_row), word_row, n_texts)
    bounds = tf.concat([[0], tf.cumsum(per_text)], 0)  # words of text b: bounds[b]:bounds[b+1]
    texts = tf.where(per_text > 0)[:, 0]
    prefix = tf.concat([[0], tf.cumsum(tf.cast(cost, tf.int64))], 0)
    content_, overlap_ = tf.constant(content, tf.int64), tf.constant(overlap, tf.int64)

    def find(value, side):
        return tf.searchsorted(prefix, tf.reshape(value, [1]), side=side, out_type=tf.int64)[0]

    def body(j, start, out_row, out_start, out_end):
        b = texts[j]
        stop = bounds[b + 1]
        end = tf.minimum(find(prefix[start] + content_, "right") - 1, stop)
        nxt = tf.maximum(start + 1, find(prefix[end] - overlap_, "left"))
        nxt_cost = tf.gather(tf.cast(cost, tf.int64), tf.minimum(end, n - 1))
        nxt = tf.where(prefix[end] - prefix[nxt] + nxt_cost > content_, end, nxt)
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
    fits = tf.reduce_all(per_text_cost <= content_)
    return tf.cond(fits, one_window_each, loop)


def own_starts(q, win_row, win_start, win_end):
    """The first word each window owns, as :func:`tfner.data.alignment.own_start`.

    ``q`` is the words' sub-token prefix sums (``[words + 1]``). In the overlap with the previous
    window of the same text, a window owns from the first word where its context (the smaller
    of the sub-tokens before and after the word in the window) beats the previous window's;
    else from the previous window's end.
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


def window_logits(logits_fn, body, *, cls_id: int, sep_id: int, pad_id: int, n_logits: int,
                  chunk_tokens: int = CHUNK_TOKENS):
    """``[windows, tokens, n_logits]`` float32 for ``[CLS] body [SEP]`` of each window, in window order.

    ``body`` is a ragged ``[windows, (sub-tokens)]`` int tensor; ``logits_fn(input_ids,
    attention_mask)`` returns ``[windows, tokens, n_logits]``. The windows are sorted by length and
    run through the model a chunk at a time, each chunk padded only to its own longest window and
    holding about ``chunk_tokens`` padded tokens (or one window longer than that), so a request's
    cost follows its windows' lengths rather than its longest window times its count. The
    chunks' logits are padded to the longest window and put back in window order.
    """
    lengths = tf.cast(body.row_lengths() + 2, tf.int32)
    n = tf.size(lengths)
    # [CLS] body [SEP] written into the padded matrix (a ragged concat along axis 1 would
    # transpose an integer matrix: see graph_pieces)
    input_ids = tf.pad(body.to_tensor(pad_id), [[0, 0], [1, 1]], constant_values=pad_id)
    width = tf.shape(input_ids)[1]
    column = tf.range(width)[None, :]
    input_ids = tf.where(tf.equal(column, 0), cls_id, input_ids)
    input_ids = tf.where(tf.equal(column, lengths[:, None] - 1), sep_id, input_ids)
    # Sorted by length, windows of one length by their content (a hash of their ids), also where
    # one call takes them all: the same texts then meet the model in the same rows whatever order
    # a request lists them in (Tagger.predict sorts texts, a client need not), and a row's logits
    # can differ in the last bits with its place in the batch
    weights = tf.range(1, tf.cast(width, tf.int64) + 1) * 0x5851F42D4C957F2D  # wraps around: a hash
    content = tf.reduce_sum(tf.cast(input_ids, tf.int64) * weights[None, :], axis=1)
    by_content = tf.argsort(tf.cast(tf.bitwise.bitwise_and(content, 0x7FFFFFFF), tf.int32), stable=True)
    order = tf.gather(by_content, tf.argsort(tf.gather(lengths, by_content), stable=True))
    input_ids, lengths = tf.gather(input_ids, order), tf.gather(lengths, order)
    budget = tf.constant(chunk_tokens, tf.int32)

    def one_chunk():  # every window padded to the longest fits the budget: one call
        return tf.cast(logits_fn(input_ids, tf.sequence_mask(lengths, width, tf.int32)), tf.float32)

    def chunked():
        return _chunked_logits(logits_fn, input_ids, lengths, n, width, budget, n_logits)

    # as in plan, the loop is the path's largest fixed cost; a request that fits one chunk skips it
    logits = tf.cond(n * width <= budget, one_chunk, chunked)
    return tf.gather(logits, tf.math.invert_permutation(order))


def _chunked_logits(logits_fn, input_ids, lengths, n, width, budget, n_logits):
    """The logits of windows sorted by length, a chunk of about ``budget`` padded tokens at a time."""

    def chunk(start, out):
        # the most windows from `start` whose count times the longest of them fits the budget (at least one)
        count = tf.range(1, n - start + 1) * lengths[start:]
        stop = start + tf.maximum(1, tf.reduce_sum(tf.cast(count <= budget, tf.int32)))
        longest = lengths[stop - 1]
        ids = input_ids[start:stop, :longest]
        mask = tf.sequence_mask(lengths[start:stop], longest, tf.int32)
        logits = tf.cast(logits_fn(ids, mask), tf.float32)
        return stop, out.write(out.size(), tf.pad(logits, [[0, 0], [0, width - longest], [0, 0]]))

    chunks = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False,
                            element_shape=tf.TensorShape([None, None, n_logits]))
    _, chunks = tf.while_loop(lambda start, _: start < n, chunk, (tf.constant(0), chunks),
                              parallel_iterations=1, maximum_iterations=n)
    return chunks.concat()
