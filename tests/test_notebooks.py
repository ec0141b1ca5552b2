"""Each recipe is a notebook too: jupytext reads the file (its markdown
cells are the triple-quoted strings after ``# %% [markdown]``) and the
notebook runs top to bottom in a Jupyter kernel, with its flags from
``RECIPES_ARGS``, printing its table and showing its pictures inline. The
kernel starts as a user's would: not as a recipes command."""

import pathlib

import jupytext
import nbclient
import pytest

from recipes import cli, process

ROOT = pathlib.Path(__file__).resolve().parent.parent

# recipe -> (a line of its table's title, pictures it shows)
RECIPES = {
    "binary_classification": ("binary classification, test set", 2),
    "regression": ("linear regression, test set", 2),
    "multiclass_classification": ("softmax regression MLP, test set", 2),
    "multilabel_classification": ("4 labels at once, test set", 2),
    "cnn_image_classification": ("small CNN, test set", 3),
}


def test_every_recipe_reads_as_a_notebook():
    for name in RECIPES:
        notebook = jupytext.read(ROOT / "recipes" / f"{name}.py")
        kinds = [cell.cell_type for cell in notebook.cells]
        header = notebook.cells[0]
        assert header.cell_type == "markdown" and header.source.startswith("# "), name
        assert kinds.count("markdown") >= 5, (name, kinds)
        code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        # the notes' API in sight, for both twins
        assert code.count(".compile(") >= 2 and ".fit(" in code, name
        assert "custom_layers" in code and "keras.layers" in code, name
        # and none of the process machinery
        for word in ("import gc", "gc.", "os.dup", "strategy", "spare_the_collector"):
            assert word not in code, (name, word)


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_runs_as_a_notebook(name, data_dir, tmp_path, monkeypatch):
    title, pictures = RECIPES[name]
    notebook = jupytext.read(ROOT / "recipes" / f"{name}.py")
    monkeypatch.delenv(process.STARTED, raising=False)
    monkeypatch.setenv(cli.NOTEBOOK_ARGS, f"--epochs 1 --quiet --data-dir {data_dir}")
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outputs = notebook.cells[-1].outputs
    text = "".join(output.get("text", "") for output in outputs)
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert title in text, text[-3000:]
    assert len(images) == pictures, [output.get("data", {}).keys() for output in outputs]
    assert not any(output.output_type == "error" for output in outputs)
    assert not list(tmp_path.iterdir())  # shown, not written (no --plot)
