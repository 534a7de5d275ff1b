"""The public API, snapshotted: what users call and the learned state they read.

Written before tagger.py was split into ``tfner.tagging``'s steps, and kept unchanged by that
move: a signature or a learned ``*_`` attribute that changes here changes what users' code sees.
"""

from __future__ import annotations

import inspect

import tfner

SIGNATURES = {
    "fit": "(train: 'DataLike', dev: 'DataLike | float | None' = None, *, strategy: 'Any' = 'auto', "
           "logdir: 'str | os.PathLike | None' = None, verbose: 'int' = 1, output_dir: 'str | os.PathLike | None' = None, "
           "backup_every: 'int' = 200, callbacks: 'Sequence[tf.keras.callbacks.Callback]' = (), dev_loss: 'bool' = True, "
           "overwrite: 'bool' = False, **options: 'Any') -> 'Tagger'",
    "load": "(path: 'str | os.PathLike', *, precision: 'str' = 'saved', verbose: 'int' = 1) -> 'Tagger'",
    "prepare": "(sources: 'Sequence[str | os.PathLike] | str | os.PathLike', out_dir: 'str | os.PathLike', *, "
               "rows_per_shard: 'int' = 10000, **options: 'Any') -> 'Path'",
    "Tagger.__init__": "(self, config: 'TaggerConfig | None' = None, *, strategy: 'Any' = 'auto', "
                       "logdir: 'str | os.PathLike | None' = None, verbose: 'int' = 1, "
                       "output_dir: 'str | os.PathLike | None' = None, backup_every: 'int' = 200, "
                       "callbacks: 'Sequence[tf.keras.callbacks.Callback]' = (), dev_loss: 'bool' = True, "
                       "overwrite: 'bool' = False, **options: 'Any')",
    "Tagger.evaluate": "(self, data: 'DataLike', *, mode: 'str | None' = None, predictions_path: "
                       "'str | os.PathLike | None' = None, predictions_scheme: 'str | None' = None) -> 'Evaluation'",
    "Tagger.evaluate_task": "(self, data: 'DataLike', task: 'str', *, mode: 'str | None' = None, predictions_path: "
                            "'str | os.PathLike | None' = None) -> 'Evaluation | TagEvaluation'",
    "Tagger.export": "(self, path: 'str | os.PathLike', *, serving_version: 'str' = '2.14', "
                     "allow_unservable: 'bool' = False) -> 'Path'",
    "Tagger.fit": "(self, train: 'DataLike', dev: 'DataLike | float | None' = None) -> 'Tagger'",
    "Tagger.plot_history": "(self, path: 'str | os.PathLike | None' = None)",
    "Tagger.predict": "(self, texts: 'Sequence[str]') -> 'list[list[Span]]'",
    "Tagger.predict_tags": "(self, sentences: 'Sequence[Sequence[str]]', *, scheme: 'str' = 'iob2', "
                           "task: 'str | None' = None) -> 'list[list[str]]'",
    "Tagger.save": "(self, path: 'str | os.PathLike') -> 'Path'",
}

FITTED = {"best_epoch_", "config_", "dev_evaluations_", "history_", "kept_epoch_", "labels_", "model_", "module_",
          "stopped_epoch_", "tasks_", "tokenizer_", "train_stats_", "transferred_labels_"}
LOADED_SAVED = {"config_", "labels_", "model_", "module_", "tasks_", "tokenizer_"}
LOADED_EXPORT = {"config_", "labels_", "model_", "tasks_", "tokenizer_"}


def learned(tagger) -> set[str]:
    return {name for name in vars(tagger) if name.endswith("_") and not name.startswith("__")}


def test_the_public_signatures_are_unchanged():
    public = {name: getattr(tfner, name) for name in ("fit", "load", "prepare")}
    public.update({f"Tagger.{name}": member for name, member in vars(tfner.Tagger).items()
                   if callable(member) and (not name.startswith("_") or name == "__init__")})
    assert {name: str(inspect.signature(f)) for name, f in public.items()} == SIGNATURES


def test_the_learned_attributes_after_fit_save_and_export_are_unchanged(fitted, tmp_path):
    assert learned(fitted) == FITTED
    fitted.save(tmp_path / "saved")
    assert learned(tfner.load(tmp_path / "saved", verbose=0)) == LOADED_SAVED
    version = fitted.export(tmp_path / "export")
    assert learned(tfner.load(version, verbose=0)) == LOADED_EXPORT


def test_an_unfitted_tagger_holds_no_learned_state():
    assert learned(tfner.Tagger(epochs=1)) == set()
