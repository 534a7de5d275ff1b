"""Stage 2, modeling: the encoder with its token-classification head, the loss, CRF and decoding.

``encoder`` loads or builds the BERT encoder and its tokenizer; ``loss`` is the masked
token loss; ``crf`` holds linear-chain CRF ops with the scheme's hard constraints;
``crf_head`` is the CRF head and its loss; ``decoding`` turns word probabilities into tags
(argmax, constrained, or the CRF's Viterbi). Other heads belong here. This layer may use ``tfner.data`` and imports nothing from ``training``,
``serving`` or ``tagger``.
"""
