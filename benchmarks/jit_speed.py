"""``ad.jit`` against eager AD, the hand-written backprop and JAX's jit, in one run (issue 19).

    python benchmarks/jit_speed.py            # about 2 minutes
    python benchmarks/jit_speed.py --quick    # fewer, shorter rounds (under a minute)

On the zoo's tanh MSE MLPs of ``peers.py`` — tiny 4-8-8-1/batch 16, small 16-32-32-1/batch 64,
medium 784-128-64-10/batch 64 — the gradient (all three) and the full Hessian (tiny, small):
``ad.jit(ad.grad(f))`` and ``ad.jit(ad.hessian(f))`` beside eager ``ad.grad``/``ad.hessian``,
the hand-written NumPy backprop (gradients) and ``jax.jit(jax.grad)``/``jax.jit(jax.hessian)``,
each built as ``peers.py`` builds it. One table (printed, and saved as Markdown under
``reports/benchmarks/jit_speed.md``), then the issue's targets: the ratios, the setup of the
tiny gradient (the first call of a fresh jit object: trace, code generation, compile) and the
retraces a changed batch size costs.

Measured as in ``peers.py``: one CPU and one thread for every library (``peers.pin_threads``),
process CPU time, interleaved rounds (``ad_speed.interleaved``), each ratio the median over
rounds of that round's ratio. JAX missing: its columns and targets are "not measured".
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RESTARTED = "DIFFLAB_JIT_SPEED_PINNED_CPU"        # set once pinned: the CPU, or "" if none


def pinned():
    """``peers.pin_threads`` in effect before NumPy loads its BLAS. Importing peers imports
    NumPy, so the script pins itself and starts again: exec keeps the environment (the thread
    variables, XLA's flags) and the CPU affinity, and NumPy then starts on one thread."""
    if RESTARTED in os.environ:
        return int(os.environ[RESTARTED]) if os.environ[RESTARTED] else None
    from peers import pin_threads
    cpu = pin_threads()
    os.environ[RESTARTED] = "" if cpu is None else str(cpu)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


PINNED_CPU = pinned() if __name__ == "__main__" else None

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

import peers  # noqa: E402
from ad_speed import interleaved, median_ratio  # noqa: E402
from peers import (AGREEMENT, DIFFLAB, NETWORKS, OUT, PEERS, Table, Target,  # noqa: E402
                   difference, first_call, general, gradient_methods, hessian_methods,
                   load_peers, markdown, problem_of, scientific, text)

import difflab.numpy as dnp  # noqa: E402
from difflab import ad, models  # noqa: E402

JIT, EAGER, HAND, JAX = "ad.jit", "eager AD", "hand", "JAX jit"
# peers.py's labels for the same methods
PEER_LABELS = {"gradient": {DIFFLAB: EAGER, "hand-written NumPy": HAND, "JAX jit": JAX},
               "Hessian": {DIFFLAB: EAGER, "jax.jit(jax.hessian)": JAX}}
RATIOS = {"jit ÷ JAX": (JIT, JAX), "jit ÷ hand": (JIT, HAND), "eager ÷ jit": (EAGER, JIT)}
CASES = (("tiny", "gradient"), ("small", "gradient"), ("medium", "gradient"),
         ("tiny", "Hessian"), ("small", "Hessian"))
OTHER_BATCH = 32
HEADERS = ["network", "quantity", "jit µs", "eager µs", "hand µs", "JAX jit µs",
           *RATIOS, "NumPy calls", "jit setup ms", "Δ eager", "Δ JAX"]


@dataclass
class Case:
    """One network's gradient or Hessian, measured: medians, ratios and agreement."""
    network: str
    quantity: str
    n: int
    median: dict          # label → CPU seconds per call, median over rounds
    ratios: dict          # RATIOS' names → median over rounds of the round's ratio
    gaps: dict            # label → ‖jit − label‖ / ‖label‖
    calls: int            # NumPy calls per replay of the jit program
    setup: float          # CPU seconds of the jit object's first call


def methods_of(problem, network, quantity, jax=None):
    """({label: (call, flatten)}, the jit object, θ): ad.jit, then eager AD, the hand-written
    backprop (gradients) and JAX's jit (when given) exactly as peers.py builds them — JAX's
    gradient of per-layer parameters, its Hessian of the flat θ."""
    widths = NETWORKS[network][0]
    found = {"jax": jax} if jax is not None else {}
    if quantity == "gradient":
        theirs = gradient_methods(problem, widths, found)
        jitted = ad.jit(ad.grad(problem.objective))
    else:
        theirs = hessian_methods(problem, widths, found)
        jitted = ad.jit(ad.hessian(problem.objective))
    theta = np.array(problem.theta0)
    methods = {JIT: (lambda: jitted(theta), np.asarray)}
    methods.update({ours: theirs[label] for label, ours in PEER_LABELS[quantity].items()
                    if label in theirs})
    return methods, jitted, theta


def measure(network, quantity, rounds, seconds, jax=None):
    """The Case of ``network``'s ``quantity``: each method's first call (the jit's is its
    setup) and agreement with the jit's value, then interleaved timing."""
    problem = problem_of(network)
    methods, jitted, theta = methods_of(problem, network, quantity, jax)
    values, first = {}, {}
    for label, (call, flatten) in methods.items():
        out, first[label] = first_call(call)
        values[label] = flatten(out)
    gaps = {label: difference(values[JIT], value) for label, value in values.items()
            if label != JIT}
    times = interleaved({label: call for label, (call, _) in methods.items()}, rounds, seconds)
    ratios = {name: median_ratio(times, a, b) for name, (a, b) in RATIOS.items()
              if a in times and b in times}
    return Case(network, quantity, problem.n_params,
                {label: statistics.median(t) for label, t in times.items()}, ratios, gaps,
                jitted.compiled(theta).calls, first[JIT])


def setup_seconds(network, count):
    """CPU seconds of the first call of ``count`` fresh ``ad.jit(ad.grad(f))`` objects:
    staging, code generation, compiling the program and running it once."""
    problem = problem_of(network)
    theta = np.array(problem.theta0)
    return [first_call(lambda: ad.jit(ad.grad(problem.objective))(theta))[1]
            for _ in range(count)]


@dataclass
class BatchChange:
    """One jit-compiled gradient called at batch sizes ``batches`` in turn."""
    batches: list
    traces: list          # the object's traces after each call
    retraces: list
    gap: float            # largest ‖jit − eager‖ / ‖eager‖ over the calls


def batch_change(network, other_batch=OTHER_BATCH):
    """The same ``ad.jit(ad.grad(L))`` at ``network``'s batch, at ``other_batch``, then at the
    first again. The zoo objective closes over its batch, so L takes the data as arguments:
    L(θ, X, Y) = mean(mse(mlp(unravel(θ), X), Y)), the zoo's own mlp and mse."""
    widths, batch = NETWORKS[network]
    first = problem_of(network)
    other = models.get("mlp", widths=widths, batch=other_batch, activation="tanh", loss="mse")

    def loss(theta, X, Y):
        return dnp.mean(first.loss(first.predict(first.unravel(theta), X), Y))
    gradient = ad.jit(ad.grad(loss))
    theta = np.array(first.theta0)
    result = BatchChange([], [], [], 0.0)
    for problem in (first, other, first):
        value = gradient(theta, problem.X, problem.Y)
        result.batches.append(problem.X.shape[0])
        result.traces.append(gradient.traces)
        result.retraces.append(gradient.retraces)
        result.gap = max(result.gap, difference(value, ad.grad(problem.objective)(theta)))
    return result


def microseconds(case, label):
    seconds = case.median.get(label)
    return general(None if seconds is None else seconds * 1e6)


def row(case):
    """A table row: medians, ratios, the program's NumPy calls, setup and agreement."""
    ratios = [general(case.ratios.get(name)) for name in RATIOS]
    return [f"{case.network} (n={case.n})", case.quantity,
            *[microseconds(case, label) for label in (JIT, EAGER, HAND, JAX)], *ratios,
            str(case.calls), general(case.setup * 1e3),
            scientific(case.gaps.get(EAGER)), scientific(case.gaps.get(JAX))]


def table_of(cases, rounds, jax_note=None):
    """The table of the Cases, with its notes (a DISAGREEMENT where jit differs by more than
    peers.AGREEMENT)."""
    table = Table("Issue 19 — ad.jit beside eager AD, hand-written backprop and JAX jit "
                  "(tanh MLP, MSE, float64)", HEADERS, [row(case) for case in cases])
    for case in cases:
        for label, gap in case.gaps.items():
            if gap > AGREEMENT:
                table.notes.append(f"DISAGREEMENT: {case.network} {case.quantity}: ad.jit "
                                   f"differs from {label} by {gap:.1e} (relative)")
    if jax_note:
        table.notes.append(jax_note)
    table.notes += [
        "networks: " + ", ".join(f"{name} {'-'.join(map(str, NETWORKS[name][0]))}/batch "
                                 f"{NETWORKS[name][1]}" for name in ("tiny", "small", "medium")),
        "µs: CPU time per call, median of interleaved rounds ("
        + ", ".join(f"{case.network} {case.quantity} {rounds[case.network, case.quantity][0]}"
                    for case in cases) + " rounds); a ratio is the median over rounds of "
        "that round's ratio (jit ÷ JAX < 1: ad.jit is faster)",
        "ad.jit, eager AD and the hand-written backprop take the flat θ and unravel it inside "
        "the timed call; JAX's gradient takes per-layer parameters, its Hessian the flat θ "
        "(as in peers.py)",
        "NumPy calls: compiled(θ).calls, per replay; jit setup: CPU ms of the jit object's "
        "first call (trace, code generation, compile, one run); Δ: ‖jit − other‖ / ‖other‖"]
    return table


def at_most(ratio, limit, other):
    """A Target's verdict and numbers for ``jit time ÷ other's time ≤ limit``."""
    if ratio is None:
        return None, None
    return ratio <= limit, f"ad.jit = {ratio:.2f}× {other}'s time"


def targets(cases, setups, change, jax_missing=None):
    """Issue 19's acceptance items, met or not, with the numbers."""
    by = {(case.network, case.quantity): case for case in cases}

    def ratio(network, quantity, name):
        case = by.get((network, quantity))
        return None if case is None else case.ratios.get(name)
    found = []
    for quantity, networks, peer in (("gradient", ("tiny", "small", "medium"), "jax.grad"),
                                     ("Hessian", ("tiny", "small"), "jax.hessian")):
        for network in networks:
            met, numbers = at_most(ratio(network, quantity, "jit ÷ JAX"), 1.0, "JAX")
            found.append(Target(f"ad.jit {quantity} ≤ 1.0× jax.jit({peer}) on {network}",
                                met, numbers if met is not None else jax_missing))
    for network, limit in (("tiny", 1.5), ("medium", 1.05)):
        met, numbers = at_most(ratio(network, "gradient", "jit ÷ hand"), limit,
                               "the hand-written backprop")
        found.append(Target(f"ad.jit gradient ≤ {limit}× the hand-written NumPy backprop on "
                            f"{network}", met, numbers))
    found.append(setup_target(setups))
    found.append(Target("a changed batch size retraces once, and going back does not retrace",
                        change.retraces == [0, 1, 1],
                        f"retraces {' → '.join(map(str, change.retraces))} over batch "
                        f"{', '.join(map(str, change.batches))}; ‖jit − eager‖ / ‖eager‖ ≤ "
                        f"{change.gap:.1e}"))
    return found


def setup_target(setups, limit=0.050):
    if not setups:
        return Target("ad.jit tiny gradient setup ≤ 50 ms", None, None)
    median = statistics.median(setups)
    return Target("ad.jit tiny gradient setup (first call of a fresh jit object) ≤ 50 ms",
                  median <= limit,
                  f"median {median * 1e3:.1f} ms CPU of {len(setups)} fresh objects, "
                  f"{min(setups) * 1e3:.1f}–{max(setups) * 1e3:.1f} ms")


def load_jax():
    """(jax configured as peers.py measures it, None) or (None, the note why it is missing)."""
    found, notes = load_peers([peer for peer in PEERS if peer.name == "jax"])
    if "jax" in found:
        return found["jax"], None
    return None, f"JAX columns and targets not measured: {'; '.join(notes)}"


def write_markdown(path, table, found, facts):
    lines = ["# ad.jit speed (issue 19)", "", *[f"- {fact}" for fact in facts], "",
             markdown(table), "## Targets (issue 19)", "", *[f"- {t}" for t in found], ""]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text("\n".join(lines), encoding="utf-8")
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    jax, jax_note = load_jax()
    peers.PINNED_CPU = PINNED_CPU            # run_facts reports the pinning peers.py did
    facts = peers.run_facts({"jax": jax} if jax else {}, [jax_note] if jax_note else [],
                            args.quick)
    print("\n".join(facts), flush=True)
    fast, slow = ((7, 0.1), (5, 0.0)) if args.quick else ((21, 0.2), (11, 0.0))
    rounds = {case: slow if case == ("small", "Hessian") else fast for case in CASES}
    cases = []
    for network, quantity in CASES:
        cases.append(measure(network, quantity, *rounds[network, quantity], jax=jax))
        print(f"  {network} {quantity} measured", flush=True)
    setups = setup_seconds("tiny", 5 if args.quick else 11)
    change = batch_change("tiny")
    table = table_of(cases, rounds, jax_note)
    table.notes.append(f"took {time.perf_counter() - start:.0f} s of wall time")
    found = targets(cases, setups, change, jax_missing=jax_note and "JAX not installed")
    print("\n" + text(table))
    print("\nTargets (issue 19):")
    print("\n".join(f"  {t}" for t in found))
    args.out.mkdir(parents=True, exist_ok=True)
    write_markdown(args.out / "jit_speed.md", table, found, facts)
    print(f"\nMarkdown written to {args.out / 'jit_speed.md'}")


if __name__ == "__main__":
    main()
