"""`--distribute multi-worker` for real: two worker processes on localhost
(free ports, one TF_CONFIG each) train the custom CNN (custom Conv2D, Dense,
loss, Adam) under MultiWorkerMirroredStrategy. A worker killed mid-training
stops the run with a clear message; the same command run again resumes from
the backup, and the two workers end where one process ends on the same
global batches, with the chief alone writing the table, plot, model and
logs. It starts real processes: slow."""

import contextlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import custom_layers  # noqa: F401  (registers the custom objects for load_model)
from recipes import cnn_image_classification, data

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow_only]

ROOT = pathlib.Path(__file__).resolve().parent.parent
# A few epochs of the CNN on the 8x8 digits in global batches of 128 (12
# steps per epoch, the last one 29 examples: split 15 + 14 between the workers).
DATASET = "digits"
FLAGS = ["--impl", "custom", "--epochs", "4", "--validate-every", "1", "--batch-size", "128"]
FLAGS += ["--seed", "5", "--dataset", DATASET]
WAIT = 300  # seconds: the longest any one process may take


def _free_ports(count):
    """Ports no one listens on now (bound to port 0, then released)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]


@contextlib.contextmanager
def _cluster(tmp_path, scratch, *flags, workers=2):
    """Start ``workers`` processes of the CNN recipe as one cluster, with
    ``scratch`` as their temporary folder (where non-chief workers keep their
    scratch copies); yield them (Popen, output file); kill any still running
    when the block ends."""
    addresses = [f"localhost:{port}" for port in _free_ports(workers)]
    scratch.mkdir()
    processes = []
    try:
        for index in range(workers):
            config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
            env = dict(os.environ, TF_CONFIG=json.dumps(config), TMPDIR=str(scratch))
            output = tmp_path / f"worker{index}-{time.monotonic_ns()}.txt"
            with output.open("w") as sink:
                process = subprocess.Popen(
                    [sys.executable, "-m", "recipes.cnn_image_classification", *FLAGS, *flags],
                    cwd=ROOT,
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            processes.append((process, output))
        yield processes
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.kill()
        for process, _ in processes:
            process.wait(timeout=60)


def _finish(processes):
    """Wait for every worker; return their outputs; fail on a non-zero exit."""
    outputs = []
    for process, output in processes:
        process.wait(timeout=WAIT)
        outputs.append(output.read_text())
        assert process.returncode == 0, outputs[-1][-3000:]
    return outputs


def _weights(path):
    return keras.models.load_model(path).get_weights()


def _max_diff(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    """The data set, built here once and read by the workers."""
    folder = tmp_path_factory.mktemp("tfds")
    data.prepared_builder(DATASET, str(folder))
    return folder


def _one_process_weights(data_dir, folder):
    """The same training in this one process: the weights it saves."""
    save = folder / "one.keras"
    cnn_image_classification.main(
        [*FLAGS, "--quiet", "--data-dir", str(data_dir), "--save", str(save)]
    )
    return _weights(folder / "one-cnn.keras")


def test_killed_worker_stops_the_run_and_a_rerun_ends_as_one_process(digits_dir, tmp_path):
    checkpoint_dir, out = tmp_path / "ckpt", tmp_path / "out"
    metadata = checkpoint_dir / "cnn-custom" / "training_metadata.json"
    flags = ["--distribute", "multi-worker", "--data-dir", str(digits_dir)]
    flags += ["--checkpoint-dir", str(checkpoint_dir), "--save", str(out / "run.keras")]

    with _cluster(tmp_path, tmp_path / "scratch-killed", *flags) as processes:
        (chief, chief_output), (other, _) = processes
        deadline = time.monotonic() + WAIT
        while not metadata.exists() and chief.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert metadata.exists(), chief_output.read_text()[-3000:]
        other.kill()  # SIGKILL worker 1 after the first backup
        other.wait(timeout=60)
        # The chief notices (missed heartbeats) and stops; the 10-15 s it
        # waits for that are idle: the same training in this one process meanwhile.
        expected = _one_process_weights(digits_dir, tmp_path)
        chief.wait(timeout=WAIT)
        said = chief_output.read_text()
    assert other.returncode == -9
    assert chief.returncode == 1, said[-3000:]
    backed_up = json.loads(metadata.read_text())["epoch"]
    assert 1 <= backed_up < 4, "the run ended before it could be interrupted"
    message = said.strip().splitlines()[-1]
    assert message.startswith("RuntimeError: cnn (custom), worker 0 of 2: training stopped ")
    assert "the cluster lost a worker" in message and "/job:worker/replica:0/task:1" in message
    assert f"holds the state after epoch {backed_up} of 4" in message
    assert not (out / "run-cnn.keras").exists()

    # The same command on both workers, with a plot and TensorBoard logs asked for.
    rerun = [*flags, "--plot", str(out / "curves.png"), "--tensorboard", str(out / "tb")]
    scratch = tmp_path / "scratch-rerun"
    with _cluster(tmp_path, scratch, *rerun) as processes:
        chief, other = _finish(processes)
    epochs = [line.split()[3] for line in chief.splitlines() if line.startswith("cnn custom: ")]
    assert epochs == [f"{epoch}/4" for epoch in range(backed_up + 1, 5)]  # resumed, not redone
    # Epoch 1 from the killed cluster's backup, the rest from this one: one
    # process' training on the same global batches.
    diff = _max_diff(_weights(out / "run-cnn.keras"), expected)
    print(f"killed after epoch {backed_up}, resumed: max |Δw| vs one process = {diff:.1e}")
    assert diff <= 1e-4
    assert not metadata.exists()  # the backup is removed once training completes
    # the chief, and only the chief, writes the table, the plot, the model, the logs
    assert "digits: small CNN, test set" in chief and "cnn custom" in chief
    assert "cnn custom" not in other
    pictures = ["curves-feature-maps.png", "curves-kernels.png", "curves.png"]
    assert sorted(p.name for p in out.iterdir()) == [*pictures, "run-cnn.keras", "tb"]
    assert len(list((out / "tb").rglob("events.out.tfevents.*"))) == 2  # train, validation
    assert not any(scratch.iterdir())  # worker 1's scratch copies are gone
