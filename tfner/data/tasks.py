"""Multi-task data: which further tasks a tagger learns, their labels, and their tags per sentence.

A task is a tag column (``TaggerConfig.tasks``: name -> column). The first is the *main* task:
its tags are each :class:`~tfner.data.readers.Sentence`'s ``tags`` (IOB2 entities), as without
tasks. Every further task is an :class:`AuxTask` whose tags are the sentence's ``aux`` tags:

* a **span** task when every tag of its training column is ``O`` or ``<prefix>-<type>`` in one
  of the schemes of :mod:`tfner.data.schemes` (CoNLL-2003's chunk column): read into IOB2 as the
  main task's tags are (scheme detected, the same checks), scored by entity F1;
* a **tag** task otherwise (part-of-speech): one label per word, scored by accuracy.

The classifier has one row per label of every task, the main task's first, then each further
task's (:func:`head_names`); one linear layer of that width is exactly one independent linear
head per task on the shared encoder.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from tfner.data.alignment import IGNORE
from tfner.data.readers import Sentence
from tfner.data.schemes import label_list, normalize_tags

SPANS, TAGS = "spans", "tags"
_SPAN_TAG = re.compile(r"^(?:O|[BIESMLU]-\S+)$")


@dataclasses.dataclass(frozen=True)
class AuxTask:
    """A further task: its name, labels (rows of its head, in order), kind and loss weight."""

    name: str
    labels: tuple[str, ...]
    kind: str  # SPANS or TAGS
    weight: float = 1.0

    def to_dict(self) -> dict:
        return {"name": self.name, "labels": list(self.labels), "kind": self.kind, "weight": self.weight}

    @classmethod
    def from_dict(cls, d: dict) -> AuxTask:
        return cls(d["name"], tuple(d["labels"]), d["kind"], float(d["weight"]))


def kind_of(tags: Sequence[str]) -> str:
    """``SPANS`` if every tag is ``O`` or ``<B|I|E|S|M|L|U>-<type>`` and one is not ``O``; else ``TAGS``."""
    return SPANS if any(t != "O" for t in tags) and all(_SPAN_TAG.match(t) for t in tags) else TAGS


def describe(train: Sequence[Sentence], names: Sequence[str], weights: dict[str, float]) -> list[AuxTask]:
    """The further tasks ``names`` as the training sentences (already IOB2 for span tasks) show them, each with its
    loss weight ``weights[name]``."""
    out = []
    for name in names:
        tags = [t for s in train for t in s.aux_tags(name)]
        kind = kind_of(tags)
        labels = label_list(tags) if kind == SPANS else sorted(set(tags))
        out.append(AuxTask(name, tuple(labels), kind, weights[name]))
    return out


def to_iob2(sentences: Sequence[Sentence], names: Sequence[str], kinds: dict[str, str], *, scheme: str = "auto",
            invalid_tags: str = "error") -> list[Sentence]:
    """``sentences`` with the tags of every span task among ``names`` in IOB2 (scheme detected per task).

    ``kinds`` gives a task's kind (from training); a task not in it is judged from these sentences.
    A malformed or invalid tag raises :class:`~tfner.errors.DataFormatError` naming file and line.
    """
    if not names or not sentences:
        return list(sentences)
    converted: dict[str, list[list[str]]] = {}
    for name in names:
        column = [s.aux_tags(name) for s in sentences]
        kind = kinds.get(name) or kind_of([t for tags in column for t in tags])
        if kind != SPANS:
            continue

        converted[name] = normalize_tags(column, scheme, _locator(sentences, name), invalid_tags)[0]  # type: ignore[arg-type]
    if not converted:
        return list(sentences)
    return [dataclasses.replace(s, aux=tuple((name, tuple(converted[name][i]) if name in converted else tags)
                                             for name, tags in s.aux))
            for i, s in enumerate(sentences)]


class _LabelIds(dict):
    def __missing__(self, tag: str) -> int:
        return IGNORE


def label_ids(task: AuxTask) -> dict[str, int]:
    """``task``'s label -> row of its head; a tag training never had (in dev data) maps to ``IGNORE``:
    no loss, and in scoring simply a word the head cannot get right."""
    return _LabelIds({t: i for i, t in enumerate(task.labels)})


def _locator(sentences: Sequence[Sentence], name: str):
    def locate(s: int, w: int) -> tuple[str, int | None]:
        sentence = sentences[s]
        where = f"{sentence.source} ({name} tags)"
        return (where, sentence.line + w) if sentence.line is not None else (f"{where}, word {w}", None)

    return locate


def head_names(labels: Sequence[str], tasks: Sequence[AuxTask]) -> list[str]:
    """The classifier's rows: the main task's labels, then ``"<task>:<label>"`` for each further task."""
    return [*labels, *(f"{task.name}:{label}" for task in tasks for label in task.labels)]


def head_sizes(labels: Sequence[str], tasks: Sequence[AuxTask]) -> list[int]:
    """How many classifier rows each task has, the main task first."""
    return [len(labels), *(len(task.labels) for task in tasks)]
