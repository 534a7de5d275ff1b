"""Multi-task heads: one encoder, a head per tag column, loss sum_t weight_t * L_t (``tasks=``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import tfner
from tests.conftest import TINY_OPTIONS
from tfner.data import pipeline
from tfner.data import tasks as tasks_lib
from tfner.data.alignment import IGNORE
from tfner.data.jsonl import character_spans
from tfner.errors import ConfigError, DataFormatError

# word, part of speech, chunk (IOB1, as CoNLL-2003's original release), entity (IOB1)
SENTENCES = [
    [("Alice", "NNP", "I-NP", "I-PER"), ("flew", "VBD", "I-VP", "O"), ("to", "TO", "I-PP", "O"),
     ("Paris", "NNP", "I-NP", "I-LOC")],
    [("Bob", "NNP", "I-NP", "I-PER"), ("went", "VBD", "I-VP", "O"), ("to", "TO", "I-PP", "O"),
     ("London", "NNP", "I-NP", "I-LOC"), (".", ".", "O", "O")],
    [("Carol", "NNP", "I-NP", "I-PER"), ("met", "VBD", "I-VP", "O"), ("Bob", "NNP", "I-NP", "I-PER"),
     ("in", "IN", "I-PP", "O"), ("Rome", "NNP", "I-NP", "I-LOC")],
    [("Alice", "NNP", "I-NP", "I-PER"), ("and", "CC", "I-NP", "O"), ("Carol", "NNP", "I-NP", "I-PER"),
     ("went", "VBD", "I-VP", "O"), ("to", "TO", "I-PP", "O"), ("Rome", "NNP", "I-NP", "I-LOC"), ("!", ".", "O", "O")],
    [("Bob", "NNP", "I-NP", "I-PER"), ("met", "VBD", "I-VP", "O"), ("Alice", "NNP", "I-NP", "I-PER"),
     ("in", "IN", "I-PP", "O"), ("London", "NNP", "I-NP", "I-LOC")],
]
TASKS = {"ner": 3, "pos": 1, "chunk": 2}
OPTIONS = {**TINY_OPTIONS, "epochs": 15, "restore_best": False}  # the last epoch: dev F1 peaks early


def write(path, sentences=SENTENCES, repeat=8):
    lines = []
    for _ in range(repeat):
        for sentence in sentences:
            lines += [" ".join(row) for row in sentence] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def column(k, sentences=SENTENCES):
    return [[row[k] for row in s] for s in sentences]


def packed_windows(tagger, path):
    """The windows of ``path`` with every task's label column, built here from the reader and the aligner."""
    from tfner.data import alignment

    sentences = tasks_lib.to_iob2(tfner.read_conll(path, tag_column=3, aux_columns={"pos": 1, "chunk": 2}),
                                  ["pos", "chunk"], {})
    main = ([s.tags for s in sentences], {t: i for i, t in enumerate(tagger.labels_)})
    others = [([s.aux_tags(t.name) for s in sentences], tasks_lib.label_ids(t)) for t in tagger.tasks_]
    return alignment.with_task_labels(*(alignment.encode(tagger.tokenizer_, [s.words for s in sentences], tags, ids,
                                                         max_length=32, overlap=4) for tags, ids in [main, *others]))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("multitask")
    return write(d / "train.txt"), write(d / "dev.txt", repeat=1)


@pytest.fixture(scope="module")
def multi(files, tiny_encoder):
    train, dev = files
    # chunk asked at 1: at the default 0.1 the tiny model does not learn the chunks in 15 epochs
    return tfner.fit(train, dev, encoder=tiny_encoder, verbose=0, tasks=TASKS, task_weights={"pos": 0.5, "chunk": 1.0},
                     **OPTIONS)


def test_further_tasks_not_weighed_share_the_default_aux_weight(files):
    """Not named in task_weights: the main task weighs 1 and the further tasks share 0.2 (0.1 each of two)."""
    from tfner.config import TaggerConfig
    from tfner.tagging import inputs

    corpus = inputs.read_corpus(TaggerConfig(tasks=TASKS), str(files[0]), None)
    assert [(t.name, t.weight) for t in corpus.tasks] == [("pos", 0.1), ("chunk", 0.1)]
    corpus = inputs.read_corpus(TaggerConfig(tasks=TASKS, task_weights={"chunk": 0.7}), str(files[0]), None)
    assert [t.weight for t in corpus.tasks] == [0.1, 0.7]


