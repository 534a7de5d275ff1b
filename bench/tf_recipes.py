"""The TensorFlow recipes a user would otherwise follow, written here from their descriptions (issue 10).

* ``hf``: the Hugging Face TensorFlow token-classification example: the fast tokenizer with
  ``is_split_into_words`` (first sub-token labelled, -100 elsewhere, truncation at 128),
  ``DataCollatorForTokenClassification(return_tensors="np")`` padding each random batch of 32,
  ``transformers.create_optimizer`` (AdamW with warm-up and linear decay), ``model.compile()``
  with the model's internal loss, float32.
* ``pad128``: the classic tutorial: every sentence padded to 128 sub-tokens, batch 16, Adam,
  the model's internal loss, float32.

Both start from the same encoder weights as tfner (the offline MiniLM, loaded by
``tfner.modeling.encoder.build_model``) and are timed by the same callback as tfner
(``TrainingTimer``: wall time of the epochs' training steps). Real tokens are the non-padding
sub-tokens ([CLS] and [SEP] included), as for tfner.
"""

from __future__ import annotations

import numpy as np


def run(recipe: str, sentences, epochs: int) -> dict:
    import tensorflow as tf
    import transformers

    from tfner.config import TaggerConfig
    from tfner.modeling.encoder import build_model, load_tokenizer
    from tfner.training.callbacks import TrainingTimer

    encoder = TaggerConfig().encoder
    tokenizer = load_tokenizer(encoder)
    labels = sorted({t for s in sentences for t in s.tags})
    label_id = {t: i for i, t in enumerate(labels)}
    pad128 = recipe == "pad128"
    enc = tokenizer([list(s.words) for s in sentences], is_split_into_words=True, truncation=True, max_length=128,
                    padding="max_length" if pad128 else False)
    features = []
    for k, s in enumerate(sentences):
        word_ids, previous, row = enc.word_ids(k), None, []
        for w in word_ids:
            row.append(-100 if w is None or w == previous else label_id[s.tags[w]])
            previous = w
        features.append({"input_ids": enc["input_ids"][k], "attention_mask": enc["attention_mask"][k], "labels": row})
    tokens = int(sum(int(np.sum(f["attention_mask"])) for f in features))
    batch = 16 if pad128 else 32
    steps = -(-len(features) // batch)
    model = build_model(encoder, len(labels), pretrained=True, seed=0, max_length=128)
    if pad128:
        optimizer = tf.keras.optimizers.Adam(5e-5)
    else:
        optimizer, _ = transformers.create_optimizer(init_lr=5e-5, num_train_steps=steps * epochs,
                                                     num_warmup_steps=int(0.1 * steps * epochs),
                                                     weight_decay_rate=0.01)
    model.compile(optimizer=optimizer)  # the model's internal loss (labels in the inputs)
    collator = transformers.DataCollatorForTokenClassification(tokenizer, return_tensors="np")
    rng = np.random.default_rng(0)

    def batches():
        for _ in range(epochs):
            order = rng.permutation(len(features))
            for i in range(0, len(order), batch):
                chunk = [features[j] for j in order[i:i + batch]]
                if pad128:
                    yield {k: np.asarray([f[k] for f in chunk], np.int32) for k in chunk[0]}
                else:
                    yield {k: np.asarray(v, np.int32) for k, v in collator(chunk).items()}

    spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ("input_ids", "attention_mask", "labels")}
    ds = tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(2)
    timer = TrainingTimer(tokens)
    model.fit(ds, epochs=epochs, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    return {"tokens": tokens * epochs, "seconds": timer.seconds, "real_tokens_per_s": tokens * epochs / timer.seconds,
            "last_epoch_real_tokens_per_s": tokens / timer.epoch_seconds[-1], "precision": "float32"}
