"""Scoring word tags: entity-level (seqeval) and token-level (scikit-learn) reports."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Literal

import numpy as np
from seqeval.metrics import classification_report as seqeval_report
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2
from seqeval.scheme import Entities as SeqevalEntities
from sklearn.metrics import classification_report as sklearn_report

from tfner.data.schemes import entities
from tfner.errors import ConfigError, DataFormatError


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Scores of predicted word tags against gold ones.

    ``entities`` maps each entity type, plus ``"micro avg"``, ``"macro avg"`` and
    ``"weighted avg"``, to ``{"precision", "recall", "f1-score", "support"}`` (seqeval).
    ``tokens`` is scikit-learn's ``classification_report`` dict over the tags of real
    words (no padding, no sub-token continuations); ``tokens_text`` is its printed form.
    ``confusion`` is :func:`entity_confusion` as ``{"names": [...], "counts": [[...]]}``.
    ``sentence_counts`` holds each sentence's ``(true positives, false positives, false negatives)``
    under the same chunking as ``entities`` (their sums give its micro average): what
    :func:`paired_bootstrap` resamples.
    """

    entities: dict
    entities_text: str
    tokens: dict
    tokens_text: str
    mode: str
    confusion: dict = dataclasses.field(default_factory=dict)
    sentence_counts: tuple = ()

    def __post_init__(self):  # read back from JSON (a run's progress.json) the counts are lists
        object.__setattr__(self, "sentence_counts", tuple(tuple(int(x) for x in c) for c in self.sentence_counts))

    def plot_confusion(self, path: str | os.PathLike | None = None):
        """The entity confusion matrix as a matplotlib figure (and a PNG at ``path``)."""
        from tfner import plots

        fig = plots.confusion_figure(np.asarray(self.confusion["counts"]), self.confusion["names"])
        return plots.save(fig, path)

    @property
    def f1(self) -> float:
        return float(self.entities["micro avg"]["f1-score"])

    @property
    def precision(self) -> float:
        return float(self.entities["micro avg"]["precision"])

    @property
    def recall(self) -> float:
        return float(self.entities["micro avg"]["recall"])

    def per_type_f1(self) -> dict[str, float]:
        return {k: float(v["f1-score"]) for k, v in self.entities.items() if not k.endswith(" avg")}

    def __str__(self) -> str:
        return (
            f"Entity-level (seqeval, mode={self.mode}):\n{self.entities_text}\n"
            f"Token-level (scikit-learn, real words only):\n{self.tokens_text}"
        )


@dataclasses.dataclass(frozen=True)
class TagEvaluation:
    """Scores of a tag task (one label per word, no spans: part of speech): accuracy over words.

    ``tokens`` / ``tokens_text`` are scikit-learn's ``classification_report`` (dict, printed).
    """

    accuracy: float
    words: int
    tokens: dict
    tokens_text: str

    def __str__(self) -> str:
        return f"Accuracy over {self.words:,} words: {self.accuracy:.4f}\n{self.tokens_text}"


def evaluate_word_tags(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> TagEvaluation:
    """Score a tag task's ``pred`` against ``gold``: the fraction of words whose tag is right, and the report."""
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred, strict=True)):
        raise DataFormatError("pred", None, "gold and predicted tags must have the same sentences and lengths")
    flat_g = [t for s in gold for t in s]
    flat_p = [t for s in pred for t in s]
    if not flat_g:
        raise DataFormatError("gold", None, "nothing to score: no words")
    right = sum(g == p for g, p in zip(flat_g, flat_p, strict=True))
    labels = sorted(set(flat_g) | set(flat_p))
    tok = sklearn_report(flat_g, flat_p, labels=labels, output_dict=True, zero_division=0)
    tok_text = sklearn_report(flat_g, flat_p, labels=labels, digits=4, zero_division=0)
    return TagEvaluation(accuracy=right / len(flat_g), words=len(flat_g), tokens=tok, tokens_text=tok_text)


