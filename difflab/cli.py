"""The ``difflab`` command line."""

import argparse
import sys
from pathlib import Path

from . import __version__


def build_parser():
    parser = argparse.ArgumentParser(
        prog="difflab",
        description="Compare symbolic, numeric and automatic differentiation on the same "
                    "models.")
    parser.add_argument("--version", action="version", version=f"difflab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    models = commands.add_parser("models", help="list the model zoo with parameter counts")
    models.set_defaults(run=run_models)
    compare = commands.add_parser(
        "compare", help="every differentiator on one model, against the mpmath reference",
        description="One row per differentiator: its error against difflab.reference, cost "
                    "and size. A method that raises (a symbolic budget, a refusal) is a row "
                    "with its reason; the others still run. Exit status: 0 every method "
                    "within its tolerance, 1 a method failed or is outside its tolerance "
                    "(its row says which), 2 a bad request or no reference (nothing "
                    "measured), 130 Ctrl-C (the table shows the methods measured).")
    compare.add_argument("model", nargs="?", default="mlp", help="a zoo model (default mlp)")
    compare.add_argument("--what", default="gradient",
                         choices=["gradient", "jacobian", "hessian", "hvp"])
    compare.add_argument("--methods", nargs="+", metavar="METHOD",
                         help="differentiators to compare (default: all; see --list)")
    compare.add_argument("--list", action="store_true", help="list the differentiators")
    compare.set_defaults(run=run_compare)
    optimize = commands.add_parser(
        "optimize", help="minimize a zoo model with Newton's family or a first-order method",
        description="Minimize MODEL's objective from its seeded start. Several --method or "
                    "--differentiator values run every combination and print one table, so "
                    "the effect of the Hessian's source reads side by side. Every name is "
                    "checked before anything runs. Exit status: 0 every run finished (and "
                    "every Newton-family run converged), 1 a run failed (its row says why) "
                    "or did not converge, 2 a bad request (nothing ran), 130 Ctrl-C (the "
                    "table shows the runs that finished).")
    optimize.add_argument("model", nargs="?", default="rosenbrock",
                          help="a zoo model (default rosenbrock; see difflab models)")
    optimize.add_argument("--method", nargs="+", default=["newton"], metavar="METHOD",
                          help="newton, saddle-free, trust-region, steihaug, newton-cg, "
                               "gauss-newton, levenberg-marquardt, sgd, momentum, nesterov, "
                               "adagrad, rmsprop, adam, nadam (default newton)")
    optimize.add_argument("--differentiator", nargs="+", default=["ad"], metavar="NAME",
                          help="ad, symbolic, fd-central, complex-step, … (default ad)")
    optimize.add_argument("--steps", type=int,
                          help="iteration limit (Newton: 100) or steps (first-order: 500)")
    optimize.add_argument("--lr", type=float, help="learning rate (first-order methods)")
    optimize.add_argument("--batch-size", type=int, help="mini-batch size (first-order)")
    optimize.add_argument("--seed", type=int, default=0)
    optimize.add_argument("--quiet", action="store_true", help="only the final table")
    optimize.set_defaults(run=run_optimize)
    report = commands.add_parser(
        "report", help="run the comparison and write the HTML report (quick profile: ~2 min)",
        description="Run the sweeps (precision, expression swell, runtime, memory, Newton, "
                    "gradient flow), write results as JSON lines as each cell finishes, then plots and "
                    "one HTML page under reports/<name>/ (reports/latest points at it). Ctrl-C "
                    "keeps what was measured; --resume continues. Exit status: 0 every cell "
                    "measured, 1 a cell failed (the page shows it), 2 nothing measured (a "
                    "bad option, a folder in use or unwritable, malformed results), 130 "
                    "Ctrl-C.")
    size = report.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_const", const="full", dest="profile",
                      help="larger sweeps (tens of minutes)")
    size.add_argument("--profile", choices=["tiny", "quick", "full"], dest="profile")
    report.add_argument("--sections", nargs="+", metavar="SECTION",
                        help="verdict, precision, swell, runtime, memory, newton, flow (default: all)")
    report.add_argument("--out", metavar="DIR", help="the report folder "
                        "(default reports/<date-time>; with --resume, reports/latest)")
    report.add_argument("--seed", type=int, default=0)
    report.add_argument("--resume", action="store_true",
                        help="keep the cells already measured in the folder, run the rest")
    report.add_argument("--model", metavar="FILE.py:FUNC",
                        help="report on your own objective FUNC(params) instead of the zoo "
                             "(the file defines params, as for gradcheck)")
    report.add_argument("--params", default="params", metavar="NAME",
                        help="with --model: the name of the parameters in the file "
                             "(default: params)")
    report.set_defaults(run=run_report, profile="quick")
    check = commands.add_parser(
        "gradcheck", help="check the gradient of a function in your file, leaf by leaf",
        description="Check FUNC(params) in FILE.py: AD against numeric and reference "
                    "derivatives, or your own gradient function (--grad) against central, "
                    "Richardson and complex-step differences. The file defines params (a "
                    "pytree, or a function of no arguments returning one). Exit status: 0 "
                    "passed, 1 failed or inconclusive (nothing could be judged; the verdict "
                    "says which), 2 could not check (a bad request, or the file raised or "
                    "called sys.exit), 130 Ctrl-C.")
    check.add_argument("target", metavar="FILE.py:FUNC", help="the scalar function to check")
    check.add_argument("--grad", metavar="NAME",
                       help="your gradient function in the same file: NAME(params) returns a "
                            "pytree shaped like params (default: difflab's AD of FUNC)")
    check.add_argument("--params", default="params", metavar="NAME",
                       help="the name of the parameters in the file (default: params)")
    check.add_argument("--methods", nargs="+", metavar="METHOD", help="the truths")
    check.add_argument("--mode", choices=["full", "fast"], default="full")
    check.add_argument("--order", type=int, choices=[1, 2], default=1)
    check.add_argument("--rtol", type=float)
    check.add_argument("--atol", type=float)
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(run=run_gradcheck)
    return parser


