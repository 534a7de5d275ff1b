"""AdamW with linear warm-up then linear decay, global-norm clipping, no decay on LayerNorm/bias."""

from __future__ import annotations

import tensorflow as tf

NO_DECAY = ("LayerNorm", "layer_norm", "bias", "crf_head")


class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak`` over ``warmup_steps``, then linear decay reaching 0 at ``total_steps``.

    Step ``t`` (0-based) uses ``peak * (t + 1) / warmup_steps`` while ``t < warmup_steps``,
    then ``peak * (total_steps - t) / (total_steps - warmup_steps)``: as in Hugging Face's
    linear schedule, the last step that runs (``total_steps - 1``) has a small positive rate.

    >>> s = WarmupLinearDecay(1.0, warmup_steps=2, total_steps=6)
    >>> [round(float(s(t)), 3) for t in range(7)]
    [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = max(int(total_steps), 1)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = tf.cast(max(self.warmup_steps, 1), tf.float32)
        up = self.peak * (step + 1.0) / warm
        down = self.peak * tf.maximum(0.0, (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1))
        return tf.where(step < self.warmup_steps, up, down)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


def build_optimizer(schedule: WarmupLinearDecay, *, weight_decay: float, clipnorm: float | None):
    """A tf-keras AdamW following ``schedule``. Create it inside the strategy scope."""
    opt = tf.keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=weight_decay,
        epsilon=1e-8,
        global_clipnorm=clipnorm,
    )
    opt.exclude_from_weight_decay(var_names=list(NO_DECAY))
    return opt
