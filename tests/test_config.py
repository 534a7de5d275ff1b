"""TaggerConfig: JSON round trip, unknown keys, types and cross-field checks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tfner.config import TaggerConfig, option_names
from tfner.errors import ConfigError

# Every field set to a valid value different from its default.
CHANGED = dict(
    encoder="/models/bert-base-cased",
    pretrained=False,
    init_from="/runs/wnut17/tagger",
    max_length=256,
    window_overlap=64,
    predict_overlap=96,
    label_all_subtokens=True,
    scheme="iob1",
    invalid_tags="repair",
    span_alignment="expand",
    batch_size=8,
    accumulate_steps=4,
    epochs=7,
    learning_rate=2e-5,
    warmup_ratio=0.25,
    weight_decay=0.0,
    clipnorm=None,
    length_buckets=(16, 64, 128),
    precision="mixed_bfloat16",
    context="document",
    sentences_alone=0.5,
    freeze_embeddings=True,
    freeze_encoder_epochs=2,
    patience=2,
    deterministic=True,
    min_delta=0.01,
    decode="constrained",
    unseen_labels="outside",
    eval_mode="strict",
    restore_best=False,
    seed=1234,
)
# head="crf" excludes label_all_subtokens=True, several tasks accumulate_steps > 1: changed on their own.
CHANGED_ALONE = dict(head="crf", tasks={"ner": 3, "pos": 1, "chunk": 2}, task_weights={"pos": 0.5})


def test_changed_config_changes_every_field():
    default = TaggerConfig()
    assert set(CHANGED) | set(CHANGED_ALONE) == set(option_names())
    assert all(getattr(default, k) != v for k, v in {**CHANGED, **CHANGED_ALONE}.items())


@pytest.mark.parametrize("cfg", [TaggerConfig(), TaggerConfig(**CHANGED), TaggerConfig(**CHANGED_ALONE)],
                         ids=["default", "changed", "crf"])
def test_round_trip_through_json_and_dict(cfg):
    assert TaggerConfig.from_json(cfg.to_json()) == cfg
    assert TaggerConfig.from_dict(cfg.to_dict()) == cfg
    # the dict is plain JSON data: the same object comes back from json.loads
    d = cfg.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert json.loads(cfg.to_json()) == d


def test_to_dict_has_exactly_the_fields_and_lists_for_tuples():
    d = TaggerConfig(**CHANGED).to_dict()
    assert set(d) == set(option_names())
    assert d["length_buckets"] == [16, 64, 128]
    assert d["clipnorm"] is None and d["epochs"] == 7


def test_tasks_keep_their_order_through_json_and_are_immutable():
    cfg = TaggerConfig(tasks={"ner": 3, "pos": 1, "chunk": 2}, task_weights={"pos": 0.5})
    assert cfg.tasks == (("ner", 3), ("pos", 1), ("chunk", 2))  # the main task first, whatever to_json sorts
    assert TaggerConfig.from_json(cfg.to_json()).task_names == ("ner", "pos", "chunk")
    assert cfg.to_dict()["tasks"] == [["ner", 3], ["pos", 1], ["chunk", 2]]
    assert (cfg.task_weight("ner"), cfg.task_weight("pos"), cfg.task_weight("chunk")) == (1.0, 0.5, 0.1)  # 0.2 / 2
    four = TaggerConfig(tasks={"ner": 3, "pos": 1, "chunk": 2, "case": 4}, task_weights={"ner": 2.0})
    assert [four.task_weight(n) for n in four.task_names] == [2.0, pytest.approx(0.2 / 3)] + [pytest.approx(0.2 / 3)] * 2
    assert TaggerConfig(tasks=[("ner", 3), ("pos", 1)]) == TaggerConfig(tasks={"ner": 3, "pos": 1})
    hash(cfg)


@pytest.mark.parametrize("options, message", [
    (dict(tasks={"a": 1, "b": 1}), "distinct columns"),
    (dict(tasks={}), "at least one task"),
    (dict(tasks={"a:b": 1}), "without ':'"),
    (dict(tasks={"a": "x"}), r"tasks\['a'\] must be of type int"),
    (dict(tasks=5), "must map task names"),
    (dict(task_weights={"a": 1.0}), "needs tasks"),
    (dict(tasks={"a": 1}, task_weights={"b": 1.0}), r"names \['b'\], which are not among tasks"),
    (dict(tasks={"a": 1}, task_weights={"a": 0.0}), "main task 'a'.*> 0"),
    (dict(tasks={"a": 1}, task_weights={"a": 2.0}), r"task_weights\['a'\] weighs the main task"),  # was dropped
    (dict(tasks={"a": 1, "b": 2}, task_weights={"b": -1.0}), "finite number >= 0"),
    (dict(tasks={"a": 1, "b": 2}, accumulate_steps=2), "accumulate_steps"),
])
def test_bad_tasks_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        TaggerConfig(**options)


def test_length_buckets_given_as_list_is_stored_as_tuple():
    cfg = TaggerConfig(length_buckets=[16, 32])
    assert cfg.length_buckets == (16, 32)
    hash(cfg)  # frozen configs are usable as dict keys


def test_config_is_frozen():
    cfg = TaggerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 5  # type: ignore[misc]


def test_replace_returns_a_new_validated_config():
    cfg = TaggerConfig()
    new = cfg.replace(epochs=5)
    assert new.epochs == 5 and cfg.epochs is None
    with pytest.raises(ConfigError):
        cfg.replace(epochs=0)
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        cfg.replace(epoch=5)


# --- unknown keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, hint",
    [("epoch", "epochs"), ("learning_rte", "learning_rate"), ("batchsize", "batch_size"), ("max_len", "max_length")],
)
def test_near_miss_key_gets_did_you_mean(key, hint):
    with pytest.raises(ConfigError, match=f"unknown option '{key}' \\(did you mean '{hint}'\\?\\)"):
        TaggerConfig.from_dict({key: 1})
    with pytest.raises(ConfigError, match=f"did you mean '{hint}'"):
        TaggerConfig.from_json(json.dumps({key: 1}))


def test_far_key_lists_valid_options():
    with pytest.raises(ConfigError) as info:
        TaggerConfig.from_dict({"zzzz": 1})
    assert "zzzz" in str(info.value)
    assert all(name in str(info.value) for name in option_names())


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "3"])
def test_from_json_rejects_non_object(text):
    with pytest.raises(ConfigError):
        TaggerConfig.from_json(text)


# --- wrong types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        dict(epochs="3"),
        dict(epochs=True),
        dict(epochs=3.0),
        dict(learning_rate="x"),
        dict(learning_rate=True),
        dict(pretrained="yes"),
        dict(pretrained=1),
        dict(encoder=None),
        dict(clipnorm="1.0"),
        dict(length_buckets=[16, "32"]),
        dict(length_buckets=[16, True]),
        dict(scheme="IOB2"),
        dict(eval_mode="lenient"),
        dict(head="CRF"),
        dict(context="paragraph"),
        dict(unseen_labels="drop"),
        dict(patience=0),
        dict(min_delta=-0.1),
        dict(min_delta=float("nan")),
        dict(decode="viterbi"),
        dict(precision="bf16"),
        dict(precision=None),
        dict(seed=None),
        dict(restore_best="yes"),
        dict(restore_best=None),
    ],
)
def test_wrong_types_are_rejected(options):
    with pytest.raises(ConfigError):
        TaggerConfig(**options)
    with pytest.raises(ConfigError):
        TaggerConfig.from_dict(options)


def test_int_is_accepted_for_float_fields():
    assert TaggerConfig(learning_rate=1, clipnorm=2).learning_rate == 1


def test_length_buckets_not_a_list_in_json_is_a_config_error():
    with pytest.raises(ConfigError):
        TaggerConfig.from_json('{"length_buckets": 5}')


# --- value and cross-field checks ------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        dict(max_length=7),
        dict(max_length=513),
        dict(freeze_encoder_epochs=-1),
        dict(window_overlap=-1),
        dict(batch_size=0),
        dict(epochs=0),
        dict(learning_rate=0.0),
        dict(learning_rate=float("nan")),
        dict(warmup_ratio=1.0),
        dict(warmup_ratio=-0.1),
        dict(weight_decay=-0.01),
        dict(clipnorm=0.0),
    ],
)
def test_out_of_range_values_are_rejected(options):
    with pytest.raises(ConfigError):
        TaggerConfig(**options)


@pytest.mark.parametrize("max_length", [8, 9, 128, 512])
def test_window_overlap_limit_is_half_of_the_room_left_by_cls_and_sep(max_length):
    limit = (max_length - 2) // 2  # two windows' worth of shared context must fit between [CLS] and [SEP]
    assert TaggerConfig(max_length=max_length, window_overlap=limit).window_overlap == limit
    with pytest.raises(ConfigError, match="window_overlap"):
        TaggerConfig(max_length=max_length, window_overlap=limit + 1)


@pytest.mark.parametrize(
    "buckets",
    [(64, 32), (32, 32), (16, 128), (2, 16), (16, 200)],
    ids=["decreasing", "repeated", "equal-to-max_length", "too-small", "beyond-max_length"],
)
def test_length_buckets_must_increase_within_max_length(buckets):
    with pytest.raises(ConfigError, match="length_buckets"):
        TaggerConfig(max_length=128, length_buckets=buckets)
    with pytest.raises(ConfigError, match="length_buckets"):
        TaggerConfig.from_dict({"max_length": 128, "length_buckets": list(buckets)})


def test_errors_are_value_errors():
    with pytest.raises(ValueError):
        TaggerConfig(epochs=0)


def test_nan_weight_decay_is_rejected():
    with pytest.raises(ConfigError):
        TaggerConfig(weight_decay=float("nan"))


def test_predict_overlap_is_checked_like_window_overlap():
    from tfner.data.alignment import Windowing

    assert TaggerConfig(max_length=32, window_overlap=2, predict_overlap=15).predict_windowing == Windowing(32, 15)
    for bad in (-1, 16):
        with pytest.raises(ConfigError, match="predict_overlap must be in"):
            TaggerConfig(max_length=32, window_overlap=4, predict_overlap=bad)
