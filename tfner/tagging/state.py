"""The learned state of a tagger: what ``fit`` produces and ``tfner.load`` reads back.

One frozen value, so a :class:`~tfner.tagger.Tagger` takes all of it or none (a failed refit
leaves nothing half-set), and prediction and scoring read it without reaching into the estimator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from tfner.config import TaggerConfig
from tfner.data import tasks as tasks_lib
from tfner.modeling.crf_head import CrfHead
from tfner.serving import export as export_lib
from tfner.serving import graph_pieces, text_graph


@dataclasses.dataclass(frozen=True)
class TaggerState:
    """``model`` is ``None`` for a tagger loaded from an export (``loaded`` then keeps its SavedModel
    alive); ``serve`` is ``serving_default``; ``predict_text`` the in-graph text route, ``None``
    where the tokenizer cannot run in the graph (RoBERTa's BPE, XLM-R's Unigram)."""

    config: TaggerConfig
    labels: list[str]
    tasks: list[tasks_lib.AuxTask]
    tokenizer: Any
    model: Any
    crf_head: CrfHead | None
    serve: Callable[..., dict]
    predict_text: Callable[..., dict] | None
    module: export_lib.TaggingModule | None = None
    loaded: Any = None

    @property
    def decode_mode(self) -> str:
        """How word probabilities become tags: the CRF head's Viterbi, else ``config.decode``."""
        return decode_mode(self.config)


def decode_mode(cfg: TaggerConfig) -> str:
    return "crf" if cfg.head == "crf" else cfg.decode


def from_model(cfg: TaggerConfig, labels: Sequence[str], tokenizer, model,
               tasks: Sequence[tasks_lib.AuxTask] = ()) -> TaggerState:
    """The state of a trainable ``model`` (its CRF head, if any, is ``model.crf_head``): its serving
    computations are built here, so prediction in memory runs what an export saves."""
    head = getattr(model, "crf_head", None)
    text = text_graph.text_options(tokenizer, max_length=cfg.chosen_max_length, overlap=cfg.predict_windowing.overlap,
                                   decode=decode_mode(cfg)) if graph_pieces.in_graph(tokenizer) else {}
    module = export_lib.TaggingModule(model, list(labels), head=head, tasks=[(t.name, t.labels) for t in tasks],
                                      **text)
    return TaggerState(cfg, list(labels), list(tasks), tokenizer, model, head, module.serve,
                       module.predict_text if text else None, module)
