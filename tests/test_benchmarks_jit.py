"""benchmarks/jit_speed.py on the tiny network, one short round: the table's rows, the ratios,
agreement, the retrace count and the targets. Nothing is timed against a threshold here."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "jit_speed.py"


@pytest.fixture(scope="module")
def bench():
    """The script as a module, imported without pinning threads (that runs only as __main__);
    the environment variables and sys.path its imports touch are put back afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            patch.setenv(variable, "1")
        patch.setattr(sys, "path", list(sys.path))
        spec = importlib.util.spec_from_file_location("benchmark_jit_speed", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        patch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(bench):
    """The tiny gradient and Hessian without JAX: one round of one call each."""
    return [bench.measure("tiny", quantity, rounds=1, seconds=0.0)
            for quantity in ("gradient", "Hessian")]


def positive_finite(x):
    return isinstance(x, float) and math.isfinite(x) and x > 0


def test_importing_the_script_pins_nothing(bench):
    assert bench.PINNED_CPU is None


def test_the_table_has_a_row_per_case_and_no_jax_cells_without_jax(bench, tiny):
    table = bench.table_of(tiny, {("tiny", "gradient"): (1, 0.0), ("tiny", "Hessian"): (1, 0.0)},
                           "JAX columns and targets not measured: jax: skipped")
    assert [row[:2] for row in table.rows] == [["tiny (n=121)", "gradient"],
                                               ["tiny (n=121)", "Hessian"]]
    assert all(len(row) == len(bench.HEADERS) for row in table.rows)
    jax_columns = [bench.HEADERS.index(h) for h in ("JAX jit µs", "jit ÷ JAX", "Δ JAX")]
    assert all(row[i] == "—" for row in table.rows for i in jax_columns)
    assert table.rows[1][bench.HEADERS.index("jit ÷ hand")] == "—"      # no hand Hessian
    assert not any("DISAGREEMENT" in note for note in table.notes)
    assert "jit_speed" not in bench.text(table) and "| tiny (n=121) |" in bench.markdown(table)


def test_ratios_are_positive_and_jit_agrees_with_eager_ad(bench, tiny):
    gradient, hessian = tiny
    assert set(gradient.ratios) == {"jit ÷ hand", "eager ÷ jit"}
    assert set(hessian.ratios) == {"eager ÷ jit"}
    for case in tiny:
        assert all(positive_finite(r) for r in case.ratios.values())
        assert all(positive_finite(s) for s in case.median.values())
        assert case.gaps[bench.EAGER] <= 1e-12
        assert case.calls > 0 and positive_finite(case.setup)


def test_a_second_batch_size_traces_once_more(bench):
    change = bench.batch_change("tiny", 32)
    assert change.batches == [16, 32, 16]
    assert change.traces == [1, 2, 2]
    assert change.retraces == [0, 1, 1]
    assert change.gap <= 1e-12


def test_targets_without_jax_are_not_measured(bench, tiny):
    change = bench.BatchChange([16, 32, 16], [1, 2, 2], [0, 1, 1], 0.0)
    found = bench.targets(tiny, [0.002, 0.003, 0.004], change, jax_missing="JAX not installed")
    verdicts = {t.text: t.met for t in found}
    assert len(found) == 9
    assert [met for text, met in verdicts.items() if "jax.jit" in text] == [None] * 5
    assert verdicts["a changed batch size retraces once, and going back does not retrace"]
    assert next(t for t in found if "setup" in t.text).met is True
    assert any(t.met is None for t in found if "on medium" in t.text)    # not measured here
    assert str(found[0]).startswith("not measured") and "JAX not installed" in str(found[0])


def test_the_markdown_holds_the_table_and_the_targets(bench, tiny, tmp_path):
    table = bench.table_of(tiny[:1], {("tiny", "gradient"): (1, 0.0)})
    found = bench.targets(tiny[:1], [0.002], bench.BatchChange([16], [1], [0], 0.0))
    bench.write_markdown(tmp_path / "jit_speed.md", table, found, ["a fact"])
    written = (tmp_path / "jit_speed.md").read_text(encoding="utf-8")
    assert "- a fact" in written and "## Targets (issue 19)" in written
    assert written.count("| tiny (n=121) | gradient |") == 1


@pytest.fixture
def jax():
    """JAX in float64, as the script configures it; x64 switched back afterwards."""
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    yield jax
    jax.config.update("jax_enable_x64", before)


def test_jax_columns_with_jax(bench, jax):
    loaded, note = bench.load_jax()
    assert loaded is jax and note is None
    case = bench.measure("tiny", "gradient", rounds=1, seconds=0.0, jax=loaded)
    assert set(case.ratios) == set(bench.RATIOS)
    assert all(positive_finite(r) for r in case.ratios.values())
    assert case.gaps[bench.JAX] <= 1e-10
    row = bench.row(case)
    assert row[bench.HEADERS.index("JAX jit µs")] != "—"
