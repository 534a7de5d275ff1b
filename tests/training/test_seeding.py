"""seed= makes a fit repeatable, also the first one in a process, and leaves the caller's random streams alone."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_python

SEEDED = r"""
import json, os, random
import numpy as np
import tfner
import tensorflow as tf
from tensorflow.python.eager import context
from pathlib import Path
from tests.conftest import TRAIN, TINY_OPTIONS, write_tiny_encoder

enc = write_tiny_encoder(Path(os.environ["TINY_DIR"]))
random.seed(7)
np.random.seed(7)
python_before, numpy_before = random.getstate(), np.random.get_state()[1].tolist()
runs = []
for seed in (1, 1, 2):  # the first fit of the process, the same again, another seed
    t = tfner.fit(TRAIN, encoder=str(enc), verbose=0, **dict(TINY_OPTIONS, epochs=3, seed=seed))
    runs.append(dict(loss=t.history_["loss"],
                     weights=[float(np.abs(v.numpy()).sum()) for v in t.model_.trainable_variables]))
streams_kept = random.getstate() == python_before and np.random.get_state()[1].tolist() == numpy_before
after_none = context.global_seed()
tf.random.set_seed(11)
tfner.fit(TRAIN, encoder=str(enc), verbose=0, **dict(TINY_OPTIONS, epochs=1))
print(json.dumps(dict(runs=runs, streams_kept=streams_kept, after_none=after_none, after_11=context.global_seed())))
"""


@pytest.mark.slow
def test_the_same_seed_gives_the_same_run_and_the_callers_streams_are_kept(tmp_path):
    out = run_python(SEEDED, env={"TINY_DIR": str(tmp_path / "enc")})
    r = json.loads(out.stdout.strip().splitlines()[-1])
    first, again, other = r["runs"]
    assert first["loss"] == pytest.approx(again["loss"], rel=1e-6)  # the first fit in a process is no different
    assert first["weights"] == pytest.approx(again["weights"], rel=1e-6)
    assert other["loss"] != pytest.approx(first["loss"], rel=1e-6)  # the seed does matter
    assert r["streams_kept"]  # Python's and NumPy's states are exactly as before
    assert r["after_none"] is None and r["after_11"] == 11  # TensorFlow's global seed is given back


def test_deterministic_turns_op_determinism_on_for_the_fit_only(tiny_encoder):
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    import tfner
    from tests.conftest import TINY_OPTIONS, TRAIN

    seen = []
    probe = tf.keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        tf_config.is_op_determinism_enabled()))
    assert not tf_config.is_op_determinism_enabled()
    tfner.fit(TRAIN, encoder=tiny_encoder, verbose=0, callbacks=[probe], deterministic=True,
              **{**TINY_OPTIONS, "epochs": 2})
    assert seen == [True, True]
    assert not tf_config.is_op_determinism_enabled()  # given back
