"""Stage 2, modeling: the encoder with its token-classification head, the loss, CRF and decoding.

``encoder`` loads or builds the BERT encoder and its tokenizer; ``loss`` is the masked
token loss; ``crf`` holds linear-chain CRF ops with the scheme's hard constraints;
``decoding`` turns word probabilities into tags (argmax or constrained). Heads (the CRF
head) belong here. This layer may use ``tfner.data`` and imports nothing from ``training``,
``serving`` or ``tagger``.
"""