def test_reader_keeps_the_task_columns_and_span_tasks_become_iob2(files):
    sentences = tfner.read_conll(files[1], tag_column=3, aux_columns={"pos": 1, "chunk": 2})
    assert [s.aux_tags("pos") for s in sentences] == [tuple(c) for c in column(1)]
    assert [s.aux_tags("chunk") for s in sentences] == [tuple(c) for c in column(2)]  # as written
    iob2 = tasks_lib.to_iob2(sentences, ["pos", "chunk"], {})
    # IOB1 -> IOB2: every chunk starts with B- (the "and" inside "Alice and Carol" continues the NP)
    assert iob2[3].aux_tags("chunk") == ("B-NP", "I-NP", "I-NP", "B-VP", "B-PP", "B-NP", "O")
    assert iob2[3].aux_tags("pos") == tuple(column(1)[3])  # a tag task is left as written
    assert [s.tags for s in iob2][0] == ("B-PER", "O", "O", "B-LOC")


def test_a_malformed_span_task_tag_names_file_and_line(tmp_path):
    rows = [list(r) for r in SENTENCES[0]]
    rows[2][2] = "I-"  # line 3: not a tag
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(" ".join(r) for r in rows) + "\n\n" + "\n".join(" ".join(r) for r in SENTENCES[1]))
    sentences = tfner.read_conll(bad, tag_column=3, aux_columns={"pos": 1, "chunk": 2})
    with pytest.raises(DataFormatError, match=r"bad.txt \(chunk tags\):3: tag .I-. is not"):
        tasks_lib.to_iob2(sentences, ["pos", "chunk"], {"chunk": tasks_lib.SPANS})


def test_fit_learns_every_task(multi, files):
    pos, chunk = multi.tasks_
    assert (pos.name, pos.kind, chunk.name) == ("pos", "tags", "chunk")
    assert pos.labels == tuple(sorted({t for s in column(1) for t in s})) and pos.weight == 0.5
    assert (chunk.kind, chunk.labels, chunk.weight) == ("spans", ("O", "B-NP", "I-NP", "B-PP", "I-PP", "B-VP", "I-VP"), 1.0)
    width = len(multi.labels_) + len(pos.labels) + len(chunk.labels)
    assert multi.model_.classifier.kernel.shape[-1] == width
    words = [[row[0] for row in s] for s in SENTENCES]
    assert multi.predict_tags(words, task="pos") == column(1)
    chunks = [list(s.aux_tags("chunk")) for s in tasks_lib.to_iob2(
        tfner.read_conll(files[1], tag_column=3, aux_columns={"chunk": 2}), ["chunk"], {})]
    assert multi.predict_tags(words, task="chunk") == chunks
    assert multi.predict_tags(words) == multi.predict_tags(words, task="ner")
    assert multi.evaluate(files[1]).f1 == multi.evaluate_task(files[1], "ner").f1 == 1.0
    assert multi.evaluate_task(files[1], "chunk").f1 == 1.0
    # the main task alone needs no other column: (words, tags) pairs score as the file does
    pairs = [(s.words, s.tags) for s in tfner.read_conll(files[1], tag_column=3)]
    assert multi.evaluate(pairs).entities == multi.evaluate(files[1]).entities


def test_dev_scores_of_every_task_each_epoch(multi, files):
    """History (and so TensorBoard's validation run) has each further task's dev score per epoch, from the
    same model pass as the main task's; the last equals scoring the final weights on dev afterwards."""
    history = multi.history_
    assert len(history["val_pos_accuracy"]) == len(history["val_chunk_f1"]) == OPTIONS["epochs"]
    assert history["val_pos_accuracy"][-1] == multi.evaluate_task(files[1], "pos").accuracy
    assert history["val_chunk_f1"][-1] == multi.evaluate_task(files[1], "chunk").f1
    assert history["val_pos_accuracy"][0] < history["val_pos_accuracy"][-1]  # it learns


def test_pos_accuracy_is_the_share_of_words_tagged_right(multi, files, tmp_path):
    out = tmp_path / "pos.txt"
    result = multi.evaluate_task(files[1], "pos", predictions_path=out)
    lines = [line.split() for line in out.read_text().splitlines() if line]
    assert len(lines) == sum(len(s) for s in SENTENCES) == result.words
    assert result.accuracy == sum(gold == pred for _, gold, pred in lines) / len(lines)
    assert [w for w, _, _ in lines] == [row[0] for s in SENTENCES for row in s]


