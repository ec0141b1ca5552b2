"""Saved here, loaded in a fresh Python process: the objects load from their
registered names alone, with nothing of this process' state to lean on.

Each check is prepared by the module it belongs to (its function saves what
it needs into a folder, checks the round trip in this process, and returns
the script for the fresh process). All the scripts run in one fresh process,
one after the other, each in its own namespace: a Python start-up with
TensorFlow costs 5-8 s on 2 cores, and none of these checks needs a process
of its own, only one that did not make the objects it loads.
"""

import textwrap

import pytest

from tests import (
    test_bad_inputs,
    test_conv2d,
    test_optimizer_state,
    test_reload_trains_on,
    test_serialization,
)
from tests.helpers import run_in_fresh_python

CHECKS = {
    "every custom object": test_serialization.saved_every_custom_object,
    "a user's subclass": test_serialization.saved_user_subclass,
    "optimizer state": test_optimizer_state.saved_states,
    "training on after a reload": test_reload_trains_on.saved_mid_training,
    "custom Conv2D": test_conv2d.saved_cnn,
    "whole-model XLA training": test_conv2d.whole_xla_training,
    "bad labels under XLA": test_bad_inputs.xla_bad_labels,
}

_RUNNER = """
import sys
for name, source in SCRIPTS.items():
    exec(compile(source, f"<{name}>", "exec"), {"__name__": "__main__"})
    print("passed:", name)
    sys.stdout.flush()
"""


@pytest.mark.slow  # a fresh Python process
def test_what_was_saved_here_loads_in_a_fresh_process(tmp_path):
    scripts = {}
    for index, (name, prepare) in enumerate(CHECKS.items()):
        folder = tmp_path / f"check{index}"
        folder.mkdir()
        scripts[name] = textwrap.dedent(prepare(folder))
    # Each check prints "passed: <name>" once it has; a failing one stops the
    # process with a traceback naming it (its file is "<name>").
    run_in_fresh_python(f"SCRIPTS = {scripts!r}\n{_RUNNER}", f"passed: {list(CHECKS)[-1]}")
