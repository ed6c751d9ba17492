"""gradcheck's mutation run (issue 14): correct hand-written backprops pass, broken ones fail.

Five small models, each written once with ``difflab.numpy`` (f) and once as a NumPy backward
pass (grad): least squares with a ridge term, L1-regularized regression, a tanh MLP, a relu
layer, an attention-like softmax layer. Each is checked in five situations — parameters at
scale 1e-7, 1 and 1e7, within 1e-6 of an L1/relu kink, 1e-4 from a minimum — and each
correct gradient is broken on purpose: one entry scaled by (1 + δ) for δ ∈ {0.2, 0.01,
1e-4}, one parameter's gradient negated, one term of the backward pass dropped.

A mutation is *above the stated tolerance* when some judged entry moves by more than twice
the difference gradcheck allows there (``result.entries``; the allowance depends only on f
and θ, and the correct gradient lies within it, so the mutant then lies outside): each of
those must fail, and the correct gradient must pass every time. Mutations below the
tolerance may pass. So that "above the tolerance" cannot be satisfied vacuously, every
mutation that moves an entry by more than 1e-8 of its leaf's largest gradient must be above
it: the tolerance is never looser than that, at any scale or situation.
"""

from dataclasses import dataclass

import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import differentiator, gradcheck, ravel

DELTAS = (0.2, 0.01, 1e-4)
VISIBLE = 1e-8               # a change this large relative to its leaf must be above tolerance


@dataclass
class Model:
    name: str
    params: callable          # params(rng, scale) -> dict
    f: callable
    grad: callable
    drop: callable            # grad with one term of the backward pass left out
    near_kink: callable = None
    near_minimum: callable = None


def _data(seed, rows, columns, outputs=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, columns))
    Y = rng.normal(size=rows if outputs is None else (rows, outputs))
    return X, Y


# Least squares with a ridge term: f = Σ(Xw − y)² + ½·λ‖w‖².

LS_X, LS_Y = _data(1, 12, 4)
RIDGE = 0.3


def ls_f(p):
    return dnp.sum(dnp.square(dnp.matmul(LS_X, p["w"]) - LS_Y)) + 0.5 * RIDGE * dnp.sum(
        dnp.square(p["w"]))


def ls_grad(p, ridge=True):
    return {"w": 2 * LS_X.T @ (LS_X @ p["w"] - LS_Y) + (RIDGE * p["w"] if ridge else 0.0)}


def ls_minimum():
    A = 2 * LS_X.T @ LS_X + RIDGE * np.eye(4)
    return {"w": np.linalg.solve(A, 2 * LS_X.T @ LS_Y)}


# L1-regularized regression: f = Σ(Xw − y)² + λ·Σ|w|.

L1_X, L1_Y = _data(2, 10, 3)
LASSO = 0.1


def l1_f(p):
    return dnp.sum(dnp.square(dnp.matmul(L1_X, p["w"]) - L1_Y)) + LASSO * dnp.sum(dnp.abs(p["w"]))


def l1_grad(p, penalty=True):
    return {"w": 2 * L1_X.T @ (L1_X @ p["w"] - L1_Y) + (LASSO * np.sign(p["w"]) if penalty
                                                         else 0.0)}


def l1_minimum():
    """The lasso's minimizer by proximal gradient (ISTA), run to convergence."""
    step = 1 / (2 * np.linalg.norm(L1_X, 2) ** 2)
    w = np.zeros(3)
    for _ in range(20000):
        z = w - step * 2 * L1_X.T @ (L1_X @ w - L1_Y)
        w = np.sign(z) * np.maximum(np.abs(z) - step * LASSO, 0)
    return {"w": w}


# A tanh MLP: f = ½Σ(tanh(XW1 + b1)W2 + b2 − Y)².

MLP_X, MLP_Y = _data(3, 8, 3, 2)


def mlp_f(p):
    H = dnp.tanh(dnp.matmul(MLP_X, p["W1"]) + p["b1"])
    return 0.5 * dnp.sum(dnp.square(dnp.matmul(H, p["W2"]) + p["b2"] - MLP_Y))


def mlp_grad(p, activation=True):
    H = np.tanh(MLP_X @ p["W1"] + p["b1"])
    dP = H @ p["W2"] + p["b2"] - MLP_Y
    dZ = (dP @ p["W2"].T) * ((1 - H ** 2) if activation else 1.0)
    return {"W1": MLP_X.T @ dZ, "W2": H.T @ dP, "b1": dZ.sum(axis=0), "b2": dP.sum(axis=0)}


# A relu layer: f = ½Σ(relu(XW1 + b1)W2 − Y)².

