"""benchmarks/peers.py without its peers: missing ones become notes, tables format, and the
function every peer is given is the zoo objective. No timing is run or asserted here."""

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from difflab import ad

PEERS_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"


@pytest.fixture(scope="module")
def peers():
    """The script as a module, imported without pinning threads (that runs only as __main__);
    the environment variables and sys.path its imports touch are put back afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            patch.setenv(variable, "1")
        patch.setattr(sys, "path", list(sys.path))
        spec = importlib.util.spec_from_file_location("benchmark_peers", PEERS_SCRIPT)
        module = importlib.util.module_from_spec(spec)
        patch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
    return module


def test_importing_the_script_pins_nothing(peers):
    assert peers.PINNED_CPU is None


def test_a_peer_that_does_not_import_is_a_note_not_an_error(peers, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)       # import torch now raises ImportError
    found, notes = peers.load_peers([peers.Peer("torch", "torch"),
                                     peers.Peer("nothing", "difflab_no_such_module")])
    assert found == {}
    assert [note.split(":")[0] for note in notes] == ["torch", "nothing"]
    assert all("skipped" in note and "pip install" in note for note in notes)


def test_a_peer_too_old_is_a_note_and_a_new_enough_one_loads(peers, monkeypatch):
    for name, version in (("old_peer", "1.14.1"), ("new_peer", "1.15.0rc1")):
        module = types.ModuleType(name)
        module.__version__ = version
        monkeypatch.setitem(sys.modules, name, module)
    found, notes = peers.load_peers([peers.Peer("old", "old_peer", (1, 15), "it lacks X"),
                                     peers.Peer("new", "new_peer", (1, 15), "it lacks X")])
    assert list(found) == ["new"]
    assert notes == ["old 1.14.1: skipped, it lacks X (needs ≥ 1.15)"]


@pytest.mark.parametrize("text, expected", [("1.15.2", (1, 15, 2)), ("2.13.0+cpu", (2, 13, 0)),
                                            ("1.15.0rc1", (1, 15, 0)), ("", ())])
def test_version_tuple(peers, text, expected):
    assert peers.version_tuple(text) == expected


def test_without_peers_only_difflab_rows_are_built(peers):
    problem = peers.problem_of("mini")
    widths = peers.NETWORKS["mini"][0]
    assert list(peers.gradient_methods(problem, widths, {})) == [peers.DIFFLAB,
                                                                 "hand-written NumPy"]
    assert list(peers.hessian_methods(problem, widths, {})) == [peers.DIFFLAB]
    for runs in (peers.numeric_gradients(problem, widths, {}),
                 peers.numeric_hessians(problem, widths, {})):
        assert runs and all(label.startswith("difflab") for label in runs)
    notes = peers.skipped({"torch": None}, "torch", "jax")
    assert len(notes) == 1 and notes[0].startswith("jax unavailable")


def test_table_as_text_is_aligned_and_as_markdown_is_a_table(peers):
    table = peers.Table("T", ["network", "method", "median µs"],
                        [["tiny", "difflab AD", "455"], ["small", "a|b", "1.04e+04"]],
                        notes=["a note"])
    lines = peers.text(table).splitlines()
    assert lines[0] == "T" and lines[-1] == "  a note"
    body = lines[2:-2]
    assert len({len(line) for line in body if not line.startswith("-")}) == 1
    assert body[2].endswith("     455")                     # numbers to the right
    md = peers.markdown(table).splitlines()
    assert md[0] == "## T"
    assert md[2:5] == ["| network | method | median µs |", "| --- | --- | ---: |",
                       "| tiny | difflab AD | 455 |"]
    assert "a\\|b" in md[5] and "- a note" in md


def test_every_form_of_the_loss_is_the_zoo_objective(peers):
    problem = peers.problem_of("mini")
    widths = peers.NETWORKS["mini"][0]
    theta = np.array(problem.theta0)
    points = theta[:, None] + np.random.default_rng(0).normal(scale=0.1, size=(theta.size, 3))
    stacked = peers.stacked_loss(problem, widths)(points)
    expected = [problem.objective(points[:, k]) for k in range(3)]
    np.testing.assert_allclose(stacked, expected, rtol=1e-14)
    flat = peers.flat_loss(np, widths, problem.X, problem.Y)
    assert flat(theta) == pytest.approx(problem.objective(theta), rel=1e-14)
    gradient = peers.gradient_methods(problem, widths, {})["hand-written NumPy"]
    np.testing.assert_allclose(gradient[1](gradient[0]()), ad.grad(problem.objective)(theta),
                               rtol=1e-12)
