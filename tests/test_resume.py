"""Resume after a kill: a recipe killed mid-training (a real SIGKILL of a
real process) and rerun with the same --checkpoint-dir ends with the same
weights as a run that was never interrupted.

The uninterrupted run and the rerun are ``main([...])`` calls in the test's
process (``--seed`` makes a run bitwise reproducible there as in a fresh
one): only the run that is killed needs a process of its own, and each
Python start-up with TensorFlow costs 5-8 s on 2 cores."""

import json
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import custom_layers  # noqa: F401  (registers the custom objects for load_model)
from recipes import distributed, multiclass_classification


def _flags(data_dir, save, checkpoint_dir):
    """The multi-class recipe's flags, the same for every run of the test."""
    return [
        "--quiet",
        "--impl",
        "custom",
        "--epochs",
        "12",
        "--seed",
        "3",
        "--data-dir",
        str(data_dir),
        "--save",
        str(save),
        "--checkpoint-dir",
        str(checkpoint_dir),
    ]


def _backed_up(metadata):
    """Whether the backup's metadata file holds a whole backup (Keras
    creates the file, then writes it)."""
    try:
        return "epoch" in json.loads(metadata.read_text())
    except (FileNotFoundError, ValueError):
        return False


def _command(*args):
    """The recipe with ``_flags(*args)`` as a fresh Python process."""
    return [sys.executable, "-m", "recipes.multiclass_classification", *_flags(*args)]


@pytest.mark.slow
def test_killed_recipe_resumes_to_the_same_weights(tmp_path, data_dir, capsys):
    # the run never interrupted
    straight = tmp_path / "straight.keras"
    done = multiclass_classification.main(_flags(data_dir, straight, tmp_path / "ckpt-straight"))

    resumed = tmp_path / "resumed.keras"
    checkpoint_dir = tmp_path / "ckpt"
    metadata = checkpoint_dir / "mlp-custom" / "training_metadata.json"
    process = subprocess.Popen(
        _command(data_dir, resumed, checkpoint_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not _backed_up(metadata) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()  # SIGKILL: no cleanup, no final save (maybe in the middle of a backup)
    process.wait(timeout=60)
    assert process.returncode == -9, "the run ended before it could be killed"
    assert not (tmp_path / "resumed-mlp.keras").exists()

    capsys.readouterr()
    rerun = multiclass_classification.main(_flags(data_dir, resumed, checkpoint_dir))
    assert "mlp custom" in capsys.readouterr().out
    # Resumed after the backed-up fit epochs, not trained again from the start
    # (with --seed a restart would end with the same weights too): the rerun's
    # fit epochs are the last ones of the uninterrupted run's.
    chunk_ends = done["rows"]["custom"].epochs  # the epoch at the end of each fit epoch
    resumed_ends = rerun["rows"]["custom"].epochs
    assert 0 < len(resumed_ends) < len(chunk_ends)
    assert resumed_ends == chunk_ends[-len(resumed_ends) :]
    final = keras.models.load_model(tmp_path / "resumed-mlp.keras").get_weights()
    reference = keras.models.load_model(tmp_path / "straight-mlp.keras").get_weights()
    for a, b in zip(final, reference, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not metadata.exists()  # the backup is removed once training completes


class _Killed(Exception):
    """Stands for the SIGKILL: fit stops before its end, the backup stays."""


def test_a_backup_cut_off_while_written_resumes_from_the_one_before(tmp_path):
    # A kill while Keras writes the backup's metadata leaves that file empty;
    # the rerun resumes from the previous backup (epoch 1 and its weights)
    # instead of stopping on a JSONDecodeError.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 3)), rng.standard_normal((32, 1))
    backup, after = tmp_path / "backup", {}

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        return m

    def record(epoch, logs):
        after[epoch + 1] = model_one.get_weights()
        if epoch == 1:
            raise _Killed  # after the backups of epochs 1 and 2

    model_one = model()
    with pytest.raises(_Killed):
        model_one.fit(
            x,
            y,
            epochs=4,
            verbose=0,
            callbacks=[
                distributed.Backup(str(backup)),
                keras.callbacks.LambdaCallback(on_epoch_end=record),
            ],
        )
    metadata = backup / "training_metadata.json"
    assert json.loads(metadata.read_text())["epoch"] == 2
    metadata.write_text("")  # the kill came as the backup of epoch 2 was written

    rerun, start = model(), []
    history = rerun.fit(
        x,
        y,
        epochs=4,
        verbose=0,
        callbacks=[
            distributed.Backup(str(backup)),
            keras.callbacks.LambdaCallback(
                on_train_begin=lambda logs: start.append(rerun.get_weights())
            ),
        ],
    )
    assert history.epoch == [1, 2, 3]  # epochs 2 to 4 run again from epoch 1's backup
    assert not backup.exists()  # removed once training completed
    for a, b in zip(start[0], after[1], strict=True):
        np.testing.assert_array_equal(a, b)

    # Cut off at the first backup: there is nothing before it to resume from.
    (tmp_path / "first").mkdir()
    (tmp_path / "first" / "training_metadata.json").write_text('{"epoch": 1, "ba')
    with pytest.raises(OSError, match=r"unreadable .* delete .*first to start over"):
        model().fit(
            x, y, epochs=2, verbose=0, callbacks=[distributed.Backup(str(tmp_path / "first"))]
        )
