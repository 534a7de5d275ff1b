"""Prediction: word lists -> tags and scores, raw texts -> spans, from a :class:`TaggerState`.

Every route runs the serving computations an export saves (``serving_default`` for windows of
sub-word ids, ``predict_text`` for raw text), so a tagger in memory, a reloaded export and a TF
Serving client agree. Windows are sorted by length before batching (less padding per batch) and
the results put back in the input order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfner.data import alignment, pipeline
from tfner.data import tasks as tasks_lib
from tfner.data.schemes import entities
from tfner.data.spans import Span
from tfner.data.words import replace_lone_surrogates, split_words
from tfner.errors import ConfigError, DataFormatError
from tfner.modeling import decoding
from tfner.serving.outputs import check_texts, clean_text, spans_from_outputs
from tfner.tagging.state import TaggerState

PREDICT_BATCH = 64

Tagged = tuple[list[list[str]], list[np.ndarray]]


def tag_tasks(state: TaggerState, sentences: Sequence[Sequence[str]], documents: Sequence[int] | None,
              tasks: Sequence[tasks_lib.AuxTask | None]) -> list[Tagged]:
    """Tags and scores of word lists for each of ``tasks`` (``None``: the main task), from one pass of
    the model. Under ``context="document"`` or ``"packed"`` the sentences are one document unless
    ``documents`` (an id per sentence) says otherwise; a further task's tag is its head's most probable
    label per word."""
    cfg = state.config
    context = cfg.chosen_context
    if context == "sentence":
        documents = None
    elif documents is None:
        documents = [0] * len(sentences)
    windows = cfg.predict_windowing.encode(state.tokenizer, sentences, documents=documents, packed=context == "packed")
    keys = ["probs" if task is None else f"{task.name}_probs" for task in tasks]
    probs_out = _window_outputs(state, windows, keys)
    lengths = [len(s) for s in sentences]
    results = []
    for task, task_probs in zip(tasks, probs_out, strict=True):
        word_probs = alignment.collect(windows, lengths, task_probs)
        if task is None:
            results.append(decode_words(state, word_probs))
        else:
            results.append(([[task.labels[int(j)] for j in p.argmax(-1)] for p in word_probs],
                            [p.max(-1) if len(p) else np.zeros(0, np.float32) for p in word_probs]))
    return results


def _window_outputs(state: TaggerState, windows: Sequence[alignment.Window], keys: Sequence[str]) -> list[list]:
    """``serving_default``'s outputs ``keys`` for each window, in the windows' order."""
    # ties broken by content, not position: the same windows form the same batches in any input order
    order = sorted(range(len(windows)), key=lambda k: (windows[k].length, windows[k].input_ids.tobytes()))
    out_rows: list[list] = [[None] * len(windows) for _ in keys]
    for i in range(0, len(order), PREDICT_BATCH):
        chunk = order[i:i + PREDICT_BATCH]
        batch = pipeline.pad_batch([windows[k] for k in chunk], state.tokenizer.pad_token_id)
        out = state.serve(input_ids=tf.constant(batch["input_ids"]), attention_mask=tf.constant(batch["attention_mask"]))
        for key, rows in zip(keys, out_rows, strict=True):
            values = out[key].numpy()
            for row, k in enumerate(chunk):
                rows[k] = values[row]
    return out_rows


def tag_words(state: TaggerState, sentences: Sequence[Sequence[str]], documents: Sequence[int] | None = None,
              task: tasks_lib.AuxTask | None = None) -> Tagged:
    """:func:`tag_tasks` for one task."""
    return tag_tasks(state, sentences, documents, [task])[0]


def decode_words(state: TaggerState, word_probs: list[np.ndarray]) -> Tagged:
    """The main task's tags and scores from its word probabilities (``decode``, the CRF head)."""
    decoder = decoding.WordDecoder(state.labels, state.decode_mode, head=state.crf_head)
    tags: list[list[str]] = []
    scores: list[np.ndarray] = []
    for i in range(0, len(word_probs), PREDICT_BATCH):
        part = word_probs[i:i + PREDICT_BATCH]
        n = [len(p) for p in part]
        dense = np.zeros((len(part), max([1, *n]), len(state.labels)), np.float32)
        for row, p in enumerate(part):
            dense[row, :len(p)] = p
        ids, sc = (t.numpy() for t in decoder.decode(dense, np.asarray(n, np.int32)))
        tags.extend([state.labels[int(j)] for j in ids[row, :k]] for row, k in enumerate(n))
        scores.extend(sc[row, :k] for row, k in enumerate(n))
    return tags, scores


