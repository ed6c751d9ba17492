"""The gradient-flow section on the tiny profile: its cells, its page, and its numbers checked
against a hand-written backprop and against the clipping rules' bounds."""

import json
import math

import numpy as np
import pytest

from difflab.report import Profile
from difflab.report.sections import flow

ROUNDING = 1e-12


@pytest.fixture(scope="module")
def results():
    """{key: result} of every tiny cell, through JSON as the runner stores them."""
    measured = {}
    for cell in flow.cells(Profile("tiny", seed=0)):
        text = json.dumps(cell.run(), allow_nan=False)      # strict JSON: no NaN, no inf
        measured[cell.key] = json.loads(text)
    return measured


def sweep_results(results):
    """The activation × connections sweep (batch norm and dropout have their own test)."""
    return {key: r for key, r in results.items() if "norms" in r and "layer" not in r}


def clipping_results(results):
    return {r["rule"]: r for r in results.values() if "rule" in r}


def test_tiny_cells_are_unique_and_cover_every_family(results):
    keys = [cell.key for cell in flow.cells(Profile("tiny"))]
    assert len(keys) == len(set(keys))
    families = {(r["activation"], r["residual"]) for r in sweep_results(results).values()}
    assert families == {(a, res) for a in flow.ACTIVATIONS for res in (False, True)}
    assert set(clipping_results(results)) == set(flow.CLIP_RULES)


# Independent truth: backprop written out for the zoo's MLP, without the AD engine.

SLOPES = {"sigmoid": lambda a, z: a * (1 - a), "tanh": lambda a, z: 1 - a ** 2,
          "relu": lambda a, z: (z > 0).astype(float)}
FORWARD = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
           "relu": lambda z: np.maximum(z, 0)}


def backprop_weight_norms(problem, activation, residual):
    """‖∂f/∂W_l‖_F for f = (1/(B·m)) Σ (ŷ − y)², h ← act(hW + b) (+ h on layers after the
    first when residual), by the chain rule layer by layer."""
    *hidden, (W_out, b_out) = problem.params
    act, slope = FORWARD[activation], SLOPES[activation]
    inputs, pre, post = [], [], []
    h = np.asarray(problem.X)
    for depth, (W, b) in enumerate(hidden):
        inputs.append(h)
        z = h @ W + b
        a = act(z)
        pre.append(z)
        post.append(a)
        h = h + a if residual and depth > 0 else a
    error = h @ W_out + b_out - problem.Y
    d_out = 2 * error / error.size
    grads = [h.T @ d_out]
    d_h = d_out @ W_out.T
    for depth in reversed(range(len(hidden))):
        d_z = d_h * slope(post[depth], pre[depth])
        grads.append(inputs[depth].T @ d_z)
        skip = d_h if residual and depth > 0 else 0
        d_h = d_z @ hidden[depth][0].T + skip
    return [float(np.linalg.norm(g)) for g in reversed(grads)]


def test_layer_norms_match_hand_written_backprop(results):
    for key, result in sweep_results(results).items():
        assert len(result["norms"]) == len(result["seeds"])
        for seed, norms in zip(result["seeds"], result["norms"]):
            problem = flow.network(result["activation"], result["residual"], result["depth"],
                                   result["width"], result["batch"], seed)
            truth = backprop_weight_norms(problem, result["activation"], result["residual"])
            assert len(norms) == result["depth"] + 1, key
            np.testing.assert_allclose(norms, truth, rtol=1e-9, err_msg=key)


def test_clipping_bounds_every_update(results):
    runs = clipping_results(results)
    for rule, run in runs.items():
        lr, taken = run["lr"], len(run["grad_norm"])
        assert len(run["update_norm"]) == len(run["update_max"]) == taken
        assert len(run["loss"]) == taken + (0 if run["stopped"] else 1)
        grad, step = np.array(run["grad_norm"]), np.array(run["update_norm"])
        if rule == "none":          # plain SGD: the step is lr·g exactly
            np.testing.assert_allclose(step, lr * grad, rtol=1e-12)
        if rule == "norm":          # ‖Δθ‖ = lr·min(‖g‖, c) ≤ lr·c
            c = run["clip_norm"]
            assert np.all(step <= lr * c * (1 + ROUNDING))
            np.testing.assert_allclose(step, lr * np.minimum(grad, c), rtol=1e-12)
        if rule == "value":         # no entry moves more than lr·v
            largest = np.array(run["update_max"])
            assert np.all(largest <= lr * run["clip_value"] * (1 + ROUNDING))
    # the net the tiny profile trains does explode: some gradient is clipped
    assert max(runs["norm"]["grad_norm"]) > runs["norm"]["clip_norm"]


# The page.

def test_render_draws_every_figure_and_reads_the_data(results, tmp_path):
    rendered = flow.render(results, tmp_path)
    assert [file for file, _ in rendered.figures] == ["flow-layers.png", "flow-depth.png",
                                                      "flow-clipping.png"]
    for file, caption in rendered.figures:
        assert (tmp_path / file).stat().st_size > 0 and caption
    assert len(rendered.tables) == 3 and all(table.rows for table in rendered.tables)
    assert rendered.reading and all(s.endswith(".") for s in rendered.reading)

    # the sigmoid sentence names the deepest depth and the verdict its median ratio implies
    deepest = max(r["depth"] for r in sweep_results(results).values())
    plain = results[f"sigmoid-plain-d{deepest}"]
    ratio = float(np.median([row[0] / row[deepest - 1] for row in plain["norms"]]))
    verdict = "vanishing" if ratio < 1 / flow.SPREAD else "within"
    sentence = next(s for s in rendered.reading if s.startswith("With sigmoid"))
    assert f"at depth {deepest} " in sentence and verdict in sentence.split(";")[0]
    assert f"10^{math.log10(ratio):.1f}" in sentence or f"{ratio:.2g}" in sentence


def test_render_draws_what_a_subset_has(results, tmp_path):
    assert flow.render({}, tmp_path).figures == []
    some = {key: results[key] for key in ("relu-residual-d2", "clip-value")}
    rendered = flow.render(some, tmp_path)
    assert len(rendered.figures) == 3
    for file, _ in rendered.figures:
        assert (tmp_path / file).exists()
    assert any("relu" in s for s in rendered.reading)
    assert any("entries clipped to ±" in s for s in rendered.reading)


def test_batch_norm_and_dropout_nets_are_measured_beside_plain_tanh(results, tmp_path):
    """Issue 18, item 8: the layer norms of the batch-norm and dropout nets are the
    reference gradient's (recomputed here for one net), and the page sets them beside the
    plain tanh net in a table and a sentence."""
    from difflab import differentiator
    layered = {key: r for key, r in results.items() if "layer" in r}
    assert {r["layer"] for r in layered.values()} == set(flow.LAYERS)
    r = min(layered.values(), key=lambda r: (r["layer"], r["depth"]))
    problem = flow.network("tanh", False, r["depth"], r["width"], r["batch"], r["seeds"][0],
                           r["layer"])
    truth = problem.unravel(np.array(differentiator("reference").gradient(
        problem.objective, problem.theta0), dtype=float))
    expected = [float(np.linalg.norm(W)) for W, *_ in truth]
    assert np.allclose(r["norms"][0], expected, rtol=1e-12)
    rendered = flow.render(results, tmp_path)
    table = next(t for t in rendered.tables if t.caption.startswith("Batch norm and dropout"))
    assert [row[0] for row in table.rows] == ["tanh, plain", "tanh, batch norm",
                                              "tanh, dropout"]
    assert any("the tanh net's first ÷ last hidden-layer gradient norm" in s
               for s in rendered.reading)
