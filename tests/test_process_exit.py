"""The recipes' commands end without Python's last full garbage collection
(``recipes.exit_without_final_collection``; 1.7 s -> 0.2 s of a recipe
process' exit on 2 cores): what is in reference cycles at exit, the globals
of most modules included, is left to the OS instead of being finalized."""

import os
import subprocess
import sys

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
    recipes.exit_without_final_collection()
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
