"""How the recipes' commands handle their process (``recipes.process``),
and that a user's ``import recipes`` does none of it. The commands end
without the last full collection (1.7 s -> 0.2 s of a recipe process' exit
on 2 cores): what is in reference cycles at exit, the globals of most
modules included, is left to the OS instead of being finalized.
TensorFlow's import runs with the collector paused, and leaves it as it
found it."""

import gc
import os
import subprocess
import sys

from recipes import process

# Two objects that say when they are finalized: one held by a global of the
# script, one in a reference cycle that is already garbage. The collector is
# off until the exit, so only the exit's own collection can finalize them.
_SCRIPT = """
import gc, os, sys
gc.disable()

class Says:
    def __init__(self, word):
        self.word = word

    def __del__(self, write=os.write):
        write(1, self.word)

kept = Says(b"global finalized\\n")
cycle = Says(b"cycle finalized\\n")
cycle.me = cycle
del cycle
import recipes
if sys.argv[1] == "command":
    recipes.process.spare_the_collector()
print("exiting", flush=True)
"""


def _exit_says(how):
    env = {k: v for k, v in os.environ.items() if k != process.STARTED}
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, how],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert "tensorflow" not in result.stderr.lower(), result.stderr
    return result.stdout.splitlines()


def test_only_the_commands_leave_the_last_collection_out():
    # `import recipes` alone changes nothing: the exit's collection
    # finalizes both (the script's globals sit in a cycle with its class).
    assert sorted(_exit_says("import")) == ["cycle finalized", "exiting", "global finalized"]
    # A recipe's command: neither is finalized, the process just ends.
    assert _exit_says("command") == ["exiting"]


def test_the_pause_turns_the_collector_back_on_and_leaves_its_objects_collectable():
    gc.unfreeze()  # this worker's frozen objects: back out of reach at the end
    try:
        with process.collector_paused():
            assert not gc.isenabled()
            made = [[index] for index in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() == 0  # not left out of the collector's reach
        oldest = {id(thing) for thing in gc.get_objects(generation=2)}
        assert all(id(thing) in oldest for thing in made)  # and not walked twice first
    finally:
        gc.freeze()


def test_the_pause_keeps_a_stopped_collector_stopped_and_frozen_objects_frozen():
    gc.freeze()  # a process with frozen objects of its own (as this worker)
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        with process.collector_paused():
            made = [[index] for index in range(1000)]
        assert not gc.isenabled()
        # (frozen objects freed meanwhile leave the count, none were unfrozen)
        assert gc.get_freeze_count() > 0.99 * frozen
        assert any(thing is made[0] for thing in gc.get_objects(generation=0))
    finally:
        gc.enable()


# A user's script: the collector, file descriptor 2 and the environment
# as it finds them before and after `import recipes` and a recipe module.
_USER_SCRIPT = """
import gc, os, sys
before = (gc.isenabled(), gc.get_freeze_count(), gc.get_threshold(), os.get_inheritable(2))
environment = dict(os.environ)
stderr = os.fstat(2)
import recipes
from recipes import multiclass_classification
after = (gc.isenabled(), gc.get_freeze_count(), gc.get_threshold(), os.get_inheritable(2))
assert before == after, (before, after)
assert os.fstat(2) == stderr
# (JAX, which TFDS imports, sets TF_CPP_MIN_LOG_LEVEL=1 for itself; the
# commands set 3)
changed = set(os.environ.items()) ^ set(environment.items())
assert changed <= {("TF_CPP_MIN_LOG_LEVEL", "1")}, changed
print("unchanged")
"""


def test_a_users_import_leaves_the_process_as_it_was():
    env = {
        k: v for k, v in os.environ.items() if k not in (process.STARTED, "TF_CPP_MIN_LOG_LEVEL")
    }
    result = subprocess.run(
        [sys.executable, "-c", _USER_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "unchanged"


def test_only_a_recipes_command_starts_as_one(monkeypatch):
    monkeypatch.delenv(process.STARTED, raising=False)
    cases = [
        ("-m", ["python", "-m", "recipes"], True),
        ("-m", ["python", "-X", "importtime", "-m", "recipes.regression", "--epochs", "3"], True),
        ("-m", ["python", "-m", "recipes_of_mine"], False),
        ("-m", ["python", "-m", "pytest", "recipes"], False),
        ("script.py", ["python", "script.py", "-m", "recipes"], False),
        ("-c", ["python", "-c", "import recipes"], False),
    ]
    for argv0, orig_argv, expected in cases:
        monkeypatch.setattr(sys, "argv", [argv0])
        monkeypatch.setattr(sys, "orig_argv", orig_argv)
        assert process.started_as_command() is expected, orig_argv
    # the processes a command starts inherit its mark
    monkeypatch.setenv(process.STARTED, "quiet")
    assert process.started_as_command()
