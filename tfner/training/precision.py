"""Which numeric precision training runs in, chosen from what the hardware has and measures.

``precision="auto"`` picks:

* ``mixed_float16`` on GPUs (Keras wraps the optimizer in a loss-scale optimizer);
* ``mixed_bfloat16`` on a CPU that has bfloat16 matrix instructions (``amx_bf16`` or
  ``avx512_bf16`` in ``/proc/cpuinfo``) *and* multiplies faster in bfloat16 at the model's
  own shapes (a short measurement: AMX machines here gained ~4.8x at 4096^3, an AVX512-BF16
  one only ~1.8x, and whole small steps less; features are detected, never assumed);
* ``float32`` otherwise.

Variables, the loss and every exported output stay float32 under the mixed policies (Keras
keeps variables in float32; the loss and the serving signatures cast logits to float32).
The policy is set only while the model is built and restored afterwards, so tfner leaves the
caller's global Keras policy as it found it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
#: bfloat16 must multiply at least this much faster than float32 for "auto" to pick it.
MIN_SPEEDUP = 1.2


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    policy: str  # a Keras mixed-precision policy name
    reason: str


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU feature flags of this machine (``/proc/cpuinfo``'s ``flags`` line); empty elsewhere.

    >>> sorted(cpu_flags("processor : 0\\nflags : fpu avx512_bf16 amx_bf16\\n"))
    ['amx_bf16', 'avx512_bf16', 'fpu']
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


@functools.cache
def bf16_matmul_speedup(m: int = 512, k: int = 384, n: int = 1536, repeats: int = 5) -> float:
    """float32 time / bfloat16 time of an ``[m, k] x [k, n]`` matmul on the CPU (best of ``repeats``)."""

    def best(dtype) -> float:
        a = tf.random.stateless_normal([m, k], seed=[1, 2], dtype=tf.float32)
        b = tf.random.stateless_normal([k, n], seed=[3, 4], dtype=tf.float32)
        a, b = tf.cast(a, dtype), tf.cast(b, dtype)
        fn = tf.function(lambda x, y: tf.matmul(x, y))
        fn(a, b).numpy()  # trace and warm up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(10):
                out = fn(a, b)
            out.numpy()
            times.append(time.perf_counter() - start)
        return min(times)

    with tf.device("/CPU:0"):
        return best(tf.float32) / best(tf.bfloat16)


def choose_precision(requested: str, *, gpus: int, flags: frozenset[str] | None = None,
                     speedup=None, hidden: int = 384, intermediate: int = 1536) -> PrecisionChoice:
    """Resolve ``requested`` (one of :data:`PRECISIONS`) to a Keras policy, with the reason."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    if requested != "auto":
        return PrecisionChoice(requested, "requested")
    if gpus:
        return PrecisionChoice("mixed_float16", f"{gpus} GPU(s): float16 compute with loss scaling")
    flags = cpu_flags() if flags is None else flags
    bf16 = sorted(flags & {"amx_bf16", "avx512_bf16"})
    if not bf16:
        return PrecisionChoice("float32", "CPU without bfloat16 matrix instructions (no amx_bf16/avx512_bf16)")
    gain = (speedup or bf16_matmul_speedup)(k=hidden, n=intermediate)
    if gain >= MIN_SPEEDUP:
        return PrecisionChoice("mixed_bfloat16", f"CPU has {'/'.join(bf16)}; bfloat16 matmul measured {gain:.2f}x "
                                                 "faster at the model's shapes")
    return PrecisionChoice("float32", f"CPU has {'/'.join(bf16)} but bfloat16 matmul measured only {gain:.2f}x "
                                      f"(< {MIN_SPEEDUP}x) at the model's shapes")


def policy_to_load(saved: str, requested: str, *, gpus: int, flags: frozenset[str] | None = None) -> PrecisionChoice:
    """The policy to rebuild a saved model in: ``requested`` (a Keras policy name), or for ``"saved"`` the
    policy it was ``saved`` in where this machine computes it natively, float32 where it does not
    (float16 without a GPU; bfloat16 with neither a GPU nor a CPU's bfloat16 instructions).

    >>> policy_to_load("mixed_float16", "saved", gpus=0).policy
    'float32'
    >>> policy_to_load("mixed_bfloat16", "saved", gpus=0, flags=frozenset({"amx_bf16"})).policy
    'mixed_bfloat16'
    """
    if requested != "saved":
        if requested not in PRECISIONS[1:]:
            raise ValueError(f"precision must be 'saved' or one of {PRECISIONS[1:]}, got {requested!r}")
        return PrecisionChoice(requested, "requested")
    if saved == "float32" or gpus:
        return PrecisionChoice(saved, "the policy it was trained in")
    if saved == "mixed_bfloat16":
        bf16 = sorted((cpu_flags() if flags is None else flags) & {"amx_bf16", "avx512_bf16"})
        if bf16:
            return PrecisionChoice(saved, f"the policy it was trained in (CPU has {'/'.join(bf16)})")
        return PrecisionChoice("float32", "trained in mixed_bfloat16, but this CPU has no bfloat16 matrix "
                                          "instructions (no amx_bf16/avx512_bf16) and no GPU")
    return PrecisionChoice("float32", f"trained in {saved}, which needs a GPU; this machine has none")


@contextlib.contextmanager
def policy_scope(policy: str) -> Iterator[None]:
    """Set the global Keras mixed-precision policy for the block (layers built in it keep it)."""
    mp = tf.keras.mixed_precision
    previous = mp.global_policy()
    mp.set_global_policy(policy)
    try:
        yield
    finally:
        mp.set_global_policy(previous)