def run_optimize(args, out):
    from .errors import DiffLabError
    from .optim.optimize import Summary, check, format_summaries, optimize

    def show(k, f, grad_norm):
        out.write(f"  {k:4d}  f = {f:.12g}  ‖g‖ = {grad_norm:.3e}\n")
        out.flush()
    try:
        problem = check(args.model, args.method, args.differentiator)
    except DiffLabError as error:
        sys.stderr.write(f"difflab optimize: {error}\n")
        return 2
    summaries = []
    try:
        for method in args.method:
            for name in args.differentiator:
                if not args.quiet:
                    out.write(f"{method} with {name} on {args.model}:\n")
                try:
                    summaries.append(optimize(problem, method, name, steps=args.steps,
                                              lr=args.lr, batch_size=args.batch_size,
                                              seed=args.seed,
                                              callback=None if args.quiet else show))
                except DiffLabError as error:       # one run's failure is its row
                    summaries.append(Summary.failed(problem.name, method, name, error))
    except KeyboardInterrupt:
        out.write(format_summaries(summaries))
        sys.stderr.write(f"difflab optimize: interrupted after {len(summaries)} run(s); "
                         "the table shows those\n")
        return 130
    out.write(format_summaries(summaries))
    return 1 if any(s.converged is False for s in summaries) else 0


def run_report(args, out):
    from .errors import DiffLabError
    from .report import report
    from .report.sections.yours import YourModel
    try:
        model = None
        if args.model:
            module = _load(args.model)
            path, _, name = args.model.rpartition(":")
            params = _attribute(module, args.params, args.model)
            model = YourModel(f"{name} in {Path(path).name}",
                              _attribute(module, name, args.model),
                              params() if callable(params) else params)
        outcome = report(args.sections, args.profile, args.out, args.seed, args.resume,
                         model=model)
    except DiffLabError as error:
        sys.stderr.write(f"difflab report: {error}\n")
        return 2
    for section, key, error in outcome.failed:
        sys.stderr.write(f"difflab report: cell {section}/{key} failed: {error}\n")
    out.write(f"{outcome.folder / 'report.html'}\n")
    if outcome.interrupted:
        sys.stderr.write(f"difflab report: interrupted after {outcome.measured} cells; the "
                         f"report shows what was measured. Continue with: difflab report "
                         f"--resume --out {outcome.folder}\n")
        return 130
    return 1 if outcome.failed else 0


