"""How close a tfner training step comes to this machine's limit, where the step's time goes, and scaling on paper.

    .venv/bin/python bench/hardware.py [--quick]

In one process, on one machine:

1. **The CPU**: model, the feature flags that decide the matmul kernels (avx2, fma, avx512f,
   avx512_bf16, amx_bf16, amx_tile), cores and TensorFlow's thread settings.
2. **Matmul throughput** (TensorFlow, float32 and bfloat16, best of several timed loops) at the
   model's own shapes — M = the tokens of a typical training batch (32 windows x the mean
   padded length of tfner's bucketed CoNLL-2003 batches, measured here), K/N = the hidden and
   intermediate sizes — and at 4096^3.
3. **One training step broken down** at that batch (real CoNLL-2003 windows, or WNUT-17 where
   CoNLL-2003 is absent): the input pipeline (tfner's tf.data, per batch), the forward pass
   with the loss, forward + backward, and the whole step (+ clipping and tfner's AdamW). Each
   stage is its own ``tf.function``, timed in interleaved rounds; backward = (forward +
   backward) - forward, optimizer = step - (forward + backward). Then one pass of the step under
   the TensorFlow profiler, its trace converted by TensorFlow's own profiler plugin into self
   time per op type (the ops where the step's time goes).
4. **Achieved training FLOP/s** with the formula FLOPs per token = 6 N + 12 L T d (N the
   non-embedding parameters, head included; L layers, T the padded sequence length, d the
   hidden size: 2 N + 4 L T d forward — the attention scores and their weighted sum — and twice
   that backward), per padded token (what the hardware computes) and per real token (what the
   user gets), as a fraction of the best float32 and of the best overall matmul rate at the
   model's shapes.
5. **Scaling on paper** (an estimate, not a measurement): with R replicas each taking a batch
   of 32, a step costs the measured per-replica compute plus a ring all-reduce of the float32
   gradients, 2 (R - 1) / R x bytes / bandwidth, at stated bandwidths; no overlap of the two
   is assumed (a lower bound of throughput). Once with this CPU's measured step as each
   replica's compute, once with an assumed GPU replica (40 TFLOP/s achieved, 1.5 TB/s memory
   for the optimizer's passes): the GPU figures are arithmetic, no GPU was measured.

Writes ``results/hardware-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONLL = REPO.parent / "shared" / "data" / "conll2003" / "eng.train"
#: bytes per second of an all-reduce link, for the scaling estimate (stated, not measured)
LINKS = {"PCIe 4.0 x16 (~25 GB/s)": 25e9, "NVLink 3 (~150 GB/s, per direction)": 150e9,
         "10 GbE between machines (1.25 GB/s)": 1.25e9, "100 Gb/s InfiniBand (12.5 GB/s)": 12.5e9}
#: an assumed GPU replica for the estimate: achieved FLOP/s on this small model and memory bandwidth
GPU_RATE, GPU_BANDWIDTH = 40e12, 1.5e12


def matmul_rate(m: int, k: int, n: int, dtype, *, seconds: float) -> float:
    """GFLOP/s of ``[m, k] x [k, n]``: the best of five loops of about ``seconds`` / 5 each."""
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal([m, k], seed=[1, 2]), dtype)
    b = tf.cast(tf.random.stateless_normal([k, n], seed=[3, 4]), dtype)
    fn = tf.function(tf.matmul)
    fn(a, b).numpy()
    start = time.perf_counter()
    fn(a, b).numpy()
    reps = max(1, int(seconds / 5 / max(time.perf_counter() - start, 1e-6)))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(reps):
            out = fn(a, b)
        out.numpy()
        best = min(best, (time.perf_counter() - start) / reps)
    return 2 * m * k * n / best / 1e9


def windows(limit: int, packed: bool = False):
    import tfner
    from tfner.data import alignment
    from tfner.data.datasets import wnut17_path
    from tfner.modeling.encoder import load_tokenizer

    source = CONLL if CONLL.exists() else wnut17_path("train")
    sents = tfner.read_conll(source)[:limit]
    labels = sorted({t for s in sents for t in s.tags})
    tokenizer = load_tokenizer(tfner.TaggerConfig().encoder)
    out = alignment.encode(tokenizer, [s.words for s in sents], [s.tags for s in sents],
                           {t: i for i, t in enumerate(labels)}, max_length=128, overlap=63 if packed else 32,
                           documents=[s.document for s in sents] if packed else None, packed=packed)
    # the same sentences' real tokens in sentence windows: packed windows' overlap computes some tokens twice
    once = alignment.encode(tokenizer, [s.words for s in sents], None, None, max_length=128, overlap=32)
    useful = sum(w.length for w in once) / sum(w.length for w in out)
    return source, labels, tokenizer, out, useful


def breakdown(ds, n_labels: int, rounds: int, steps: int) -> dict:
    """Median seconds per batch of each stage over ``rounds`` interleaved rounds of ``steps`` batches."""
    import tensorflow as tf

    import tfner
    from tfner.modeling.encoder import build_model
    from tfner.modeling.loss import MaskedTokenLoss
    from tfner.training.optim import WarmupLinearDecay, build_optimizer

    cfg = tfner.TaggerConfig()
    model = build_model(cfg.encoder, n_labels, pretrained=True, seed=0, max_length=128)
    optimizer = build_optimizer(WarmupLinearDecay(5e-5, 10, 10_000), weight_decay=0.01, clipnorm=cfg.clipnorm)
    loss_fn = MaskedTokenLoss()
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def forward(x, y):
        return loss_fn(y, model(x, training=True).logits)

    @tf.function(reduce_retracing=True)
    def forward_backward(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True).logits)
        # one element of every gradient: all are computed, none densified (the optimizer does that)
        return [(g.values if isinstance(g, tf.IndexedSlices) else g)[:1] for g in tape.gradient(loss, variables)]

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True).logits)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    batches = list(ds.take(steps))
    for x, y in batches:  # trace every shape once, outside the timing
        for fn in (forward, forward_backward, step):
            tf.nest.map_structure(lambda t: t.numpy(), fn(x, y))

    def timed(fn) -> float:
        start = time.perf_counter()
        for x, y in batches:
            out = fn(x, y)
        tf.nest.map_structure(lambda t: t.numpy(), out)
        return (time.perf_counter() - start) / len(batches)

    def pipeline_time() -> float:
        start = time.perf_counter()
        for _ in ds.take(steps):
            pass
        return (time.perf_counter() - start) / steps

    stages = {"input pipeline": pipeline_time, "forward": lambda: timed(forward),
              "forward+backward": lambda: timed(forward_backward), "step": lambda: timed(step)}
    seen: dict[str, list[float]] = {k: [] for k in stages}
    for _ in range(rounds):
        for name, fn in stages.items():
            seen[name].append(fn())
    med = {k: statistics.median(v) for k, v in seen.items()}
    ops = profile_ops(lambda: timed(step))
    med["backward"] = med["forward+backward"] - med["forward"]
    med["optimizer (clip + AdamW)"] = med["step"] - med["forward+backward"]
    params = {"embedding": 0, "non_embedding": 0}
    for v in variables:
        params["embedding" if "embeddings" in v.name and "LayerNorm" not in v.name else "non_embedding"] += \
            int(v.shape.num_elements())
    shapes = [(int(x["input_ids"].shape[0]), int(x["input_ids"].shape[1]), int(tf.reduce_sum(x["attention_mask"])))
              for x, _ in batches]
    return {"seconds_per_batch": med, "rounds": {k: v for k, v in seen.items()}, "params": params,
            "profiler_ops": ops, "timed_batches": shapes,
            "layers": model.config.num_hidden_layers, "hidden": model.config.hidden_size,
            "intermediate": model.config.intermediate_size}


def profile_ops(run, top: int = 15) -> dict:
    """Self time by TensorFlow op type over one timed pass of ``run``, from the TensorFlow profiler's trace.

    The trace (an XSpace) is converted by TensorFlow's own profiler plugin (``framework_op_stats``);
    where that conversion is unavailable the error is recorded instead.
    """
    import glob
    import json as json_lib
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            run()
        finally:
            tf.profiler.experimental.stop()
        planes = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
        try:
            from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

            data, _ = plugin.xspace_to_tools_data(planes, "framework_op_stats")
            table = json_lib.loads(data.decode() if isinstance(data, bytes) else data)
        except Exception as err:  # noqa: BLE001 - a benchmark records what it could not measure
            return {"error": f"{type(err).__name__}: {err}"[:500], "xplanes": len(planes)}
    table = table[0] if isinstance(table, list) else table
    columns = [c.get("id") or c.get("label") for c in table["cols"]]
    rows = [[cell.get("v") if isinstance(cell, dict) else cell for cell in row["c"]] for row in table["rows"]]
    kind = columns.index("type") if "type" in columns else None
    self_us = next((columns.index(c) for c in ("total_self_time", "self_time_us", "total_self_time_us")
                    if c in columns), None)
    host = columns.index("host_or_device") if "host_or_device" in columns else None
    if kind is None or self_us is None:
        return {"error": f"unexpected columns {columns}"}
    by_type: dict[str, float] = {}
    for row in rows:
        if host is not None and str(row[host]).lower() not in ("host", "cpu"):
            continue
        by_type[str(row[kind])] = by_type.get(str(row[kind]), 0.0) + float(row[self_us] or 0.0)
    total = sum(by_type.values()) or 1.0
    ranked = sorted(by_type.items(), key=lambda kv: -kv[1])[:top]
    return {"total_self_ms": total / 1000, "top": [{"op": k, "self_ms": v / 1000, "share": v / total}
                                                   for k, v in ranked]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and shorter loops (a smoke check)")
    parser.add_argument("--context", choices=("sentence", "packed"), default="sentence",
                        help="sentence windows (batch 32) or documents packed into full windows (overlap 63)")
    parser.add_argument("--batch-size", type=int, default=None, help="windows a batch (default: 32, packed 8)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    from tfner.logs import import_tensorflow, quiet_libraries

    import_tensorflow()  # TensorFlow's start-up lines hidden, as tfner's entry points do
    with quiet_libraries(0):  # transformers' weight lists and deprecation notice
        return run(args)


def run(args: argparse.Namespace) -> int:
    packed = args.context == "packed"
    batch_size = args.batch_size or (8 if packed else 32)

    import numpy as np
    import tensorflow as tf

    from tfner.data import pipeline

    machine = record.cpu()
    machine["tf_threads"] = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                             "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                             "note": "0 = TensorFlow's default (every core)"}
    print(f"CPU: {machine['model']} (family {machine['family']}, model {machine['model_number']}), "
          f"{machine['cores']} cores; flags: {', '.join(f for f, on in machine['flags'].items() if on) or 'none'}")

    source, labels, tokenizer, wins, useful = windows(1_000 if args.quick else 4_000, packed)
    boundaries = pipeline.default_buckets(128, packed=packed)
    # packed: short windows (a document's last) come in batches of as many positions as full ones, as tfner trains them
    batch_sizes = pipeline.token_batch_sizes(batch_size, boundaries, 128) if packed else batch_size
    ds = pipeline.make_dataset(wins, batch_size=batch_sizes, boundaries=boundaries,
                               pad_id=tokenizer.pad_token_id, shuffle=True, seed=0)
    sizes = [(int(x["input_ids"].shape[0]), int(x["input_ids"].shape[1]), int(np.sum(x["attention_mask"])))
             for x, _ in ds]
    rows = sum(r for r, _, _ in sizes)
    padded = sum(r * t for r, t, _ in sizes)
    real = sum(n for _, _, n in sizes)
    mean_t = padded / rows
    tokens_per_batch = round(padded / len(sizes))  # positions a batch, as the batches come
    print(f"batches of {source.name}: mean padded length {mean_t:.1f}, {real / padded:.1%} of positions real "
          f"-> M = {tokens_per_batch} tokens a batch")

    seconds = 0.5 if args.quick else 2.0
    hidden, inter = 384, 1536
    shapes = {f"[{tokens_per_batch}x{hidden}]x[{hidden}x{hidden}]": (tokens_per_batch, hidden, hidden),
              f"[{tokens_per_batch}x{hidden}]x[{hidden}x{inter}]": (tokens_per_batch, hidden, inter),
              f"[{tokens_per_batch}x{inter}]x[{inter}x{hidden}]": (tokens_per_batch, inter, hidden),
              "4096^3": (4096, 4096, 4096)}
    rates: dict[str, dict[str, float]] = {}
    for name, (m, k, n) in shapes.items():
        rates[name] = {dt.name: matmul_rate(m, k, n, dt, seconds=seconds * (2 if m == 4096 else 1))
                       for dt in (tf.float32, tf.bfloat16)}
        print(f"matmul {name:28s} float32 {rates[name]['float32']:6.0f} GFLOP/s   "
              f"bfloat16 {rates[name]['bfloat16']:6.0f} GFLOP/s")
    model_shapes = [k for k in shapes if k != "4096^3"]
    best_f32 = max(rates[k]["float32"] for k in model_shapes)
    best_any = max(max(rates[k].values()) for k in model_shapes)

    parts = breakdown(ds, len(labels), rounds=3 if args.quick else 5, steps=6 if args.quick else 12)
    sec = parts["seconds_per_batch"]
    for name, s in sec.items():
        print(f"step stage {name:26s} {1000 * s:7.1f} ms a batch")
    ops = parts["profiler_ops"]
    if "top" in ops:
        print(f"TensorFlow profiler, one pass of the step ({ops['total_self_ms']:.0f} ms of op self time), top ops:")
        for row in ops["top"]:
            print(f"  {row['op']:32s} {row['self_ms']:8.1f} ms  {row['share']:6.1%}")
    else:
        print(f"TensorFlow profiler: {ops['error']}")

    n_params = parts["params"]["non_embedding"]
    layers, d = parts["layers"], parts["hidden"]
    timed = parts["timed_batches"]  # (rows, padded length T, real tokens) of the batches the stages ran on
    batch_padded = statistics.mean(r * t for r, t, _ in timed)
    batch_real = statistics.mean(n for _, _, n in timed)
    step_flops = statistics.mean(r * t * (6 * n_params + 12 * layers * t * d) for r, t, _ in timed)
    flops_per_token = step_flops / batch_padded
    achieved_padded = step_flops / sec["step"] / 1e9
    achieved_real = achieved_padded * batch_real / batch_padded
    print(f"FLOPs per token 6N + 12LTd = 6 x {n_params:,} + 12 x {layers} x T x {d}: {flops_per_token / 1e6:.1f} MFLOP "
          f"over the timed batches ({batch_padded:.0f} padded, {batch_real:.0f} real tokens a batch)")
    print(f"achieved: {achieved_padded:.1f} GFLOP/s on padded tokens ({achieved_padded / best_f32:.0%} of the best "
          f"float32 matmul rate at these shapes, {achieved_padded / best_any:.0%} of the best rate in any precision); "
          f"{achieved_real:.1f} GFLOP/s on real tokens ({achieved_real / best_f32:.0%} / {achieved_real / best_any:.0%})")
    achieved_useful = achieved_real * useful
    if packed:
        print(f"packed windows compute {1 / useful:.2f} real tokens for each token of the sentences' own windows "
              f"(the overlap): {achieved_useful:.1f} GFLOP/s on tokens counted once ({achieved_useful / best_f32:.0%} "
              f"/ {achieved_useful / best_any:.0%})")
    fwd_only = flops_per_token / 3 * batch_padded / sec["forward"] / 1e9
    print(f"forward pass alone: {fwd_only:.1f} GFLOP/s ({fwd_only / best_f32:.0%} of the float32 rate)")

    grad_bytes = 4 * (parts["params"]["non_embedding"] + parts["params"]["embedding"])
    compute = sec["step"] - sec["optimizer (clip + AdamW)"]  # forward + backward per replica
    optimizer_s = sec["optimizer (clip + AdamW)"]
    # a GPU replica, assumed: the step's FLOPs at GPU_RATE, the optimizer at GPU_BANDWIDTH (7 float32 streams a parameter)
    gpu_compute = step_flops / GPU_RATE
    gpu_optimizer = 7 * grad_bytes / GPU_BANDWIDTH
    scaling: dict[str, dict[str, dict[str, float]]] = {}
    for replica, (c, o) in {"this CPU (measured step)": (compute, optimizer_s),
                            "a GPU (assumed: 40 TFLOP/s achieved, 1.5 TB/s)": (gpu_compute, gpu_optimizer)}.items():
        scaling[replica] = {}
        for link, bandwidth in LINKS.items():
            scaling[replica][link] = {}
            for replicas in (1, 2, 4, 8):
                allreduce = 2 * (replicas - 1) / replicas * grad_bytes / bandwidth
                scaling[replica][link][str(replicas)] = replicas * batch_real / (c + o + allreduce)
    print(f"scaling estimate ({grad_bytes / 1e6:.0f} MB of float32 gradients, ring all-reduce, no overlap): "
          "real tokens/s for 1/2/4/8 replicas")
    for replica, links in scaling.items():
        for link, row in links.items():
            print(f"  {replica:48s} {link:38s} " + " / ".join(f"{v:,.0f}" for v in row.values()))

    record.write(args.out, "hardware", {
        "quick": args.quick, "context": args.context, "batch_size": batch_size, "cpu": machine, "data": str(source.name), "mean_padded_length": mean_t,
        "real_fraction": real / padded, "batch_tokens_M": tokens_per_batch,
        "matmul_gflops": rates, "best_model_shape_gflops": {"float32": best_f32, "any": best_any},
        "step": parts, "flops_formula": "6 N + 12 L T d per token (N non-embedding parameters incl. the head)",
        "flops_per_token": flops_per_token, "step_flops": step_flops, "timed_batch_tokens":
            {"padded": batch_padded, "real": batch_real},
        "achieved_gflops": {"padded_tokens": achieved_padded, "real_tokens": achieved_real,
                            "forward_only_padded": fwd_only},
        "fraction_of_best_model_shape_rate": {"padded_float32": achieved_padded / best_f32,
                                              "padded_any": achieved_padded / best_any,
                                              "real_float32": achieved_real / best_f32,
                                              "real_any": achieved_real / best_any,
                                              "once_float32": achieved_useful / best_f32,
                                              "once_any": achieved_useful / best_any},
        "tokens_once_per_real_token": useful,
        "scaling_estimate": {"gradient_bytes": grad_bytes, "compute_seconds": compute,
                             "optimizer_seconds": optimizer_s, "gpu_compute_seconds": gpu_compute,
                             "gpu_optimizer_seconds": gpu_optimizer, "real_tokens_per_s": scaling,
                             "note": "an estimate from this CPU's step, not a measurement"},
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
