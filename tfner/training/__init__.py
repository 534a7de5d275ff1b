"""Stage 3, training: optimizer and schedule, Keras callbacks, distribution strategy, precision.

``optim`` builds AdamW with its warm-up/decay schedule, ``callbacks`` scores dev each
epoch and logs to TensorBoard, ``strategy`` resolves ``strategy="auto"``, ``precision``
chooses float32 / mixed_bfloat16 / mixed_float16 from the hardware. Checkpoints/resume and
multi-worker set-up belong here. This layer may use ``data`` and ``modeling`` and imports
nothing from ``serving`` or ``tagger``.
"""
