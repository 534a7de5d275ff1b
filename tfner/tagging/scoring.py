"""Scores of a tagger on labelled data, and the one writer of the predictions it scored.

The main task is scored by entity F1 (seqeval, ``mode``), a further span task (chunks) the same
way, a tag task (part of speech) by accuracy. ``evaluate`` and ``evaluate_task`` both write their
predictions through :func:`write_predictions`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tfner.data import jsonl
from tfner.data import tasks as tasks_lib
from tfner.data.readers import Sentence
from tfner.data.schemes import PREFIXES, convert
from tfner.data.sources import DataLike
from tfner.errors import ConfigError
from tfner.metrics import Evaluation, TagEvaluation, evaluate_tags, evaluate_word_tags
from tfner.tagging import inputs
from tfner.tagging.prediction import find_task, tag_tasks, tag_words
from tfner.tagging.state import TaggerState


def check_mode(state: TaggerState, mode: str | None) -> str:
    mode = mode or state.config.eval_mode
    if mode not in ("default", "strict"):
        raise ConfigError(f"mode must be 'default' or 'strict', got {mode!r}")
    return mode


def score(state: TaggerState, sentences: Sequence[Sentence], mode: str, keep: list | None = None,
          task_scores: dict | None = None) -> Evaluation:
    """Scores of the main task's predictions for ``sentences``; ``keep`` receives ``[words, gold,
    predicted]``; ``task_scores`` (a multi-task tagger) each further task's scores, from the same pass."""
    words, gold = [s.words for s in sentences], [s.tags for s in sentences]
    tasks = state.tasks if task_scores is not None else []
    results = tag_tasks(state, words, [s.document for s in sentences], [None, *tasks])
    pred = results[0][0]
    for task, (task_pred, _) in zip(tasks, results[1:], strict=True):
        task_scores[task.name] = task_score(task, [s.aux_tags(task.name) for s in sentences],  # type: ignore[index]
                                            task_pred, mode)
    if keep is not None:
        keep[:] = [words, gold, pred]
    return evaluate_tags(gold, pred, mode)  # type: ignore[arg-type]


def task_score(task: tasks_lib.AuxTask, gold, pred, mode: str) -> Evaluation | TagEvaluation:
    if task.kind == tasks_lib.SPANS:
        return evaluate_tags(gold, pred, mode)  # type: ignore[arg-type]
    return evaluate_word_tags(gold, pred)


def evaluate(state: TaggerState, data: DataLike, mode: str | None, predictions_path: str | os.PathLike | None,
             predictions_scheme: str | None) -> Evaluation:
    """``Tagger.evaluate``: the main task's scores on ``data``, its predictions written if asked."""
    mode = check_mode(state, mode)
    sentences = inputs.read(data, "data", state.config, main_only=True)
    known = inputs.known_types_only(sentences, state.labels, state.config.unseen_labels, "data")
    scored: list = []
    result = score(state, known, mode, keep=scored)
    if predictions_path is not None:
        scheme = predictions_scheme or (sentences[0].scheme if sentences else "iob2")
        write_predictions(predictions_path, known, scored[2], scheme)
    return result


def evaluate_task(state: TaggerState, data: DataLike, task: str, mode: str | None,
                  predictions_path: str | os.PathLike | None) -> Evaluation | TagEvaluation:
    """``Tagger.evaluate_task`` for a further task (the main one goes through :func:`evaluate`)."""
    aux = find_task(state, task)
    assert aux is not None
    mode = check_mode(state, mode)
    sentences = inputs.read(data, "data", state.config, {t.name: t.kind for t in state.tasks})
    if predictions_path is not None and jsonl.is_jsonl(predictions_path) and aux.kind != tasks_lib.SPANS:
        raise ConfigError(f"{task!r} tags words, not spans: its predictions are written as columns (word, gold, "
                          f"predicted); give predictions_path a name not ending in .jsonl, got {predictions_path}")
    gold = [s.aux_tags(aux.name) for s in sentences]
    pred = tag_words(state, [s.words for s in sentences], [s.document for s in sentences], task=aux)[0]
    if predictions_path is not None:
        write_predictions(predictions_path, sentences, pred, "iob2", gold=gold)
    return task_score(aux, gold, pred, mode)


def write_predictions(path: str | os.PathLike, sentences: Sequence[Sentence], predicted: Sequence[Sequence[str]],
                      scheme: str, gold: Sequence[Sequence[str]] | None = None) -> None:
    """Scored predictions: one ``word gold predicted`` line per word and a blank line between sentences
    (conlleval's layout), tags in ``scheme`` (converted by the tolerant rule conlleval reads); or, for a
    path ending in ``.jsonl``, one ``{"text", "spans", "gold"}`` object per sentence. ``gold``: another
    column than the sentences' tags (a further task's)."""
    if jsonl.is_jsonl(path):
        golds = [s.tags for s in sentences] if gold is None else gold
        jsonl.write_jsonl(path, (
            {"text": jsonl.text_and_offsets(s)[0], "spans": jsonl.span_dicts(jsonl.character_spans(s, pred)),
             "gold": jsonl.span_dicts(jsonl.character_spans(s, g))}
            for s, pred, g in zip(sentences, predicted, golds, strict=True)))
        return
    if scheme not in PREFIXES:
        raise ConfigError(f"predictions_scheme must be one of {tuple(PREFIXES)}, got {scheme!r}")
    gold = [s.tags for s in sentences] if gold is None else gold
    lines = []
    for s, g, p in zip(sentences, gold, predicted, strict=True):
        if scheme != "iob2":
            g, p = convert(g, scheme), convert(p, scheme)
        lines += [f"{w} {a} {b}" for w, a, b in zip(s.words, g, p, strict=True)] + [""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")
