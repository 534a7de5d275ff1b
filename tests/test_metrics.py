"""evaluate_tags against scores counted by hand."""

from __future__ import annotations

import pytest

from tfner.metrics import evaluate_tags

# Three sentences, three entity types (one hyphenated, as in WNUT-17).
GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC", "O"],               # PER(0,2)  LOC(3,4)
    ["B-creative-work", "O", "B-LOC", "I-LOC", "O", "O"],  # CW(0,1)  LOC(2,4)
    ["O", "B-PER", "O"],                                  # PER(1,2)
]
PRED = [
    ["B-PER", "I-PER", "O", "B-creative-work", "O"],     # PER(0,2) TP; CW(3,4) FP + LOC(3,4) FN (type confusion)
    ["B-creative-work", "O", "B-LOC", "I-LOC", "O", "B-PER"],  # CW TP; LOC TP; PER(5,6) FP
    ["O", "O", "O"],                                      # PER(1,2) FN
]
# Per type:      gold  pred  TP   precision  recall   F1
#   PER           2     2    1      1/2       1/2     1/2
#   LOC           2     1    1      1         1/2     2*1*(1/2)/(3/2) = 2/3
#   creative-work 1     2    1      1/2       1       2/3
#   micro         5     5    3      3/5       3/5     3/5
# macro F1 = (1/2 + 2/3 + 2/3) / 3 = 11/18; weighted F1 = (2*1/2 + 2*2/3 + 1*2/3) / 5 = 3/5
HAND = {
    "PER": (1 / 2, 1 / 2, 1 / 2, 2),
    "LOC": (1.0, 1 / 2, 2 / 3, 2),
    "creative-work": (1 / 2, 1.0, 2 / 3, 1),
    "micro avg": (3 / 5, 3 / 5, 3 / 5, 5),
}


@pytest.fixture(scope="module")
def report():
    return evaluate_tags(GOLD, PRED)


@pytest.mark.parametrize("key", list(HAND))
def test_entity_scores_match_hand_count(report, key):
    p, r, f, support = HAND[key]
    got = report.entities[key]
    assert got["precision"] == pytest.approx(p)
    assert got["recall"] == pytest.approx(r)
    assert got["f1-score"] == pytest.approx(f)
    assert got["support"] == support


def test_averages_and_shortcuts(report):
    assert report.entities["macro avg"]["f1-score"] == pytest.approx(11 / 18)
    assert report.entities["weighted avg"]["f1-score"] == pytest.approx(3 / 5)
    assert (report.precision, report.recall, report.f1) == pytest.approx((3 / 5, 3 / 5, 3 / 5))
    assert report.per_type_f1() == pytest.approx({"PER": 1 / 2, "LOC": 2 / 3, "creative-work": 2 / 3})


def test_token_report_counts_real_words(report):
    n_words = sum(len(s) for s in GOLD)  # 5 + 6 + 3 = 14
    assert report.tokens["weighted avg"]["support"] == n_words
    assert report.tokens["macro avg"]["support"] == n_words
    # wrong tokens: s1 word 3 (B-LOC vs B-creative-work), s2 word 5 (O vs B-PER), s3 word 1 (B-PER vs O)
    assert report.tokens["accuracy"] == pytest.approx(11 / 14)
    # 'O': 7 in gold, 7 predicted, 6 agree
    assert report.tokens["O"]["support"] == 7
    assert report.tokens["O"]["precision"] == pytest.approx(6 / 7)
    assert report.tokens["O"]["recall"] == pytest.approx(6 / 7)
    # B-creative-work is predicted twice, right once; in gold once
    assert report.tokens["B-creative-work"]["precision"] == pytest.approx(1 / 2)
    assert report.tokens["B-creative-work"]["recall"] == pytest.approx(1.0)


def test_text_reports_are_filled(report):
    text = str(report)
    assert "creative-work" in text and "mode=default" in text
    assert "accuracy" in report.tokens_text


