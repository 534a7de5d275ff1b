"""The CRF against brute-force enumeration of every label path on tiny examples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfner.modeling import crf

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


N_LABELS = len(LABELS)


def random_problem(seed, batch=4, time=4, n_labels=N_LABELS):
    rng = np.random.default_rng(seed)
    emissions = rng.normal(size=(batch, time, n_labels)).astype(np.float32) * 2
    lengths = np.array([time, time - 1, 1, 0][:batch], np.int32)
    transitions = rng.normal(size=(n_labels, n_labels)).astype(np.float32)
    start, end = (rng.normal(size=n_labels).astype(np.float32) for _ in range(2))
    return emissions, lengths, transitions, start, end


def path_score(e, path, transitions, start, end):
    if not path:
        return 0.0
    s = start[path[0]] + end[path[-1]] + sum(e[t, y] for t, y in enumerate(path))
    return s + sum(transitions[a, b] for a, b in itertools.pairwise(path))


def all_paths(n, n_labels, allowed=None, may_start=None):
    for path in itertools.product(range(n_labels), repeat=n):
        if allowed is not None and path and (not may_start[path[0]] or
                                             not all(allowed[a, b] for a, b in itertools.pairwise(path))):
            continue
        yield path


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_partition_and_path_scores_equal_brute_force(seed):
    emissions, lengths, transitions, start, end = random_problem(seed)
    got = crf.log_partition(emissions, lengths, transitions, start, end).numpy()
    rng = np.random.default_rng(seed + 100)
    tags = rng.integers(0, len(LABELS), size=lengths.shape + (emissions.shape[1],)).astype(np.int32)
    tags[np.arange(emissions.shape[1])[None, :] >= lengths[:, None]] = 0
    scores = crf.sequence_score(emissions, tags, lengths, transitions, start, end).numpy()
    for b, n in enumerate(lengths):
        every = [path_score(emissions[b], p, transitions, start, end) for p in all_paths(int(n), len(LABELS))]
        assert got[b] == pytest.approx(float(np.log(np.sum(np.exp(every)))) if n else 0.0, abs=1e-4)
        assert scores[b] == pytest.approx(path_score(emissions[b], list(tags[b, :n]), transitions, start, end),
                                          abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_finds_the_best_path(seed):
    emissions, lengths, transitions, start, end = random_problem(seed)
    paths, best = crf.viterbi(emissions, lengths, transitions, start, end)
    for b, n in enumerate(lengths):
        n = int(n)
        scored = {p: path_score(emissions[b], p, transitions, start, end) for p in all_paths(n, len(LABELS))}
        want = max(scored, key=scored.get)
        assert tuple(paths.numpy()[b, :n]) == want
        assert (paths.numpy()[b, n:] == 0).all()
        assert best.numpy()[b] == pytest.approx(scored[want], abs=1e-4)


def test_gradient_of_the_loss_is_marginals_minus_gold():
    emissions, lengths, transitions, start, end = random_problem(3, batch=2, time=3)
    tags = np.array([[1, 2, 0], [3, 4, 0]], np.int32)
    e = tf.Variable(emissions)
    t = tf.Variable(transitions)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(crf.negative_log_likelihood(e, tags, lengths, t, start, end))
    grad_e, grad_t = tape.gradient(loss, [e, t])
    for b, n in enumerate(lengths):
        n = int(n)
        paths = list(all_paths(n, len(LABELS)))
        weights = np.exp([path_score(emissions[b], p, transitions, start, end) for p in paths])
        weights /= weights.sum()
        marginals = np.zeros((emissions.shape[1], len(LABELS)))
        for w, p in zip(weights, paths, strict=True):
            for pos, y in enumerate(p):
                marginals[pos, y] += w
        gold = np.zeros_like(marginals)
        gold[np.arange(n), tags[b, :n]] = 1
        np.testing.assert_allclose(grad_e.numpy()[b], marginals - gold, atol=1e-4)
    # and against a numerical derivative for one transition score
    eps, (i, j) = 1e-2, (1, 2)

    def loss_at(delta):
        moved = transitions.copy()
        moved[i, j] += delta
        return float(tf.reduce_sum(crf.negative_log_likelihood(emissions, tags, lengths, moved, start, end)))

    assert grad_t.numpy()[i, j] == pytest.approx((loss_at(eps) - loss_at(-eps)) / (2 * eps), abs=2e-3)


def test_iob2_constraints_by_hand():
    allowed, may_start = crf.iob2_constraints(LABELS)
    # rows: from; columns: to.   O  B-P I-P B-L I-L
    assert allowed.astype(int).tolist() == [[1, 1, 0, 1, 0],  # O -> I-X forbidden
                                            [1, 1, 1, 1, 0],  # B-PER -> I-LOC forbidden
                                            [1, 1, 1, 1, 0],  # I-PER -> I-LOC forbidden
                                            [1, 1, 0, 1, 1],
                                            [1, 1, 0, 1, 1]]
    assert may_start.tolist() == [True, True, False, True, False]


@pytest.mark.parametrize("seed", range(5))
def test_constrained_decoding_never_takes_a_forbidden_transition(seed):
    emissions, lengths, transitions, start, end = random_problem(seed, batch=4, time=5)
    emissions[:, :, 2] += 5.0  # make I-PER tempting everywhere, also where it is forbidden
    allowed, may_start = crf.iob2_constraints(LABELS)
    trans_c, start_c = crf.constrain(transitions, start, allowed, may_start)
    paths, _ = crf.viterbi(emissions, lengths, trans_c, start_c, end)
    for b, n in enumerate(lengths):
        n = int(n)
        path = tuple(paths.numpy()[b, :n])
        if n:
            assert may_start[path[0]] and all(allowed[a, c] for a, c in itertools.pairwise(path))
        legal = {p: path_score(emissions[b], p, transitions, start, end)
                 for p in all_paths(n, len(LABELS), allowed, may_start)}
        assert path == max(legal, key=legal.get)  # the best *allowed* path
    # forbidden paths get no probability mass
    z_c = crf.log_partition(emissions, lengths, trans_c, start_c, end).numpy()
    for b, n in enumerate(lengths):
        legal = [path_score(emissions[b], p, transitions, start, end)
                 for p in all_paths(int(n), len(LABELS), allowed, may_start)]
        assert z_c[b] == pytest.approx(float(np.log(np.sum(np.exp(legal)))) if n else 0.0, abs=1e-3)


def test_runs_inside_a_tf_function_with_unknown_shapes():
    fn = tf.function(crf.viterbi, input_signature=[tf.TensorSpec([None, None, 5], tf.float32),
                                                  tf.TensorSpec([None], tf.int32),
                                                  tf.TensorSpec([5, 5], tf.float32),
                                                  tf.TensorSpec([5], tf.float32), tf.TensorSpec([5], tf.float32)])
    emissions, lengths, transitions, start, end = random_problem(4)
    eager, _ = crf.viterbi(emissions, lengths, transitions, start, end)
    graph, _ = fn(emissions, lengths, transitions, start, end)
    np.testing.assert_array_equal(eager.numpy(), graph.numpy())


def test_one_word_sequences_inside_a_tf_function_with_unknown_batch():
    # A batch of one-word sentences: time is 1, so the forward and Viterbi scans have no step.
    # With the batch size unknown (Keras' train function, the export) tf.scan used to fail:
    # "Tried to stack elements of an empty list with non-fully-defined element_shape".
    specs = [tf.TensorSpec([None, None, N_LABELS], tf.float32), tf.TensorSpec([None], tf.int32),
             tf.TensorSpec([N_LABELS, N_LABELS], tf.float32), tf.TensorSpec([N_LABELS], tf.float32),
             tf.TensorSpec([N_LABELS], tf.float32)]
    emissions, _, transitions, start, end = random_problem(5, time=1)
    lengths = np.array([1, 1, 0, 1], np.int32)
    z = tf.function(crf.log_partition, input_signature=specs)(emissions, lengths, transitions, start, end).numpy()
    path, score = tf.function(crf.viterbi, input_signature=specs)(emissions, lengths, transitions, start, end)
    assert path.shape == (4, 1)
    for b, n in enumerate(lengths):
        every = {p: path_score(emissions[b], list(p), transitions, start, end) for p in all_paths(int(n), N_LABELS)}
        assert z[b] == pytest.approx(float(np.log(np.sum(np.exp(list(every.values()))))) if n else 0.0, abs=1e-4)
        if n:
            best = max(every, key=every.get)
            assert path.numpy()[b].tolist() == list(best) and score.numpy()[b] == pytest.approx(every[best], abs=1e-4)
