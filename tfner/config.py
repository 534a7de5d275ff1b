"""The tagger's configuration: one frozen dataclass that round-trips through JSON."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

from tfner.config_checks import check_names, check_tasks, check_types, check_values
from tfner.data.alignment import Windowing
from tfner.errors import ConfigError

#: The default encoder name; it resolves to all-MiniLM-L6-v2 shipped offline (see ``tfner.modeling.encoder``).
DEFAULT_ENCODER = "all-MiniLM-L6-v2"
#: window_overlap=None outside packed context: sub-word tokens shared by a long sentence's windows (at most
#: (max_length - 2) // 2)
DEFAULT_OVERLAP = 32
#: sentences_alone=None under packed context
DEFAULT_SENTENCES_ALONE = 0.5
#: max_length=None: sub-word tokens per window, and under packed context
DEFAULT_MAX_LENGTH, PACKED_MAX_LENGTH = 128, 256
#: window_overlap=None under packed context (at most (max_length - 2) // 2)
PACKED_OVERLAP = 63
#: the loss weight the further tasks of ``tasks`` share where ``task_weights`` does not name them (the main task: 1)
AUX_WEIGHT = 0.2


def _field(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class TaggerConfig:
    """Everything that defines how a tagger is built and trained.

    >>> cfg = TaggerConfig(epochs=2, learning_rate=3e-5)
    >>> TaggerConfig.from_json(cfg.to_json()) == cfg
    True
    >>> TaggerConfig.from_dict({"epoch": 2})
    Traceback (most recent call last):
    ...
    tfner.errors.ConfigError: unknown option 'epoch' (did you mean 'epochs'?)
    """

    encoder: str = _field(
        DEFAULT_ENCODER,
        "Encoder to fine-tune: 'all-MiniLM-L6-v2' (shipped offline), a local Hugging Face BERT "
        "directory, or a hub name (needs internet).",
    )
    pretrained: bool = _field(
        True, "Load the encoder's pre-trained weights; False builds it randomly initialised from its config."
    )
    init_from: str | None = _field(
        None, "A saved tagger (Tagger.save / output_dir/tagger) or an export to start from: its encoder and tokenizer replace "
        "`encoder`, the labels it shares with the new data keep its classifier rows (and CRF scores), new labels "
        "start fresh."
    )
    max_length: int | None = _field(
        None, "Sub-word tokens per window, [CLS] and [SEP] included. None: 128, or 256 under context='packed' (a "
        "window of 256 computes fewer positions per labelled word; CoNLL-2003, bench/README.md)."
    )
    window_overlap: int | None = _field(
        None, "Sub-word tokens of context shared by consecutive windows (of a sentence longer than max_length; under "
        "context='packed', of a document). None: 63 under context='packed' "
        "(at most (max_length - 2) // 2; the context a word keeps at a window's edge in training is what packed windows' accuracy needs: CoNLL-2003 "
        "test F1 87.01 at 63 against 85.91 at 32), else 32 (at most (max_length - 2) // 2)."
    )
    predict_overlap: int | None = _field(
        None, "window_overlap at prediction, evaluation and export (the stride of question answering's long "
        "contexts): more context at a window's edge where it is cheap, while training windows overlap by "
        "window_overlap. None: window_overlap."
    )
    label_all_subtokens: bool = _field(
        False, "Train on every sub-token (continuations of B-X get I-X) instead of the first of each word."
    )
    scheme: Literal["auto", "iob1", "iob2", "ioe1", "ioe2", "bioes", "bilou", "bmes"] = _field(
        "auto", "Tagging scheme of the input data; 'auto' detects it from the prefixes used (tfner.data.schemes)."
    )
    span_alignment: Literal["strict", "contract", "expand"] = _field(
        "strict", "Character-span JSONL input: a span not on word boundaries raises ('strict'), keeps only the "
        "words wholly inside it ('contract') or every word it touches ('expand'), with a warning."
    )
    invalid_tags: Literal["error", "repair"] = _field(
        "error", "A tag sequence the scheme does not allow (I-PER after O in IOB2, B-X without E-X in BIOES): "
        "'error' raises naming file, line and the expected tag; 'repair' reads it by the tolerant rule "
        "(conlleval's, generalised), with a warning saying how many sentences."
    )
    batch_size: int | None = _field(
        None, "Global batch size (windows), split across replicas. None: 16 under 5,000 train sentences, else 32 "
        "(tfner.tagging.recipe). Under context='packed' it counts full windows: a length bucket of shorter ones "
        "(a document's last window, a sentence alone) batches as many positions, batch_size * max_length // the "
        "bucket's longest (train_stats_['batch_sizes'])."
    )
    accumulate_steps: int = _field(
        1, "Gradient accumulation: batches of batch_size windows per optimizer update. Each update is the one "
        "a batch of batch_size * accumulate_steps windows would give (exactly: the loss is normalised over the "
        "whole group), holding one batch's activations at a time; steps, schedule and backups count updates."
    )
    epochs: int | None = _field(
        None, "Passes over the training data, dev scored after each. None: a budget of optimizer updates that "
        "follows the corpus (10 epochs' worth, at least 600 and at most about 1,500, never under 4 epochs), dev scored 8 "
        "times along it (freeze_encoder_epochs then counts whole rounds between evaluations), "
        "stopping early with dev data (tfner.training.schedule)."
    )
    learning_rate: float | None = _field(
        None, "Peak learning rate of AdamW. None: by the encoder's size: 1e-4 up to hidden size 512 (MiniLM), "
        "5e-5 up to 768 (BERT-base), else 3e-5."
    )
    warmup_ratio: float = _field(0.1, "Fraction of the training steps with linear warm-up.")
    weight_decay: float = _field(0.01, "AdamW decoupled weight decay (not applied to LayerNorm and bias).")
    clipnorm: float | None = _field(1.0, "Global gradient-norm clipping; None disables it.")
    length_buckets: tuple[int, ...] | None = _field(
        None, "Window-length bucket boundaries for batching; None picks powers of two below max_length (packed "
        "windows: every max_length // 8); () disables bucketing."
    )
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = _field(
        "float32", "Training precision: 'auto' picks mixed_float16 on GPUs, mixed_bfloat16 on CPUs with bfloat16 "
        "matrix instructions where it measures faster, else float32. Variables, loss and outputs stay float32."
    )
    freeze_embeddings: bool = _field(
        False, "Keep the encoder's embedding layer (word, position and type embeddings) fixed: a step no longer "
        "updates the 30k-row word-embedding matrix densely, which is a large part of a step on CPUs."
    )
    freeze_encoder_epochs: int = _field(
        0, "Train only the head (classifier, and CRF scores) for this many first epochs, the encoder fixed, then "
        "everything: new classifier rows settle before their gradients reach the encoder (useful with "
        "init_from). A value >= epochs never trains the encoder (a linear probe)."
    )
    context: Literal["auto", "sentence", "document", "packed"] = _field(
        "sentence", "What a window holds: the sentence alone; 'document': the sentence with its neighbours from "
        "the same document filling the rest of max_length (labels and predictions on the sentence's words only); "
        "'packed': a document's sentences end to end, cut into full windows that overlap by window_overlap, each "
        "word labelled in the one window where it has the most context. 'auto' (tfner.tagging.recipe): 'packed' "
        "where train marks documents (-DOCSTART- lines) of 3 or more sentences on average, else 'sentence'. Not the "
        "default: under the recipe's budget before its 4-pass floor, CoNLL-2003 full scored 87.41 with sentence windows "
        "(seeds 0, 1) and 87.76 packed (256/63, half the sentences alone), but that model lost 0.34 when tagging "
        "sentences one by one (0.3 allowed); sentence windows now train 4 passes there and score 87.74."
    )
    sentences_alone: float | None = _field(
        None, "Under context='packed': the fraction of training sentences (a seeded draw, fixed for the run) that "
        "get windows of their own, without their document, so that the model also tags a sentence given alone "
        "(predict on single texts); the rest of each document stays one run of neighbours. None: 0.5 under "
        "packed context."
    )
    head: Literal["auto", "softmax", "crf"] = _field(
        "auto", "Output head: 'softmax' (a label per word, cross-entropy) or 'crf' (a linear-chain CRF over "
        "the words: sequence likelihood, Viterbi decoding; IOB2's forbidden transitions are hard constraints). "
        "'auto': the CRF (on the defaults matrix, +1.6 to +2.4 F1 over softmax on CoNLL-2003 200 and 1,000 and NCBI "
        "200, -1.8 on WNUT-17; one seed each), softmax with label_all_subtokens (the CRF scores one tag per word)."
    )
    decode: Literal["argmax", "constrained"] = _field(
        "argmax", "How word tags are chosen: 'argmax' per word, or 'constrained': the most probable tag sequence "
        "IOB2 allows (Viterbi; never I-X after O or after another type). The CRF head always decodes "
        "with its own Viterbi (learned transitions plus the same constraints)."
    )
    unseen_labels: Literal["error", "outside"] = _field(
        "error", "An entity type in dev or evaluation data that train never has: 'error' raises naming file and "
        "line; 'outside' reads its tags as O, with a warning saying how many."
    )
    eval_mode: Literal["default", "strict"] = _field(
        "default", "seqeval mode: 'default' is conlleval-compatible, 'strict' scores IOB2 chunks strictly."
    )
    patience: int | None = _field(
        None, "Early stopping: stop after this many dev evaluations (epochs, with `epochs` given) without dev "
        "entity F1 rising more than min_delta above its best (needs dev data). None: with `epochs` given, train "
        "every epoch; with epochs=None, 3 evaluations when there is dev data. The schedule still spans the budget."
    )
    min_delta: float = _field(0.0, "The rise of dev entity F1 that counts as an improvement for patience.")
    deterministic: bool = _field(
        False, "Run TensorFlow's deterministic kernels during fit (same results run after run, also on GPUs; "
        "slower; an op without one raises). Process-wide while fit runs, then as before."
    )
    tasks: tuple[tuple[str, int], ...] | None = _field(
        None, "Multi-task training: task name -> tag column of the CoNLL files (0-based, negative from the end), "
        "e.g. {'ner': 3, 'pos': 1, 'chunk': 2}. The first task is the main one (entities, decoding, the CRF head, "
        "dev selection, predict's spans); every other gets its own linear head on the shared encoder, trained "
        "with loss sum(task_weights[t] * loss_t). None: one task, the last column."
    )
    task_weights: tuple[tuple[str, float], ...] | None = _field(
        None, "Loss weight of each task (name -> weight >= 0, the main task's > 0). Not named: the main task "
        "weighs 1 and the further tasks share AUX_WEIGHT (0.2) equally (equal weights cost CoNLL-2003 NER 5 F1)."
    )
    restore_best: Literal[True, False, "significant"] = _field(
        "significant", "With a dev set, which weights training ends with: True the round (epoch) with the best dev entity F1, "
        "False the last round's, 'significant' the best round's only if a paired bootstrap over dev's sentences finds "
        "it better than the last round's in 95% of resamples (else the last's).")
    seed: int = _field(0, "Seed for weight initialisation and shuffling.")

    def __post_init__(self):
        for name in ("tasks", "task_weights"):  # a mapping (or a list of pairs) is kept as a tuple of pairs
            value = getattr(self, name)
            if isinstance(value, dict):
                value = value.items()
            if value is not None and not isinstance(value, str):
                try:
                    object.__setattr__(self, name, tuple((k, v) for k, v in value))
                except (TypeError, ValueError):
                    raise ConfigError(f"{name} must map task names to values, got {value!r}") from None
        check_types(self)
        if self.length_buckets is not None and isinstance(self.length_buckets, list):
            object.__setattr__(self, "length_buckets", tuple(self.length_buckets))
        check_values(self)
        check_tasks(self)

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks' names, the main task first; () without ``tasks``."""
        return tuple(name for name, _ in self.tasks or ())

    @property
    def windowing(self) -> Windowing:
        """``max_length``, ``window_overlap`` (:attr:`chosen_overlap`) and ``label_all_subtokens`` as one value."""
        return Windowing(self.chosen_max_length, self.chosen_overlap, self.label_all_subtokens)

    @property
    def chosen_overlap(self) -> int:
        """``window_overlap``, or where it is ``None`` the default of the context (63 when packed, else 32; at most half the room)."""
        if self.window_overlap is not None:
            return self.window_overlap
        most = (self.chosen_max_length - 2) // 2
        return min(PACKED_OVERLAP if self.context == "packed" else DEFAULT_OVERLAP, most)

    @property
    def chosen_max_length(self) -> int:
        """``max_length``, or where it is ``None`` the default of the context (256 packed, else 128)."""
        if self.max_length is not None:
            return self.max_length
        return PACKED_MAX_LENGTH if self.context == "packed" else DEFAULT_MAX_LENGTH

    @property
    def chosen_sentences_alone(self) -> float:
        """``sentences_alone``, or where it is ``None`` its default (DEFAULT_SENTENCES_ALONE, 0.5, under packed context, else 0)."""
        if self.sentences_alone is not None:
            return self.sentences_alone
        return DEFAULT_SENTENCES_ALONE if self.context == "packed" else 0.0

    @property
    def chosen_context(self) -> str:
        """``context`` once the recipe has resolved ``"auto"`` (``fit`` does, before any window is cut)."""
        if self.context == "auto":
            raise ConfigError("context='auto' is left to the recipe (tfner.tagging.recipe.choose), which has not run")
        return self.context

    @property
    def chosen_batch_size(self) -> int:
        """``batch_size`` once the recipe has filled it (``fit`` does, before any data is batched)."""
        if self.batch_size is None:
            raise ConfigError("batch_size is left to the recipe (tfner.tagging.recipe.choose), which has not run")
        return self.batch_size

    @property
    def chosen_learning_rate(self) -> float:
        """``learning_rate`` once the recipe has filled it."""
        if self.learning_rate is None:
            raise ConfigError("learning_rate is left to the recipe (tfner.tagging.recipe.choose), which has not run")
        return self.learning_rate

    @property
    def predict_windowing(self) -> Windowing:
        """The windowing of prediction, evaluation and export: ``predict_overlap`` (else ``window_overlap``)."""
        overlap = self.chosen_overlap if self.predict_overlap is None else self.predict_overlap
        return Windowing(self.chosen_max_length, overlap, self.label_all_subtokens)

    def task_weight(self, name: str) -> float:
        """``name``'s loss weight: as asked, else 1 for the main task and ``AUX_WEIGHT`` shared by the others."""
        default = 1.0 if name == self.task_names[0] else AUX_WEIGHT / (len(self.task_names) - 1)
        return float(dict(self.task_weights or ()).get(name, default))

    # --- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["length_buckets"] is not None:
            d["length_buckets"] = list(d["length_buckets"])
        for name in ("tasks", "task_weights"):  # pairs in order (to_json sorts keys; the main task is the first)
            if d[name] is not None:
                d[name] = [list(pair) for pair in d[name]]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaggerConfig:
        check_options(d)
        d = dict(d)
        if isinstance(d.get("length_buckets"), list):
            d["length_buckets"] = tuple(d["length_buckets"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TaggerConfig:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"config is not valid JSON: {err}") from None
        if not isinstance(d, dict):
            raise ConfigError("config JSON must be an object")
        return cls.from_dict(d)

    def replace(self, **changes: Any) -> TaggerConfig:
        check_options(changes)
        return dataclasses.replace(self, **changes)


def option_names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(TaggerConfig))


def check_options(options: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for a key that is not a TaggerConfig field."""
    check_names(options, option_names())