def test_default_and_strict_differ_on_an_entity_opened_with_i():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["I-PER", "I-PER", "O", "B-LOC"]]
    # conlleval ('default') reads I-PER I-PER as PER(0,2): 2 of 2 right.
    default = evaluate_tags(gold, pred, mode="default")
    assert default.f1 == pytest.approx(1.0)
    # strict IOB2 drops the I-opened chunk: pred has only LOC -> P = 1/1, R = 1/2, F1 = 2/3.
    strict = evaluate_tags(gold, pred, mode="strict")
    assert (strict.precision, strict.recall, strict.f1) == pytest.approx((1.0, 1 / 2, 2 / 3))
    assert strict.entities["PER"]["recall"] == 0.0
    assert strict.mode == "strict"


def test_modes_agree_on_valid_iob2(report):
    strict = evaluate_tags(GOLD, PRED, mode="strict")
    for key in HAND:
        assert strict.entities[key] == pytest.approx(report.entities[key])


def test_perfect_prediction_and_no_mutation():
    gold = [("B-PER", "I-PER", "O"), ("O", "B-LOC")]
    before = [tuple(s) for s in gold]
    ev = evaluate_tags(gold, gold)
    assert (ev.precision, ev.recall, ev.f1) == (1.0, 1.0, 1.0)
    assert ev.tokens["accuracy"] == 1.0
    assert gold == before


@pytest.mark.parametrize(
    "gold, pred",
    [([["O", "O"]], [["O"]]), ([["O"]], [["O"], ["O"]])],
    ids=["sentence-length", "sentence-count"],
)
def test_shape_mismatch_is_rejected(gold, pred):
    with pytest.raises(ValueError):
        evaluate_tags(gold, pred)


def test_no_entities_anywhere_scores_zero_instead_of_crashing():
    ev = evaluate_tags([["O", "O"], ["O"]], [["O", "O"], ["O"]])
    assert ev.f1 == ev.precision == ev.recall == 0.0
    assert ev.per_type_f1() == {}
    assert ev.tokens["accuracy"] == 1.0
    assert "no entities" in str(ev)
    # strict mode drops an I-X that continues nothing: such tags alone are no entity either (before: seqeval's
    # report raised a bare ValueError, so a strict evaluate, or a fit scoring dev strictly, crashed)
    strict = evaluate_tags([["O", "O", "O"]], [["O", "I-PER", "I-PER"]], "strict")
    assert strict.f1 == 0.0 and strict.sentence_counts == ((0, 0, 0),) and "no entities" in str(strict)
    default = evaluate_tags([["O", "O", "O"]], [["O", "I-PER", "I-PER"]])  # conlleval's rule: one false positive
    assert default.f1 == 0.0 and default.sentence_counts == ((0, 1, 0),)


def test_bad_mode_and_resamples_are_config_errors():
    from tfner.errors import ConfigError
    from tfner.metrics import paired_bootstrap

    with pytest.raises(ConfigError, match="mode must be"):  # before: scored in default mode, recorded as "Strict"
        evaluate_tags(GOLD, PRED, "Strict")
    one = evaluate_tags(GOLD, PRED)
    with pytest.raises(ConfigError, match="resamples"):  # before: ZeroDivisionError
        paired_bootstrap(one, one, resamples=0)


def test_nothing_to_score_is_a_data_error():
    from tfner.errors import DataFormatError

    with pytest.raises(DataFormatError):
        evaluate_tags([], [])
    with pytest.raises(DataFormatError):
        evaluate_tags([[]], [[]])


def test_evaluation_carries_the_entity_confusion_and_draws_it(tmp_path):
    import numpy as np

    from tfner.metrics import NONE, entity_confusion, evaluate_tags

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-PER", "B-LOC"]]
    ev = evaluate_tags(gold, pred)
    counts, names = entity_confusion(gold, pred, ["LOC", "ORG", "PER"])
    assert ev.confusion == {"names": names, "counts": counts.tolist()} and names[-1] == NONE
    path = tmp_path / "confusion.png"
    ev.plot_confusion(path)
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100 and len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 3


