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
from recipes import multiclass_classification


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
    while not metadata.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()  # SIGKILL: no cleanup, no final save
    process.wait(timeout=60)
    assert process.returncode == -9, "the run ended before it could be killed"
    chunk_ends = done["rows"]["custom"].epochs  # the epoch at the end of each fit epoch
    killed_after = json.loads(metadata.read_text())["epoch"]  # fit epochs backed up
    assert 1 <= killed_after < len(chunk_ends)
    assert not (tmp_path / "resumed-mlp.keras").exists()

    capsys.readouterr()
    rerun = multiclass_classification.main(_flags(data_dir, resumed, checkpoint_dir))
    assert "mlp custom" in capsys.readouterr().out
    # resumed after the backed-up fit epochs, not trained again from the start
    # (with --seed a restart would end with the same weights too)
    assert rerun["rows"]["custom"].epochs == chunk_ends[killed_after:]
    final = keras.models.load_model(tmp_path / "resumed-mlp.keras").get_weights()
    reference = keras.models.load_model(tmp_path / "straight-mlp.keras").get_weights()
    for a, b in zip(final, reference, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not metadata.exists()  # the backup is removed once training completes