def evaluate_tags(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    mode: Literal["default", "strict"] = "default",
) -> Evaluation:
    """Score ``pred`` against ``gold`` (lists of IOB2 tag lists, one tag per word)."""
    if mode not in ("default", "strict"):
        raise ConfigError(f"mode must be 'default' or 'strict', got {mode!r}")
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred, strict=True)):
        raise DataFormatError("pred", None, "gold and predicted tags must have the same sentences and lengths")
    gold, pred = [list(g) for g in gold], [list(p) for p in pred]
    if not any(gold):
        raise DataFormatError("gold", None, "nothing to score: no words")
    counts_per_sentence = sentence_counts(gold, pred, mode)
    if not any(sum(c) for c in counts_per_sentence):
        # seqeval cannot report on data without a single entity (in strict mode an I-X after O is none); every
        # count is zero
        zero = {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0.0}
        ent = {avg: dict(zero) for avg in ("micro avg", "macro avg", "weighted avg")}
        ent_text = "no entities in the gold tags or the predictions"
    else:
        kw = dict(mode="strict", scheme=IOB2) if mode == "strict" else {}
        ent = seqeval_report(gold, pred, output_dict=True, zero_division=0, **kw)
        ent_text = seqeval_report(gold, pred, digits=4, zero_division=0, **kw)
    flat_g = [t for s in gold for t in s]
    flat_p = [t for s in pred for t in s]
    labels = sorted(set(flat_g) | set(flat_p))
    tok = sklearn_report(flat_g, flat_p, labels=labels, output_dict=True, zero_division=0)
    tok_text = sklearn_report(flat_g, flat_p, labels=labels, digits=4, zero_division=0)
    ent = {k: {m: float(x) for m, x in v.items()} for k, v in ent.items()}
    types = sorted({t[2:] for t in flat_g + flat_p if t != "O"})
    counts, names = entity_confusion(gold, pred, types)
    return Evaluation(entities=ent, entities_text=ent_text, tokens=tok, tokens_text=tok_text, mode=mode,
                      confusion={"names": names, "counts": counts.tolist()},
                      sentence_counts=counts_per_sentence)


def sentence_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                    mode: Literal["default", "strict"] = "default") -> tuple[tuple[int, int, int], ...]:
    """Each sentence's ``(true positives, false positives, false negatives)``, entities chunked as
    seqeval chunks them in ``mode`` (conlleval's rule by default, IOB2's strict rule in ``"strict"``)."""
    found = []
    for g_tags, p_tags in zip(gold, pred, strict=True):
        if mode == "strict":
            g = {e.to_tuple()[1:] for e in SeqevalEntities([list(g_tags)], IOB2).entities[0]}
            p = {e.to_tuple()[1:] for e in SeqevalEntities([list(p_tags)], IOB2).entities[0]}
        else:
            g, p = set(get_entities(list(g_tags))), set(get_entities(list(p_tags)))
        found.append((len(g & p), len(p - g), len(g - p)))
    return tuple(found)


def f1_from_counts(counts: np.ndarray) -> np.ndarray:
    """Micro entity F1 of ``(..., 3)`` summed ``(true positives, false positives, false negatives)``; 0 where
    there is no true positive (seqeval's ``zero_division=0``)."""
    counts = np.asarray(counts, np.float64)
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    return np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)


def paired_bootstrap(a: Evaluation, b: Evaluation, *, resamples: int = 1000, seed: int = 0) -> float:
    """The share of bootstrap resamples of the scored sentences in which ``a``'s entity F1 is above ``b``'s.

    ``a`` and ``b`` score the same sentences (two taggers, or two rounds of one fit): each resample
    draws as many sentences as there are, with replacement and the same draw for both, and
    compares the micro F1 of the drawn sentences' counts (Koehn 2004's paired bootstrap; a share of
    0.95 or more is the usual "a is better, not by chance of the sample"). Seeded: the same
    evaluations give the same share.
    """
    if not (isinstance(resamples, int) and resamples >= 1):
        raise ConfigError(f"resamples must be an integer >= 1, got {resamples!r}")
    ca, cb = np.asarray(a.sentence_counts, np.int64), np.asarray(b.sentence_counts, np.int64)
    if ca.shape != cb.shape or ca.ndim != 2 or ca.shape[0] == 0:
        raise DataFormatError("evaluations", None, "paired_bootstrap needs two evaluations of the same, non-empty "
                              f"list of sentences (sentence counts of shapes {ca.shape} and {cb.shape})")
    rng = np.random.default_rng(seed)
    n, wins = ca.shape[0], 0
    for start in range(0, resamples, 100):  # 100 resamples at a time: memory bounded by 100 x sentences
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=min(100, resamples - start)).astype(np.float64)
        wins += int(np.sum(f1_from_counts(weights @ ca) > f1_from_counts(weights @ cb)))
    return wins / resamples


#: The row and column of entity_confusion for "no entity on these words" (missed / spurious).
NONE = "(none)"


def entity_confusion(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                     types: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """``(counts, names)``: rows gold type, columns predicted type; the last row and column are ``(none)``.

    A gold entity whose exact words are also a predicted entity lands in (gold type,
    predicted type); a gold entity with no predicted entity on the same words is in the
    ``(none)`` column (missed); a predicted entity with no gold one on its words is in the
    ``(none)`` row (spurious).
    """
    names = [*types, NONE]
    index = {t: i for i, t in enumerate(names)}
    counts = np.zeros((len(names), len(names)), np.int64)
    for g_tags, p_tags in zip(gold, pred, strict=True):
        g = {(a, b): t for a, b, t in entities(g_tags)}
        p = {(a, b): t for a, b, t in entities(p_tags)}
        for span, kind in g.items():
            counts[index[kind], index[p.get(span, NONE)]] += 1
        for span, kind in p.items():
            if span not in g:
                counts[index[NONE], index[kind]] += 1
    return counts, names
