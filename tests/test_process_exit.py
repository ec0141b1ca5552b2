"""How the recipes handle Python's garbage collector. Their commands end
without the last full collection (``recipes.spare_the_collector``; 1.7 s
-> 0.2 s of a recipe process' exit on 2 cores): what is in reference cycles
at exit, the globals of most modules included, is left to the OS instead of
being finalized. TensorFlow's import runs with the collector paused, and
leaves it as it found it."""

import gc
import os
import subprocess
import sys

import recipes

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
    recipes.spare_the_collector()
print("exiting", flush=True)
"""


def _exit_says(how):
    # Without TensorFlow: importing recipes imports it only to keep its log
    # lines quiet, which a set TF_CPP_MIN_LOG_LEVEL (and no mark) turns off.
    env = {k: v for k, v in os.environ.items() if k != "RECIPES_QUIET_TENSORFLOW"}
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
        with recipes._collector_paused():
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
        with recipes._collector_paused():
            made = [[index] for index in range(1000)]
        assert not gc.isenabled()
        # (frozen objects freed meanwhile leave the count, none were unfrozen)
        assert gc.get_freeze_count() > 0.99 * frozen
        assert any(thing is made[0] for thing in gc.get_objects(generation=0))
    finally:
        gc.enable()
