"""AdamW with linear warm-up then linear decay, global-norm clipping, no decay on LayerNorm/bias."""

from __future__ import annotations

import tensorflow as tf

NO_DECAY = ("LayerNorm", "layer_norm", "bias")


class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """0 -> ``peak`` linearly over ``warmup_steps``, then linearly down to 0 at ``total_steps``."""

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


def build_optimizer(*, learning_rate: float, warmup_steps: int, total_steps: int, weight_decay: float, clipnorm):
    """A tf-keras AdamW. Create it inside the strategy scope."""
    opt = tf.keras.optimizers.AdamW(
        learning_rate=WarmupLinearDecay(learning_rate, warmup_steps, total_steps),
        weight_decay=weight_decay,
        epsilon=1e-8,
        global_clipnorm=clipnorm,
    )
    opt.exclude_from_weight_decay(var_names=list(NO_DECAY))
    return opt