# --- per-sentence counts and the paired bootstrap -------------------------------------------------

def random_tags(rng, length: int, types=("PER", "LOC")) -> list[str]:
    """Any tag anywhere, invalid I- starts included: conlleval's and the strict rule chunk these differently."""
    return [rng.choice(["O", "O", *(f"{p}-{t}" for p in "BI" for t in types)]) for _ in range(length)]


@pytest.mark.parametrize("mode", ["default", "strict"])
def test_sentence_counts_add_up_to_seqevals_micro_scores(mode):
    import random

    rng = random.Random(7)
    for _ in range(30):
        gold = [random_tags(rng, rng.randint(1, 9)) for _ in range(rng.randint(1, 6))]
        pred = [random_tags(rng, len(g)) for g in gold]
        ev = evaluate_tags(gold, pred, mode)
        tp, fp, fn = (sum(c[i] for c in ev.sentence_counts) for i in range(3))
        assert len(ev.sentence_counts) == len(gold)
        assert tp + fn == ev.entities["micro avg"]["support"]  # every gold entity is found or missed
        assert ev.precision == pytest.approx(tp / (tp + fp) if tp + fp else 0.0)
        assert ev.recall == pytest.approx(tp / (tp + fn) if tp + fn else 0.0)
        assert ev.f1 == pytest.approx(2 * tp / (2 * tp + fp + fn) if tp else 0.0)


def counts_evaluation(counts):
    from tfner.metrics import Evaluation

    return Evaluation({}, "", {}, "", "default", sentence_counts=counts)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_paired_bootstrap_matches_its_closed_form(k):
    """a and b agree on every sentence but k, where a finds the entity and b tags a wrong one: a resample
    puts a above b exactly when it draws one of those k, so the share is 1 - (1 - k/n)^n."""
    from tfner.metrics import paired_bootstrap

    n = 50
    a = counts_evaluation([(1, 0, 0)] * n)
    b = counts_evaluation([(0, 1, 1)] * k + [(1, 0, 0)] * (n - k))
    want = 1 - (1 - k / n) ** n  # 0.636, 0.867, 0.952
    assert paired_bootstrap(a, b, resamples=4000, seed=3) == pytest.approx(want, abs=0.03)
    assert paired_bootstrap(b, a, resamples=4000, seed=3) == 0.0  # b is never above a
    assert paired_bootstrap(a, b, resamples=500, seed=1) == paired_bootstrap(a, b, resamples=500, seed=1)


def test_paired_bootstrap_matches_every_draw_enumerated():
    """Four sentences, mixed counts: the share over all 4^4 equally likely draws, counted one by one."""
    import itertools

    from tfner.metrics import paired_bootstrap

    ca = [(2, 1, 0), (0, 0, 2), (1, 0, 1), (0, 1, 0)]
    cb = [(1, 0, 1), (1, 1, 1), (0, 2, 2), (1, 0, 0)]

    def f1(counts):
        tp, fp, fn = (sum(c[i] for c in counts) for i in range(3))
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    draws = list(itertools.product(range(4), repeat=4))
    exact = sum(f1([ca[i] for i in d]) > f1([cb[i] for i in d]) for d in draws) / len(draws)
    assert 0.2 < exact < 0.8  # a case where either may win
    got = paired_bootstrap(counts_evaluation(ca), counts_evaluation(cb), resamples=20000, seed=0)
    assert got == pytest.approx(exact, abs=0.015)


def test_paired_bootstrap_refuses_evaluations_of_different_sentences():
    from tfner.errors import DataFormatError
    from tfner.metrics import paired_bootstrap

    with pytest.raises(DataFormatError, match="same, non-empty list of sentences"):
        paired_bootstrap(counts_evaluation([(1, 0, 0)] * 3), counts_evaluation([(1, 0, 0)] * 4))