def run_gradcheck(args, out):
    from .errors import DiffLabError
    from .gradcheck import gradcheck
    try:
        module = _load(args.target)
        f = _attribute(module, args.target.rpartition(":")[2], args.target)
        params = _attribute(module, args.params, args.target)
        params = params() if callable(params) else params
        grad = _attribute(module, args.grad, args.target) if args.grad else None
        result = gradcheck(f, params, grad, methods=args.methods, rtol=args.rtol,
                           atol=args.atol, seed=args.seed, mode=args.mode, order=args.order)
    except DiffLabError as error:
        sys.stderr.write(f"difflab gradcheck: {error}\n")
        return 2
    except SystemExit as stop:              # the user's sys.exit must not become our status
        sys.stderr.write(f"difflab gradcheck: the code in {args.target} called "
                         f"sys.exit({stop.code!r}); nothing was checked. Guard the module's "
                         "script part with `if __name__ == \"__main__\":` and keep sys.exit "
                         "out of the function and its gradient\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("difflab gradcheck: interrupted; nothing was checked\n")
        return 130
    except Exception:                       # noqa: BLE001  (an error in the user's own code)
        import traceback
        sys.stderr.write(f"difflab gradcheck: the code in {args.target} raised; nothing was "
                         f"checked:\n{traceback.format_exc(limit=-4)}")
        return 2
    out.write(str(result))
    return 0 if result.passed else 1


def _load(target):
    """The module FILE.py of ``FILE.py:FUNC``, imported with its folder on sys.path."""
    import importlib.util
    from pathlib import Path
    from .errors import DiffLabError
    path, colon, name = target.rpartition(":")
    if not colon or not path or not name:
        raise DiffLabError(f"expected FILE.py:FUNC, got {target!r}")
    file = Path(path)
    if not file.is_file():
        raise DiffLabError(f"no file {path!r}")
    if file.suffix != ".py":
        raise DiffLabError(f"{path!r} is not a Python file (FILE.py:FUNC)")
    spec = importlib.util.spec_from_file_location(f"difflab_user_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.resolve().parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(file.resolve().parent))
    return module


def _attribute(module, name, target):
    from .errors import DiffLabError
    if not hasattr(module, name):
        public = [n for n in vars(module) if not n.startswith("_")]
        raise DiffLabError(f"{target.rpartition(':')[0]} has no {name!r}; it defines "
                           f"{', '.join(public)}")
    return getattr(module, name)


def run_compare(args, out):
    from .compare import format_table, measure_rows
    from .errors import DiffLabError
    from .interface import differentiator, differentiators
    if args.list:
        for name in differentiators():
            out.write(f"{name:<16} {differentiator(name).description}\n")
        return 0
    try:
        problem, measured = measure_rows(args.model, args.what, args.methods)
    except DiffLabError as error:
        sys.stderr.write(f"difflab compare: {error}\n")
        return 2
    rows = []
    try:
        for row in measured:
            rows.append(row)
    except KeyboardInterrupt:
        out.write(format_table(problem, args.what, rows))
        sys.stderr.write(f"difflab compare: interrupted after {len(rows)} method(s); the "
                         "table shows those\n")
        return 130
    out.write(format_table(problem, args.what, rows))
    return 0 if all(row.ok for row in rows) else 1


def run_models(args, out):
    from .models import list_models
    rows = [("model", "parameters", "description")]
    rows += [(info.name, str(info.n_params), info.description) for info in list_models()]
    name_width = max(len(r[0]) for r in rows)
    count_width = max(len(r[1]) for r in rows)
    for name, count, description in rows:
        out.write(f"{name:<{name_width}}  {count:>{count_width}}  {description}\n")
    return 0


def main(argv=None, out=None):
    """Run one command; its exit status (README, "Exit statuses"): 0 success, 1 a result
    that is not a success (a failed cell, row or run, a failed check), 2 a request that
    could not run, 3 a bug in difflab, 130 Ctrl-C."""
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(out)
        return 0
    from .errors import DiffLabError
    try:
        return args.run(args, out)
    except DiffLabError as error:
        sys.stderr.write(f"difflab {args.command}: {error}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"difflab {args.command}: interrupted\n")
        return 130
    except Exception:           # noqa: BLE001  (a bug must not read as 1, "a row failed")
        import traceback
        traceback.print_exc()
        sys.stderr.write(f"difflab {args.command}: unexpected error, a bug in difflab: "
                         "please report it with the traceback above\n")
        return 3


if __name__ == "__main__":
    sys.exit(main())
