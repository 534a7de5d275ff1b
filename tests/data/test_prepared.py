"""tfner.prepare: TFRecord shards hold exactly the windows fit would build in memory, and fit streams them."""

from __future__ import annotations

import json
from collections import Counter

import pytest

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN
from tfner.data import alignment, pipeline, prepared
from tfner.data.readers import read_conll


def _conll(path, pairs):
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(ws, ts, strict=True)) for ws, ts in pairs) + "\n")
    return path


WINDOWING = {k: TINY_OPTIONS[k] for k in ("max_length", "window_overlap")}


@pytest.fixture(scope="module")
def folder(tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prep")
    # two files, one IOB1 and one IOB2, and a long sentence that needs several windows
    long = (["Alice", "flew", "to", "Paris"] * 12, ["B-PER", "O", "O", "B-LOC"] * 12)
    files = [_conll(tmp / "a.conll", TRAIN[:20] + [long]), _conll(tmp / "b.conll", TRAIN[20:])]
    out = tfner.prepare(files, tmp / "prepared", encoder=tiny_encoder, rows_per_shard=7, **WINDOWING)
    return out, files


def _key(ids, labels):
    return tuple(int(i) for i in ids), tuple(int(v) for v in labels)


def test_the_shards_hold_every_window_of_every_file_once(folder, tiny_tokenizer):
    out, files = folder
    manifest = prepared.read_manifest(out)
    sentences = [s for f in files for s in read_conll(f)]
    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert manifest["labels"] == labels and manifest["sentences"] == len(sentences) == 33
    windows = alignment.encode(tiny_tokenizer, [s.words for s in sentences], [s.tags for s in sentences],
                               {t: i for i, t in enumerate(labels)}, max_length=32, overlap=4)
    assert manifest["windows"] == len(windows) > 33  # the long sentence has several windows
    assert manifest["tokens"] == sum(w.length for w in windows)
    assert [s["windows"] for s in manifest["shards"]] == [7] * (len(windows) // 7) + ([len(windows) % 7] if len(windows) % 7 else [])
    ds = prepared.stream_dataset(out, manifest, batch_size=4, boundaries=(16,), pad_id=0, seed=3)
    streamed, batches = Counter(), 0
    for x, y in ds:
        batches += 1
        for ids, mask, lab in zip(x["input_ids"].numpy(), x["attention_mask"].numpy(), y.numpy(), strict=True):
            n = int(mask.sum())
            streamed[_key(ids[:n], lab[:n])] += 1
    assert streamed == Counter(_key(w.input_ids, w.labels) for w in windows)
    assert batches == prepared.steps_per_epoch(manifest, 4, (16,)) == pipeline.steps_per_epoch(windows, 4, (16,))


def test_fit_streams_a_prepared_folder(folder, tiny_encoder):
    out, _ = folder
    tagger = tfner.fit(str(out), DEV, encoder=tiny_encoder, verbose=0, **TINY_OPTIONS)
    manifest = json.loads((out / "manifest.json").read_text())
    assert tagger.labels_ == manifest["labels"]
    assert tagger.train_stats_["windows"] == manifest["windows"]
    assert tagger.train_stats_["tokens_per_epoch"] == manifest["tokens"]
    assert tagger.history_["val_entity_f1"][-1] > 0.9


def test_fit_refuses_other_windowing_options_or_another_encoder(folder, tiny_encoder):
    out, _ = folder
    with pytest.raises(tfner.ConfigError, match=r"max_length=64 \(prepared with 32\)"):
        tfner.fit(str(out), encoder=tiny_encoder, verbose=0, **{**TINY_OPTIONS, "max_length": 64})
    with pytest.raises(tfner.ConfigError, match="prepared with encoder"):
        tfner.fit(str(out), verbose=0, **{k: v for k, v in TINY_OPTIONS.items()})


def test_prepare_writes_only_into_a_new_folder(folder, tiny_encoder):
    out, files = folder
    with pytest.raises(tfner.ConfigError, match="not empty"):
        tfner.prepare(files, out, encoder=tiny_encoder, **WINDOWING)


def test_prepare_reads_a_generator_of_files_as_a_list(folder, tiny_encoder, tmp_path):
    out, files = folder
    # Path.glob is a generator: read once for the labels, it left the shard pass nothing (an empty dataset, no error)
    again = tfner.prepare(files[0].parent.glob("*.conll"), tmp_path / "globbed", encoder=tiny_encoder,
                          rows_per_shard=7, **WINDOWING)
    got, want = prepared.read_manifest(again), prepared.read_manifest(out)
    assert sorted(got["sources"]) == sorted(want["sources"])
    assert (got["sentences"], got["windows"], got["lengths"]) == (want["sentences"], want["windows"], want["lengths"])
