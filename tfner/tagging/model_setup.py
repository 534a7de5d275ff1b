"""The model of a fit: encoder + classifier, head and loss, optimizer and schedule, compiled.

``init_from`` starts from a saved tagger's weights (rows of the labels both share copied,
:func:`tfner.modeling.encoder.transfer`). Everything is built inside the strategy's scope and
the precision policy chosen for the machine; the optimizer, schedule and compile step are the
ones ``pretrain`` uses too (:func:`tfner.training.optim.compile_for_training`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from tfner.config import TaggerConfig
from tfner.data import tasks as tasks_lib
from tfner.modeling import encoder
from tfner.modeling.crf_head import CrfHead, CrfLoss
from tfner.modeling.loss import MaskedTokenLoss, MultiTaskLoss
from tfner.tagging.saved_tagger import InitSource
from tfner.training import accumulate, precision
from tfner.training.optim import OptimizerSettings, WarmupLinearDecay, compile_for_training


@dataclasses.dataclass(frozen=True)
class ModelSetup:
    """A compiled model ready for ``fit``; ``transferred_labels``: classifier rows copied from ``init_from``."""

    model: Any
    schedule: WarmupLinearDecay
    precision: precision.PrecisionChoice
    transferred_labels: list[str]


def optimizer_settings(cfg: TaggerConfig) -> OptimizerSettings:
    return OptimizerSettings(cfg.chosen_learning_rate, cfg.warmup_ratio, cfg.weight_decay, cfg.clipnorm)


def choose_precision(cfg: TaggerConfig, shape: tuple[int, int]) -> precision.PrecisionChoice:
    """``cfg.precision`` resolved; ``"auto"`` on a CPU with bfloat16 instructions times a matmul at the encoder's
    feed-forward ``shape`` (:func:`tfner.modeling.encoder.matmul_shape`)."""
    hidden, intermediate = shape
    return precision.choose_precision(cfg.precision, gpus=len(tf.config.list_logical_devices("GPU")), hidden=hidden,
                                      intermediate=intermediate)


def build(cfg: TaggerConfig, labels: list[str], tasks: Sequence[tasks_lib.AuxTask], source: InitSource | None,
          strategy, chosen: precision.PrecisionChoice, updates: int) -> ModelSetup:
    """The compiled model for ``labels`` (and ``tasks``' heads), its learning-rate schedule spanning ``updates``."""
    rows = tasks_lib.head_names(labels, tasks)  # the classifier's rows: every task's labels, the main task's first
    with precision.policy_scope(chosen.policy), strategy.scope():
        model, transferred = _encoder_and_classifier(cfg, rows, source)
        model.config.id2label = dict(enumerate(rows))
        model.config.label2id = {t: i for i, t in enumerate(rows)}
        if cfg.freeze_embeddings:
            encoder.embeddings_layer(model).trainable = False
        loss = _loss(cfg, model, labels, tasks, source)
        schedule = compile_for_training(model, loss, optimizer_settings(cfg), updates)
        if cfg.accumulate_steps > 1:
            accumulate.install(model, loss)
        if cfg.freeze_encoder_epochs:
            model.optimizer.build(model.trainable_variables)  # slots for the encoder too, before it is frozen
    return ModelSetup(model, schedule, chosen, transferred)


def _encoder_and_classifier(cfg: TaggerConfig, rows: list[str], source: InitSource | None) -> tuple[Any, list[str]]:
    if source is None:
        model = encoder.build_model(cfg.encoder, len(rows), pretrained=cfg.pretrained, seed=cfg.seed,
                                    max_length=cfg.chosen_max_length)
        return model, []
    model = encoder.build_model(str(source.folder), len(rows), pretrained=False, seed=cfg.seed,
                                max_length=cfg.chosen_max_length)
    saved = encoder.build_model(str(source.folder), len(source.rows), pretrained=True, seed=None)
    transferred = encoder.transfer(model, saved, rows, source.rows)
    del saved
    return model, transferred


def _loss(cfg: TaggerConfig, model, labels: list[str], tasks: Sequence[tasks_lib.AuxTask],
          source: InitSource | None) -> tf.keras.losses.Loss:
    """The main task's loss (softmax or the CRF's), with further tasks ``sum_t weight_t * L_t``."""
    loss: tf.keras.losses.Loss = MaskedTokenLoss()
    if cfg.head == "crf":
        # An attribute of the model, so its weights are among model.trainable_variables.
        model.crf_head = CrfHead(labels)
        if source is not None and source.config.head == "crf":
            model.crf_head.copy_shared(source.crf_head())
        loss = CrfLoss(model.crf_head)
    if tasks:  # each task's loss on its own slice of the logits
        loss = MultiTaskLoss([loss, *(MaskedTokenLoss(name=f"{t.name}_loss") for t in tasks)],
                             tasks_lib.head_sizes(labels, tasks),
                             [cfg.task_weight(cfg.task_names[0]), *(t.weight for t in tasks)])
    return loss


def set_encoder_trainable(model, cfg: TaggerConfig, on: bool) -> None:
    """``freeze_encoder_epochs``' switch: the encoder trained or fixed (frozen embeddings stay fixed)."""
    encoder.encoder_layer(model).trainable = on
    if cfg.freeze_embeddings:
        encoder.embeddings_layer(model).trainable = False