def test_loss_is_the_weighted_sum_of_the_heads_losses_by_hand(multi, files):
    """The compiled loss on a batch equals sum_t weight_t * (mean cross-entropy of head t over its labelled
    tokens), computed here with numpy from the logits, each head its own slice of the classifier."""
    from tfner.data import pipeline

    tok = multi.tokenizer_
    packed = packed_windows(multi, files[1])
    batch = pipeline.pad_batch(packed, tok.pad_token_id)
    labels = np.full(batch["input_ids"].shape + (3,), IGNORE, np.int32)
    for i, w in enumerate(packed):
        labels[i, : w.length] = w.labels
    logits = multi.model_(batch, training=False).logits.numpy()
    assert (labels[..., 1] != IGNORE).sum() == sum(len(s) for s in SENTENCES)  # every word has a POS label
    weights, sizes = [1.0, 0.5, 1.0], [len(multi.labels_), *(len(t.labels) for t in multi.tasks_)]
    expected, start = 0.0, 0
    for t, (weight, size) in enumerate(zip(weights, sizes, strict=True)):
        part = logits[..., start:start + size].astype(np.float64)
        start += size
        log_probs = part - np.log(np.exp(part - part.max(-1, keepdims=True)).sum(-1, keepdims=True)) - part.max(-1, keepdims=True)
        mask = labels[..., t] != IGNORE
        picked = np.take_along_axis(log_probs, np.where(mask, labels[..., t], 0)[..., None], -1)[..., 0]
        expected += weight * -(picked * mask).sum() / mask.sum()
    got = float(multi.model_.loss(tf.constant(labels), tf.constant(logits)))
    assert got == pytest.approx(expected, rel=1e-5)
    inner = multi.model_.loss.inner
    parts = [float(v) for v in inner.task_losses(tf.constant(labels), tf.constant(logits))]
    assert sum(w * p for w, p in zip(weights, parts, strict=True)) == pytest.approx(expected, rel=1e-5)
    assert len(set(np.round(parts, 6))) == 3  # three different losses: each head scored on its own labels


def test_save_load_and_export_keep_every_head(multi, tmp_path):
    words = [[row[0] for row in s] for s in SENTENCES]
    saved = tfner.load(multi.save(tmp_path / "saved"), verbose=0)
    version = multi.export(tmp_path / "export")
    exported = tfner.load(version, verbose=0)
    assert json.loads((version / "assets" / "tasks.json").read_text())[0]["name"] == "pos"
    for other in (saved, exported):
        assert [t.name for t in other.tasks_] == ["pos", "chunk"]
        for task in (None, "pos", "chunk"):
            assert other.predict_tags(words, task=task) == multi.predict_tags(words, task=task)
    sig = exported._loaded.signatures["serving_default"]
    assert {"pos_probs", "pos_tags", "pos_label_ids", "pos_scores", "chunk_tags", "probs"} <= set(sig.structured_outputs)
    text = exported._loaded.signatures["predict_text"]
    texts = [" ".join(w) for w in words]
    out = {k: v.numpy() for k, v in text(text=tf.constant([t.encode() for t in texts])).items()}
    for i, (t, ws) in enumerate(zip(texts, words, strict=True)):
        n = int(out["num_words"][i])
        assert [t[a:b] for a, b in zip(out["word_start"][i, :n], out["word_end"][i, :n], strict=True)] == ws
        assert [v.decode() for v in out["pos_tag"][i, :n]] == column(1)[i]
    assert len(out["entity_start"]) == len(texts)  # the main task's entities as before


def test_init_from_a_multitask_tagger_keeps_the_shared_rows(multi, tmp_path, tiny_encoder):
    saved = multi.save(tmp_path / "saved")
    one = tfner.fit([([r[0] for r in s], [r[3].replace("I-", "B-") for r in s]) for s in SENTENCES], init_from=str(saved),
                    verbose=0, **{**OPTIONS, "epochs": 1, "learning_rate": 1e-12, "weight_decay": 0.0})
    assert one.tasks_ == [] and one.transferred_labels_ == multi.labels_
    n = len(multi.labels_)
    np.testing.assert_allclose(one.model_.classifier.kernel.numpy(), multi.model_.classifier.kernel.numpy()[:, :n],
                               atol=1e-6)


