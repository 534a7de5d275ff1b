"""AdamW with linear warm-up then linear decay, global-norm clipping, no decay on LayerNorm/bias.

The update runs as TensorFlow's fused Adam kernel (one pass over each variable and its two
moments) instead of tf-keras' chain of element-wise ops: the same arithmetic, about 2.5x less
optimizer time on a MiniLM step, +19% training speed (bench/README.md, "What the latest figures say").
"""

from __future__ import annotations

import dataclasses
import math

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


class AdamW(tf.keras.optimizers.AdamW):
    """tf-keras' AdamW, clipping the true global gradient norm, updating with the fused Adam kernel.

    **Clipping.** tf-keras clips *before* it sums the duplicate rows of a sparse gradient: the
    word-embedding gradient of a batch comes as one slice per token occurrence, and the norm of
    those slices is not the norm of the gradient (a word seen ``n`` times with similar slices
    counts about ``sqrt(n)`` times its slice instead of ``n`` times), so clipping acted on a
    different number than PyTorch's ``clip_grad_norm_`` and than the same update with dense
    gradients (gradient accumulation). Summing duplicates first makes the norm exact.

    **The update.** tf-keras writes Adam as about a dozen element-wise ops per variable (each a
    full pass over memory, with temporaries), and its sparse path still decays both moments and
    updates the whole matrix densely. Here each variable gets its decoupled weight decay as one
    multiply, then one ``ResourceApplyAdam`` (``m``, ``v`` and the variable in one pass); a sparse
    gradient is densified first (duplicates summed), which is exactly what tf-keras' sparse path
    computes. Same formula, same slot variables (backups are interchangeable): ``var *= 1 - lr *
    wd`` (unless excluded), ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, ``var -= lr
    sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.amsgrad:
            raise ValueError("tfner's AdamW has no amsgrad variant")

    def _clip_gradients(self, grads):
        if self.global_clipnorm is not None:
            grads = self._deduplicate_sparse_grad(grads)
        return super()._clip_gradients(grads)

    def _apply_weight_decay(self, variables):
        """Nothing here: :meth:`update_step` decays each variable just before its Adam update, as tf-keras orders them."""

    def update_step(self, gradient, variable):
        dtype = variable.dtype
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        lr = tf.cast(self.learning_rate, dtype)
        if self.weight_decay and self._use_weight_decay(variable):
            variable.assign(variable * (1.0 - lr * tf.cast(self.weight_decay, dtype)))
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        index = self._index_dict[self._var_key(variable)]
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step), lr=lr, beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=gradient, use_locking=False)


def build_optimizer(schedule: WarmupLinearDecay, *, weight_decay: float, clipnorm: float | None):
    """AdamW (:class:`AdamW`) following ``schedule``. Create it inside the strategy scope."""
    opt = AdamW(
        learning_rate=schedule,
        weight_decay=weight_decay,
        epsilon=1e-8,
        global_clipnorm=clipnorm,
    )
    opt.exclude_from_weight_decay(var_names=list(NO_DECAY))
    return opt


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
    """What ``fit`` and ``pretrain`` both set up the same way: AdamW, its schedule, clipping."""

    learning_rate: float
    warmup_ratio: float
    weight_decay: float
    clipnorm: float | None


def compile_for_training(model: tf.keras.Model, loss: tf.keras.losses.Loss, settings: OptimizerSettings,
                         total_steps: int) -> WarmupLinearDecay:
    """Compile ``model`` with ``loss`` (shown as its global mean) and AdamW over a warm-up + linear
    decay schedule spanning ``total_steps``; returns the schedule. Call inside the strategy's scope.

    Warm-up steps are rounded up, as Hugging Face does: ``int()`` would turn ``0.29 * 100``
    (28.999...) into 28.
    """
    from tfner.modeling.loss import GlobalLossDisplay

    schedule = WarmupLinearDecay(settings.learning_rate, math.ceil(settings.warmup_ratio * total_steps), total_steps)
    optimizer = build_optimizer(schedule, weight_decay=settings.weight_decay, clipnorm=settings.clipnorm)
    model.compile(optimizer=optimizer, loss=GlobalLossDisplay(loss))
    return schedule
