"""The recipe of a fit whose options are left to tfner: batch size, learning rate, head; a held-out dev slice if asked.

``TaggerConfig`` leaves ``batch_size``, ``learning_rate`` and ``epochs`` at ``None`` and ``head`` at
``"auto"`` by default; :func:`choose` fills all but ``epochs`` by rules that depend on the corpus and the encoder, not on
any one data set (the schedule's budget is :mod:`tfner.training.schedule`'s), and says why.
An option the user sets is kept as it is.

* **batch size**: ``SMALL_BATCH`` windows below ``LARGE_CORPUS`` training sentences (more,
  noisier updates where data is scarce), else ``LARGE_BATCH``;
* **learning rate** by the encoder's hidden size: small encoders (MiniLM, hidden <= 512) take
  1e-4, BERT-base sizes 5e-5, larger ones 3e-5 (the usual fine-tuning ranges by size);
* **context**, where ``context="auto"`` is asked (the default is ``"sentence"``: on CoNLL-2003 full
  the recipe's sentence windows scored 87.41 over seeds 0 and 1 and packed windows of 256 with half
  the sentences alone 87.76, but 87.43 on sentences given one by one, a loss of 0.34 where 0.3 is
  allowed, both before the budget's 4-pass floor; sentence windows at today's 4 passes score 87.74; README.md): ``"packed"`` where train marks at
  least ``MIN_DOCUMENTS`` documents (``-DOCSTART-`` lines; runs of consecutive sentences of one
  document) of ``MIN_DOCUMENT_SENTENCES`` sentences or more on average (a prepared folder:
  ``"sentence"``, its windows are cut), so that packing
  gives a sentence neighbours (CoNLL-2003 full, CRF, 3 epochs: packed windows 87.01 test F1 over two
  seeds, sentence windows 86.05; bench/README.md); else ``"sentence"`` (a file without document marks
  is one document whose sentences need not be related, JSONL lines are a document each, and a random
  sample of a corpus keeps about one sentence a document). With ``max_length=None`` and
  ``window_overlap=None`` packed windows are 256 long and overlap by 63;
* **batch size under packed context**: the sentence rule's batch, in windows holding as many
  sentences: ``round(batch x tokens per sentence / new tokens per window)`` (sub-word tokens per
  sentence estimated on up to ``TOKEN_SAMPLE`` train sentences; a window brings
  ``max_length - 2 - overlap`` new tokens), so an update sees about as many sentences as in
  sentence context (CoNLL-2003: 17.7 sub-words a sentence, so 32 sentences make 3 windows of 256 at
  overlap 63). Half the training sentences get windows of their own (``sentences_alone``), so the
  model also tags a sentence that comes without its document;
* **head** (``head="auto"``): the CRF; softmax where ``label_all_subtokens`` labels every sub-token
  or a ``decode`` other than argmax is asked (the CRF decodes with its own Viterbi);
* **no dev data**: all of train trains for the whole schedule and the final weights are kept. Measured
  against holding out a seeded tenth to score, stop and select (bench/README.md, "The defaults
  matrix": CoNLL-2003 1,000 sentences, 81.08 / 81.62 test F1 on seeds 0 / 1 against 77.87 for the
  held-out slice and 81.08 / 81.40 with the corpus's dev set; WNUT-17 seed 0: 45.50 against 41.78
  with its dev set): the budget is sized so that the run's end is a good place to stop, and a
  slice taken from train costs more than selection gains.
  ``fit(train, 0.1)`` asks for a slice (:func:`holdout`: whole documents where the corpus marks ten
  or more and they fit, else a run of consecutive sentences under document context, single
  sentences otherwise). Labels come from all of train: a type only the slice holds gets a
  classifier row that never trains.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Sequence

from tfner.config import TaggerConfig
from tfner.data.readers import Sentence
from tfner.errors import ConfigError
from tfner.tagging.inputs import Corpus
from tfner.training.callbacks import SIGNIFICANT, SIGNIFICANT_SHARE

LARGE_CORPUS = 5_000
SMALL_BATCH, LARGE_BATCH = 16, 32
#: (largest hidden size, learning rate), the first that fits
LEARNING_RATES = ((512, 1e-4), (768, 5e-5), (None, 3e-5))
MIN_DOCUMENTS, MIN_DOCUMENT_SENTENCES = 2, 3.0
TOKEN_SAMPLE = 2_000


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What :func:`choose` decided, with a reason for each choice (``train_stats_["recipe"]``, ``run.json``)."""

    batch_size: int
    batch_size_reason: str
    learning_rate: float
    learning_rate_reason: str
    head: str
    head_reason: str
    dev: str  # "given", "held out" or "none"
    dev_reason: str
    context: str = "sentence"
    context_reason: str = "as asked"

    def describe(self, schedule: str) -> str:
        """The console's one line (the context where ``context="auto"`` chose it)."""
        context = "" if self.context_reason == "as asked" else f"{self.context} context ({self.context_reason}), "
        return (f"recipe: {context}batch {self.batch_size} ({self.batch_size_reason}), learning rate "
                f"{self.learning_rate:g} ({self.learning_rate_reason}), {self.head} head ({self.head_reason}); "
                f"{schedule}; dev: {self.dev_reason}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def batch_size(sentences: int) -> tuple[int, str]:
    """The default batch size for ``sentences`` training sentences, and why."""
    if sentences < LARGE_CORPUS:
        return SMALL_BATCH, f"under {LARGE_CORPUS:,} train sentences"
    return LARGE_BATCH, f"{LARGE_CORPUS:,} train sentences or more"


def context(sentences: Sequence[Sentence]) -> tuple[str, str]:
    """The default context for train ``sentences``, and why. A document counts as its runs of consecutive
    sentences (packing joins only neighbours in the list): a shuffled corpus has about one sentence a run."""
    documents = sum(1 for _ in itertools.groupby(s.document for s in sentences))
    mean = len(sentences) / max(documents, 1)
    if documents >= MIN_DOCUMENTS and mean >= MIN_DOCUMENT_SENTENCES:
        return "packed", f"{documents:,} documents of {mean:.1f} sentences on average"
    if documents < MIN_DOCUMENTS:
        return "sentence", "no documents marked"
    return "sentence", f"documents of {mean:.1f} sentences on average, under {MIN_DOCUMENT_SENTENCES:g}"


def tokens_per_sentence(tokenizer, sentences: Sequence[Sentence], seed: int) -> float:
    """Mean sub-word tokens (no special tokens) of up to ``TOKEN_SAMPLE`` seeded train sentences."""
    sample = random.Random(seed).sample(list(sentences), min(TOKEN_SAMPLE, len(sentences)))
    encoded = tokenizer([list(s.words) for s in sample], is_split_into_words=True, add_special_tokens=False)
    return sum(len(ids) for ids in encoded["input_ids"]) / max(len(sample), 1)


def packed_batch(sentence_batch: int, tokens: float, max_length: int, overlap: int) -> int:
    """Windows of a packed batch holding about ``sentence_batch`` sentences of ``tokens`` sub-words each.

    >>> packed_batch(32, 16.0, 128, 63)  # 32 * 16 / 63 new tokens a window = 8.1
    8
    """
    return max(1, round(sentence_batch * tokens / (max_length - 2 - overlap)))


def learning_rate(hidden_size: int) -> tuple[float, str]:
    """The default peak learning rate for an encoder of ``hidden_size``, and why."""
    for largest, rate in LEARNING_RATES:
        if largest is None or hidden_size <= largest:
            return rate, f"encoder hidden size {hidden_size}"
    raise AssertionError("LEARNING_RATES ends with a catch-all")


def keeps(restore_best: bool | str) -> str:
    """Which round's weights a fit with dev data ends with (``restore_best``), in the console's words."""
    if restore_best == SIGNIFICANT:
        return (f"keeps the best round's weights where dev finds them clearly better than the last's (in "
                f"{SIGNIFICANT_SHARE:.0%} of paired bootstrap resamples), else the last's")
    return "keeps the best round's weights" if restore_best else "keeps the last round's weights"


def head(label_all_subtokens: bool, decode: str = "argmax") -> tuple[str, str]:
    """The default head, and why."""
    if label_all_subtokens:
        return "softmax", "label_all_subtokens: the CRF scores one tag per word"
    if decode != "argmax":
        return "softmax", f"decode={decode!r} asked: the CRF decodes with its own Viterbi"
    return "crf", "the default"


def holdout(sentences: Sequence[Sentence], seed: int, contiguous: bool = False,
            fraction: float = 0.1) -> tuple[list[Sentence], list[Sentence]]:
    """``(kept, held_out)``: a seeded ``fraction`` of ``sentences``; both keep the
    file's order. Whole documents where there are at least ten and enough of them fit the size (a document that
    would overshoot it is passed over); else single sentences, or with ``contiguous`` (document context, whose
    windows take a sentence's neighbours) one seeded run of consecutive sentences, so no sentence gains a
    neighbour it did not have but at the run's two ends."""
    want = max(1, round(fraction * len(sentences)))
    if want >= len(sentences):
        raise ConfigError(f"holding out {fraction} of {len(sentences)} train sentences leaves none to train on")
    rng = random.Random(seed)
    documents: dict[int, list[int]] = {}
    for i, s in enumerate(sentences):
        documents.setdefault(s.document, []).append(i)
    held: set[int] = set()
    if len(documents) >= 10:
        order = list(documents)
        rng.shuffle(order)
        for d in order:
            if len(held) + len(documents[d]) <= want:
                held.update(documents[d])
        if len(held) < want // 2:  # the documents are too large to make up the slice
            held = set()
    if not held:
        if contiguous:
            start = rng.randrange(len(sentences) - want + 1)
            held = set(range(start, start + want))
        else:
            held = set(rng.sample(range(len(sentences)), want))
    return ([s for i, s in enumerate(sentences) if i not in held],
            [s for i, s in enumerate(sentences) if i in held])


def choose(cfg: TaggerConfig, corpus: Corpus, hidden_size: int,
           tokenizer=None) -> tuple[TaggerConfig, Corpus, Recipe]:
    """``cfg`` with its left-open options filled, ``corpus`` with a held-out dev slice where the rules hold one.
    ``tokenizer`` sizes a packed batch (``context`` packed and ``batch_size`` left open)."""
    sentences = len(corpus.train) if corpus.manifest is None else int(corpus.manifest["sentences"])
    chosen_context: str
    if cfg.context != "auto":
        chosen_context, context_why = cfg.context, "as asked"
    elif corpus.manifest is not None:
        chosen_context, context_why = "sentence", "a prepared folder holds sentence windows"
    else:
        chosen_context, context_why = context(corpus.train)
    cfg = cfg.replace(context=chosen_context)
    cfg = cfg.replace(max_length=cfg.chosen_max_length, window_overlap=cfg.chosen_overlap,
                      sentences_alone=cfg.chosen_sentences_alone)
    if corpus.dev:
        dev, dev_why = "given", f"{len(corpus.dev):,} sentences given; {keeps(cfg.restore_best)}"
    elif corpus.holdout is not None:  # held out first: the batch size is the training sentences'
        kept, held = holdout(corpus.train, cfg.seed, contiguous=chosen_context != "sentence", fraction=corpus.holdout)
        corpus = dataclasses.replace(corpus, train=kept, dev=held)
        stop = " and stop early" if cfg.epochs is None or cfg.patience is not None else ""  # schedule.plan's rule
        dev, dev_why = "held out", (f"{len(held):,} of {sentences:,} train sentences held out as asked (dev="
                                    f"{corpus.holdout:g}, seed {cfg.seed}) to score{stop}; {keeps(cfg.restore_best)}")
        sentences = len(kept)
    else:
        dev = "none"
        dev_why = ("none given: no early stopping, the final weights" if cfg.epochs is not None or corpus.manifest
                   else "none given: all of train trains for the whole schedule and the final weights are kept "
                        "(fit(train, 0.1) holds out a tenth to select)")
    if cfg.batch_size is None:
        size, size_why = batch_size(sentences)
        if chosen_context == "packed" and tokenizer is not None:
            tokens = tokens_per_sentence(tokenizer, corpus.train, cfg.seed)
            size = packed_batch(size, tokens, cfg.chosen_max_length, cfg.chosen_overlap)
            size_why += (f"; packed windows of {cfg.chosen_max_length - 2 - cfg.chosen_overlap} new sub-words holding "
                         f"{tokens:.1f} a sentence")
    else:
        size, size_why = cfg.batch_size, "as asked"
    if cfg.learning_rate is None:
        rate, rate_why = learning_rate(hidden_size)
    else:
        rate, rate_why = cfg.learning_rate, "as asked"
    if cfg.head == "auto":
        chosen_head, head_why = head(cfg.label_all_subtokens, cfg.decode)
    else:
        chosen_head, head_why = cfg.head, "as asked"
    if cfg.patience is not None and not corpus.dev:
        raise ConfigError("patience (early stopping) watches dev entity F1: pass dev data to fit")
    return (cfg.replace(batch_size=size, learning_rate=rate, head=chosen_head), corpus,
            Recipe(size, size_why, rate, rate_why, chosen_head, head_why, dev, dev_why, chosen_context, context_why))