def test_bad_multitask_input_is_a_clear_error(multi, files, tiny_encoder, tmp_path):
    pairs = [([r[0] for r in s], [r[3] for r in s]) for s in SENTENCES]
    with pytest.raises(DataFormatError, match=r"train\[0\].*tags of every task"):
        tfner.fit(pairs, encoder=tiny_encoder, verbose=0, tasks=TASKS, **OPTIONS)
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_text(json.dumps({"text": "Alice flew", "spans": []}) + "\n")
    with pytest.raises(DataFormatError, match="JSONL"):
        tfner.fit(jsonl, encoder=tiny_encoder, verbose=0, tasks=TASKS, **OPTIONS)
    with pytest.raises(ConfigError, match="no task 'lemma'"):
        multi.evaluate_task(files[1], "lemma")
    with pytest.raises(ConfigError, match="no scheme"):
        multi.predict_tags([["Alice"]], task="pos", scheme="bioes")
    with pytest.raises(DataFormatError, match=r"two.txt:1: .*tag column 3, pos column 1, chunk column 2"):
        tfner.fit(write(tmp_path / "two.txt", [[(r[0], r[3]) for r in s] for s in SENTENCES]),
                  encoder=tiny_encoder, verbose=0, tasks=TASKS, **OPTIONS)


def test_the_command_line_scores_each_task(multi, files, tmp_path, capsys):
    from tfner import cli

    saved = multi.save(tmp_path / "saved")
    assert cli.main(["evaluate", str(saved), str(files[1]), "--task", "pos"]) == 0
    expected = multi.evaluate_task(files[1], "pos").accuracy
    assert f"Accuracy over {sum(len(s) for s in SENTENCES)} words: {expected:.4f}" in capsys.readouterr().out
    assert cli.main(["evaluate", str(saved), str(files[1]), "--task", "lemma"]) == 1
    assert "no task 'lemma'" in capsys.readouterr().err
    args = cli.build_parser().parse_args(["train", str(files[0]), "--output-dir", "o", "--tasks", "ner=3,pos=1",
                                          "--task-weights", "pos=0.5"])
    assert (args.tasks, args.task_weights) == ((("ner", 3), ("pos", 1)), (("pos", 0.5),))


@pytest.mark.slow
def test_multitask_under_mirrored_strategy_on_two_logical_devices(tmp_path, tiny_encoder, two_devices):
    """Two replicas (3 and 2 rows of a 5-row batch: the per-task counts are global) give the one-device loss;
    a fit whose 160 windows in batches of 7 end with a 6-row batch learns every task."""
    train = write(tmp_path / "train.txt")
    tagger = tfner.fit(train, encoder=tiny_encoder, strategy=two_devices, verbose=0, tasks=TASKS,
                       task_weights={"pos": 0.5}, **dict(OPTIONS, batch_size=7))
    # one batch of the training pipeline: the loss summed over the replicas against one device's
    ds = pipeline.make_dataset(packed_windows(tagger, train)[:5], batch_size=5, boundaries=(), pad_id=0,
                               shuffle=False, seed=0)
    x, y = next(iter(ds))
    loss = tagger.model_.loss.inner  # each replica's share of the global loss (the shown value aside)
    one = float(loss(y, tagger.model_(x, training=False).logits))
    per = two_devices.run(lambda x, y: loss(y, tagger.model_(x, training=False).logits),
                          args=next(iter(two_devices.experimental_distribute_dataset(ds))))
    two = float(two_devices.reduce(tf.distribute.ReduceOp.SUM, per, axis=None))
    assert tagger.train_stats_["replicas"] == 2
    assert two == pytest.approx(one, rel=1e-5)
    assert tagger.history_["loss"][-1] < 0.3 * tagger.history_["loss"][0]
    assert tagger.predict_tags([[r[0] for r in s] for s in SENTENCES], task="pos") == column(1)


def test_a_further_tasks_predictions_go_to_jsonl_as_spans_or_not_at_all(multi, files, tmp_path):
    out = tmp_path / "chunk.jsonl"
    result = multi.evaluate_task(files[1], "chunk", predictions_path=out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(SENTENCES)
    # the gold spans are the chunk column's (not the NER tags'), by a second route: character_spans over them
    sentences = tasks_lib.to_iob2(tfner.read_conll(files[1], tag_column=3, aux_columns={"chunk": 2}), ["chunk"], {})
    for record, s in zip(records, sentences, strict=True):
        assert record["gold"] == [{"start": x.start, "end": x.end, "label": x.label}
                                  for x in character_spans(s, s.aux_tags("chunk"))]
        assert all(span["label"] in ("NP", "PP", "VP") for span in record["spans"])
    assert result.f1 == 1.0 and [r["spans"] for r in records] == [
        [{k: v for k, v in span.items() if k != "score"} for span in r["gold"]] for r in records]
    with pytest.raises(tfner.ConfigError, match="'pos' tags words, not spans"):
        multi.evaluate_task(files[1], "pos", predictions_path=tmp_path / "pos.jsonl")
    assert not (tmp_path / "pos.jsonl").exists()
