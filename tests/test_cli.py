"""The command line and the README's promises."""

import io
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import difflab
from difflab import cli, models, reference

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(*argv):
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_models_lists_every_zoo_model_with_its_parameter_count():
    code, text = run("models")
    assert code == 0
    lines = text.strip().splitlines()[1:]
    listed = {line.split()[0]: int(line.split()[1]) for line in lines}
    expected = {info.name: models.get(info.name).n_params for info in models.list_models()}
    assert listed == expected
    assert listed["mlp"] == sum(a * b + b for a, b in [(2, 3), (3, 3), (3, 1)])


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"difflab {difflab.__version__}"


def test_unknown_command_exits_with_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["no-such-command"])
    assert stop.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


SCRIPT = pathlib.Path(sys.executable).with_name("difflab")


@pytest.mark.skipif(not SCRIPT.exists() and shutil.which("difflab") is None,
                    reason="the console script is not installed beside this Python")
def test_console_script_is_installed_and_runs():
    script = str(SCRIPT) if SCRIPT.exists() else shutil.which("difflab")
    done = subprocess.run([script, "models"], capture_output=True, text=True, check=True)
    assert "rosenbrock" in done.stdout


def test_readme_opens_with_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [re.sub(r"\s+#.*$", "", line) for line in first_block.strip().splitlines()]
    assert commands == ["pip install -e . && difflab report", 'pip install -e ".[test]" && pytest']
    ci_commands = [line for line in ci.splitlines() if line.startswith("pip install")]
    assert ci_commands == commands


def test_readme_example_runs_and_its_gradient_is_right():
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    namespace = {}
    exec(compile(example.replace("print(", "(lambda *a: None)("), "README", "exec"), namespace)
    theta, loss = namespace["theta"], namespace["loss"]
    assert np.ndim(loss(theta)) == 0
    g = reference.gradient(loss, theta)
    h = 1e-6
    for i in (0, len(theta) - 1):
        e = np.zeros_like(theta)
        e[i] = h
        central = (loss(theta + e) - loss(theta - e)) / (2 * h)
        assert float(g[i]) == pytest.approx(central, rel=1e-6, abs=1e-9)


def test_readme_batch_mean_example_is_the_same_loss_and_gradient():
    """The README's BatchMean block, run after its first example: f is the same loss as the
    plain one, and the symbolic gradient through the batch trick matches the reference."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    declared = next(block for block in blocks if "BatchMean(" in block)
    namespace = {}
    for block in (blocks[0], declared):
        exec(compile(block.replace("print(", "(lambda *a: None)("), "README", "exec"), namespace)
    theta, loss, f = namespace["theta"], namespace["loss"], namespace["f"]
    assert f(theta) == pytest.approx(loss(theta), rel=1e-14)
    truth = np.array(reference.gradient(loss, theta), dtype=float)
    from difflab import differentiator
    g = differentiator("symbolic").gradient(f, theta)
    assert np.max(np.abs(g - truth)) <= 1e-13 * np.max(np.abs(truth))


def test_compare_prints_every_method_against_the_reference(capsys):
    import io
    from difflab import differentiators
    from difflab.cli import main
    out = io.StringIO()
    assert main(["compare"], out=out) == 0
    text = out.getvalue()
    assert text.startswith("gradient of mlp")
    rows = {line.split()[0]: line.split() for line in text.splitlines()[3:]}
    assert set(rows) == set(differentiators("gradient")) - {"reference"}
    assert all(row[-1] == "yes" for row in rows.values())
    assert float(rows["complex-step"][1]) < 1e-14 < float(rows["fd-central"][1]) < 1e-9
    assert main(["compare", "no-such-model"], out=io.StringIO()) == 2
    assert "unknown model" in capsys.readouterr().err