def checked_sentences(sentences) -> list[list[str]]:
    """``predict_tags``' input as lists of words (a lone surrogate as U+FFFD, as every route reads it),
    or :class:`DataFormatError` naming the bad one."""
    if isinstance(sentences, str):
        raise DataFormatError("sentences", None, "predict_tags takes a list of word lists")
    checked, expected = [], "expected a list of non-empty strings (words)"
    for i, words in enumerate(_as_list(sentences, "sentences", "predict_tags takes a list of word lists")):
        if isinstance(words, str):
            raise DataFormatError(f"sentences[{i}]", None, expected)
        words = _as_list(words, f"sentences[{i}]", expected)  # read once: an iterator of words
        if not all(isinstance(w, str) and w for w in words):
            raise DataFormatError(f"sentences[{i}]", None, expected)
        checked.append([replace_lone_surrogates(w) for w in words])
    return checked


def _as_list(items, where: str, expected: str) -> list:
    """``items`` as a list, in its iteration order (a pandas Series' ``[i]`` is by label, an iterator reads
    once), or :class:`DataFormatError` where it is not iterable."""
    try:
        return list(items)
    except TypeError:
        raise DataFormatError(where, None, f"{expected}, got {type(items).__name__}") from None


def find_task(state: TaggerState, name: str | None) -> tasks_lib.AuxTask | None:
    """The further task called ``name``; None for the main task (``None`` or its name)."""
    cfg = state.config
    if name is None or (cfg.tasks and name == cfg.task_names[0]):
        return None
    for task in state.tasks:
        if task.name == name:
            return task
    raise ConfigError(f"this tagger has no task {name!r}; its tasks: {list(cfg.task_names) or 'none'}")


def predict_texts(state: TaggerState, texts: Sequence[str]) -> list[list[Span]]:
    """Entities in each raw text (see ``Tagger.predict``): the in-graph text route, shortest texts
    batched together, or the Python route where the tokenizer cannot run in the graph."""
    texts = check_texts(texts)  # read once, by position: texts[i] of a pandas Series looks up a label
    if state.predict_text is None:
        return _predict_in_python(state, texts)
    result: list[list[Span]] = [[] for _ in texts]
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), texts[i]))  # content breaks ties, as above
    for k in range(0, len(order), PREDICT_BATCH):
        chunk = order[k:k + PREDICT_BATCH]
        encoded = [clean_text(texts[i]).encode("utf-8") for i in chunk]
        out = {name: value.numpy() for name, value in state.predict_text(text=tf.constant(encoded)).items()}
        for i, spans in zip(chunk, spans_from_outputs([texts[i] for i in chunk], out), strict=True):
            result[i] = spans
    return result


def _predict_in_python(state: TaggerState, texts: Sequence[str]) -> list[list[Span]]:
    """``predict`` for a tokenizer the graph cannot run: the same words (:func:`split_words`), tags
    from ``serving_default``, spans and scores as in the graph."""
    cleaned = [clean_text(t) for t in texts]
    words = [split_words(t) for t in cleaned]
    tags, scores = tag_words(state, [[w for w, _, _ in ws] for ws in words], documents=list(range(len(texts))))
    result = []
    for text, ws, row, sc in zip(cleaned, words, tags, scores, strict=True):
        result.append([Span(ws[a][1], ws[b - 1][2], kind, float(np.mean(sc[a:b])), text=text[ws[a][1]:ws[b - 1][2]])
                       for a, b, kind in entities(row)])
    return result
