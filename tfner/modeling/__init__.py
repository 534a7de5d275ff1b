"""Stage 2, modeling: the encoder with its token-classification head, and the loss.

``encoder`` loads or builds the BERT encoder and its tokenizer; ``loss`` is the masked
token loss. Heads (a CRF, for example) belong here. This layer may use ``tfner.data``
and imports nothing from ``training``, ``serving`` or ``tagger``.
"""