RELU_X, RELU_Y = _data(4, 8, 3, 1)


def relu_f(p):
    H = dnp.relu(dnp.matmul(RELU_X, p["W1"]) + p["b1"])
    return 0.5 * dnp.sum(dnp.square(dnp.matmul(H, p["W2"]) - RELU_Y))


def relu_grad(p, mask=True):
    Z = RELU_X @ p["W1"] + p["b1"]
    H = np.maximum(Z, 0)
    dP = H @ p["W2"] - RELU_Y
    dZ = (dP @ p["W2"].T) * ((Z > 0) if mask else 1.0)
    return {"W1": RELU_X.T @ dZ, "W2": H.T @ dP, "b1": dZ.sum(axis=0)}


def relu_near_kink(rng):
    """Each unit's pre-activation on the first example 1e-7 to 1e-6 from relu's kink."""
    p = {"W1": rng.normal(size=(3, 4)), "W2": rng.normal(size=(4, 1)), "b1": np.zeros(4)}
    offsets = rng.uniform(1e-7, 1e-6, size=4) * rng.choice([-1, 1], size=4)
    p["b1"] = offsets - RELU_X[0] @ p["W1"]
    return p


# An attention-like layer: f = ½Σ(softmax(XWq(XWk)ᵀ/√d)XWv − Y)².

ATT_X, ATT_Y = _data(5, 4, 3, 3)
ATT_SCALE = 1 / np.sqrt(3)


def att_f(p):
    Q, K = dnp.matmul(ATT_X, p["Wq"]), dnp.matmul(ATT_X, p["Wk"])
    P = dnp.softmax(ATT_SCALE * dnp.matmul(Q, dnp.transpose(K)), axis=1)
    return 0.5 * dnp.sum(dnp.square(dnp.matmul(P, dnp.matmul(ATT_X, p["Wv"])) - ATT_Y))


