"""Precision: the choice from hardware features and a measurement, and training under mixed policies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN
from tfner.training import precision


def test_explicit_choices_pass_through_and_bad_ones_are_refused():
    for name in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert precision.choose_precision(name, gpus=0).policy == name
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.choose_precision("bf16", gpus=0)
    with pytest.raises(tfner.ConfigError, match="precision"):
        tfner.TaggerConfig(precision="half")


def test_auto_follows_the_hardware_and_the_measurement():
    gpu = precision.choose_precision("auto", gpus=2, flags=frozenset())
    assert gpu.policy == "mixed_float16" and "loss scaling" in gpu.reason
    plain = precision.choose_precision("auto", gpus=0, flags=frozenset({"avx2", "fma"}))
    assert plain.policy == "float32" and "no amx_bf16" in plain.reason
    fast = precision.choose_precision("auto", gpus=0, flags=frozenset({"amx_bf16"}), speedup=lambda **_: 3.0)
    assert fast.policy == "mixed_bfloat16" and "amx_bf16" in fast.reason and "3.00x" in fast.reason
    slow = precision.choose_precision("auto", gpus=0, flags=frozenset({"avx512_bf16"}), speedup=lambda **_: 1.05)
    assert slow.policy == "float32" and "1.05x" in slow.reason


def test_auto_times_the_matmul_at_the_encoders_own_shapes(tiny_encoder, monkeypatch):
    from tfner.modeling import encoder
    from tfner.tagging import model_setup

    asked = []
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setattr(precision, "bf16_matmul_speedup", lambda **shape: asked.append(shape) or 3.0)
    chosen = model_setup.choose_precision(tfner.TaggerConfig(precision="auto"), encoder.matmul_shape(tiny_encoder))
    # the tiny encoder's config: hidden 32, intermediate 64 (before: always MiniLM's 384 x 1536)
    assert asked == [{"k": 32, "n": 64}] and chosen.policy == "mixed_bfloat16"


def test_the_speedup_is_measured_on_this_machine():
    gain = precision.bf16_matmul_speedup(m=64, k=32, n=64, repeats=2)
    assert math.isfinite(gain) and gain > 0


def test_policy_scope_restores_the_callers_policy_even_on_error():
    before = tf.keras.mixed_precision.global_policy().name
    with pytest.raises(RuntimeError), precision.policy_scope("mixed_bfloat16"):
        assert tf.keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        raise RuntimeError
    assert tf.keras.mixed_precision.global_policy().name == before


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_a_tiny_model_trains_under_a_mixed_policy_with_float32_outputs(tiny_encoder, policy, tmp_path, monkeypatch):
    options = {**TINY_OPTIONS, "epochs": 2, "precision": policy}
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, **options)
    assert tagger.train_stats_["precision"] == policy
    losses = tagger.history_["loss"]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    compute = {"mixed_bfloat16": tf.bfloat16, "mixed_float16": tf.float16}[policy]
    dense = [layer for layer in tagger.model_.submodules if isinstance(layer, tf.keras.layers.Dense)]
    assert dense and all(layer.compute_dtype == compute.name for layer in dense)
    assert all(v.dtype == tf.float32 for v in tagger.model_.trainable_variables)  # variables stay float32
    if policy == "mixed_float16":
        assert isinstance(tagger.model_.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    out = tagger.module_.predict_text(tf.constant([b"Alice flew to Paris"]))
    assert out["entity_score"].dtype == tf.float32
    ids = tagger.module_.serve(input_ids=tf.constant([[2, 5, 3]]), attention_mask=tf.constant([[1, 1, 1]]))
    assert ids["probs"].dtype == tf.float32 and np.isfinite(ids["probs"].numpy()).all()
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # the caller's policy is back
    # saved and loaded: rebuilt in the policy it was trained in where the machine computes it natively
    tagger.save(tmp_path / "saved")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))  # a bfloat16 CPU, whatever runs this
    assert not tf.config.list_logical_devices("GPU")
    if policy == "mixed_bfloat16":
        loaded = tfner.load(tmp_path / "saved")
        assert computes_in(loaded) == {compute.name}
        np.testing.assert_array_equal(probs_of(loaded), ids["probs"].numpy())  # the same probabilities
    else:  # float16 needs a GPU: float32 here, said in a warning
        with pytest.warns(UserWarning, match="loaded in float32: trained in mixed_float16, which needs a GPU"):
            loaded = tfner.load(tmp_path / "saved")
        assert computes_in(loaded) == {"float32"}
        np.testing.assert_allclose(probs_of(loaded), ids["probs"].numpy(), atol=0.02)
    asked = tfner.load(tmp_path / "saved", precision=policy)  # asked for: as asked, on any machine
    assert computes_in(asked) == {compute.name}
    np.testing.assert_array_equal(probs_of(asked), ids["probs"].numpy())
    assert computes_in(tfner.load(tmp_path / "saved", precision="float32")) == {"float32"}
    assert tf.keras.mixed_precision.global_policy().name == "float32"


def computes_in(tagger) -> set[str]:
    return {layer.compute_dtype for layer in tagger.model_.submodules if isinstance(layer, tf.keras.layers.Dense)}


def probs_of(tagger) -> np.ndarray:
    return tagger.module_.serve(input_ids=tf.constant([[2, 5, 3]]), attention_mask=tf.constant([[1, 1, 1]]))[
        "probs"].numpy()


def test_a_saved_tagger_loads_in_its_policy_where_the_machine_computes_it_natively():
    avx2, amx = frozenset({"avx2"}), frozenset({"amx_bf16", "avx512_bf16"})
    cases = [  # (saved, gpus, flags) -> policy, by the rule: float16 needs a GPU; bfloat16 a GPU or bf16 instructions
        ("float32", 0, avx2, "float32"), ("mixed_bfloat16", 0, amx, "mixed_bfloat16"),
        ("mixed_bfloat16", 0, avx2, "float32"), ("mixed_bfloat16", 1, avx2, "mixed_bfloat16"),
        ("mixed_float16", 0, amx, "float32"), ("mixed_float16", 1, avx2, "mixed_float16"),
    ]
    for saved, gpus, flags, expected in cases:
        assert precision.policy_to_load(saved, "saved", gpus=gpus, flags=flags).policy == expected, (saved, gpus)
        assert precision.policy_to_load(saved, "float32", gpus=gpus, flags=flags).policy == "float32"
    with pytest.raises(ValueError, match="'saved' or one of"):
        precision.policy_to_load("float32", "auto", gpus=0, flags=avx2)