def att_grad(p, softmax_jacobian=True):
    Q, K, V = ATT_X @ p["Wq"], ATT_X @ p["Wk"], ATT_X @ p["Wv"]
    S = ATT_SCALE * Q @ K.T
    P = np.exp(S - S.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    dO = P @ V - ATT_Y
    dP = dO @ V.T
    # softmax's Jacobian: dS = P ⊙ (dP − Σⱼ Pⱼ dPⱼ); the dropped term is the row sum
    dS = P * (dP - (np.sum(P * dP, axis=1, keepdims=True) if softmax_jacobian else 0.0))
    dQ, dK = ATT_SCALE * dS @ K, ATT_SCALE * dS.T @ Q
    return {"Wk": ATT_X.T @ dK, "Wq": ATT_X.T @ dQ, "Wv": ATT_X.T @ (P.T @ dO)}


def _gaussian(shapes):
    def params(rng, scale):
        return {name: scale * rng.normal(size=shape) for name, shape in shapes.items()}
    return params


def _near_minimum(minimum):
    def params(rng):
        return {k: v + 1e-4 * rng.normal(size=v.shape) / np.sqrt(v.size)
                for k, v in minimum().items()}
    return params


def _l1_near_kink(rng):
    return {"w": rng.uniform(1e-7, 1e-6, size=3) * rng.choice([-1, 1], size=3)}


MODELS = {
    "least squares": Model("least squares", _gaussian({"w": (4,)}), ls_f, ls_grad,
                           lambda p: ls_grad(p, ridge=False),
                           near_minimum=_near_minimum(ls_minimum)),
    "L1 regression": Model("L1 regression", _gaussian({"w": (3,)}), l1_f, l1_grad,
                           lambda p: l1_grad(p, penalty=False), near_kink=_l1_near_kink,
                           near_minimum=_near_minimum(l1_minimum)),
    "tanh MLP": Model("tanh MLP", _gaussian({"W1": (3, 4), "W2": (4, 2), "b1": (4,),
                                             "b2": (2,)}),
                      mlp_f, mlp_grad, lambda p: mlp_grad(p, activation=False)),
    "relu layer": Model("relu layer", _gaussian({"W1": (3, 4), "W2": (4, 1), "b1": (4,)}),
                        relu_f, relu_grad, lambda p: relu_grad(p, mask=False),
                        near_kink=relu_near_kink),
    "attention": Model("attention", _gaussian({"Wk": (3, 3), "Wq": (3, 3), "Wv": (3, 3)}),
                       att_f, att_grad, lambda p: att_grad(p, softmax_jacobian=False)),
}


def mutations(model, p, g):
    """(label, wrong gradient) pairs: scaled entries, a negated leaf, a dropped term."""
    for leaf in sorted(g):
        worst = int(np.argmax(np.abs(g[leaf])))
        for delta in DELTAS:
            wrong = {k: np.array(v, dtype=float) for k, v in g.items()}
            wrong[leaf].reshape(-1)[worst] *= 1 + delta
            yield f"{leaf}[{worst}]×(1+{delta:g})", wrong
        yield f"-{leaf}", {**g, leaf: -g[leaf]}
    yield "dropped term", model.drop(p)


def situations(model, seed):
    rng = np.random.default_rng(seed)
    out = [(f"scale {scale:g}", model.params(rng, scale)) for scale in (1e-7, 1.0, 1e7)]
    if model.near_kink:
        out.append(("near a kink", model.near_kink(rng)))
    if model.near_minimum:
        out.append(("near a minimum", model.near_minimum(rng)))
    return out


@dataclass
class Tally:
    total: int = 0
    above: int = 0
    caught: int = 0
    caught_above: int = 0
    false_alarms: int = 0
    visible_below: int = 0


def _flat(tree):
    return ravel({k: np.asarray(v, dtype=float) for k, v in tree.items()})[0]


def run(model, seed, tally):
    """Check the correct gradient and every mutation in every situation, counting."""
    problems = []
    for situation, p in situations(model, seed):
        g = model.grad(p)
        result = gradcheck(model.f, p, model.grad)
        if not result.passed:
            tally[situation].false_alarms += 1
            problems.append(f"{model.name}, {situation}: the correct gradient did not pass\n"
                            f"{result}")
            continue
        entries = result.entries["gradient"]
        correct = _flat(g)
        leaf_size = _flat({k: np.full(np.shape(v), np.max(np.abs(v), initial=0.0))
                           for k, v in g.items()})
        for label, wrong in mutations(model, p, g):
            moved = np.abs(_flat(wrong) - correct)
            if not np.any(moved > 0):
                continue                                   # the mutation changed nothing
            judged = entries.judged[0]
            above = bool(np.any(judged & (moved > 2 * entries.allowed[0])))
            visible = bool(np.any(moved > VISIBLE * leaf_size))
            verdict = gradcheck(model.f, p, lambda _, wrong=wrong: wrong)
            counts = tally[situation]
            counts.total += 1
            counts.above += above
            counts.caught += not verdict.passed
            counts.caught_above += above and not verdict.passed
            if above and verdict.passed:
                problems.append(f"{model.name}, {situation}, {label}: above the tolerance "
                                f"but passed\n{verdict}")
            if visible and not above:
                counts.visible_below += 1
                problems.append(f"{model.name}, {situation}, {label}: moved an entry by "
                                f"{np.max(moved / np.maximum(leaf_size, 1e-300)):.1e} of its "
                                f"leaf, yet below the tolerance\n{result}")
    return problems


def _tally():
    return {name: Tally() for name in ("scale 1e-07", "scale 1", "scale 1e+07", "near a kink",
                                       "near a minimum")}


def table(tally):
    """The mutation run's summary, one line per situation."""
    lines = [f"{'situation':16} bugs  above tolerance  caught (above)  false alarms"]
    for name, t in tally.items():
        lines.append(f"{name:16} {t.total:4}  {t.above:15}  {t.caught:6} ({t.caught_above:3})"
                     f"  {t.false_alarms:12}")
    return "\n".join(lines)


# One model per test: 4 to 5 situations × ~15 mutations, each a full gradcheck (the relu
# layer's kink probes make it the slowest, ~4 s); five more seeds run with -m slow.
@pytest.mark.parametrize("name", sorted(MODELS))
def test_mutation_run(name):
    tally = _tally()
    problems = run(MODELS[name], 0, tally)
    assert not problems, "\n".join(problems) + "\n" + table(tally)
    assert sum(t.above for t in tally.values()) > 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 6))
def test_mutation_run_more_seeds(seed):
    tally = _tally()
    problems = []
    for model in MODELS.values():
        problems += run(model, seed, tally)
    assert not problems, "\n".join(problems) + "\n" + table(tally)


def test_each_model_backprop_matches_ad():
    """The hand-written backprops are right (AD, an independent implementation, agrees)."""
    rng = np.random.default_rng(9)
    for model in MODELS.values():
        p = model.params(rng, 1.0)
        theta, unravel = ravel(p)
        ad = differentiator("ad").gradient(lambda t: model.f(unravel(t)), theta)
        hand = ravel(model.grad(p))[0]
        np.testing.assert_allclose(hand, ad, rtol=1e-12, atol=1e-12 * np.max(np.abs(ad)))


if __name__ == "__main__":
    totals = _tally()
    for model in MODELS.values():
        for problem in run(model, 0, totals):
            print(problem)
    print(table(totals))
