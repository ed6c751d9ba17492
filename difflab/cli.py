"""The ``difflab`` command line."""

import argparse
import sys

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
        "compare", help="every differentiator on one model, against the mpmath reference")
    compare.add_argument("model", nargs="?", default="mlp", help="a zoo model (default mlp)")
    compare.add_argument("--what", default="gradient",
                         choices=["gradient", "jacobian", "hessian", "hvp"])
    compare.add_argument("--methods", nargs="+", metavar="METHOD",
                         help="differentiators to compare (default: all; see --list)")
    compare.add_argument("--list", action="store_true", help="list the differentiators")
    compare.set_defaults(run=run_compare)
    return parser


def run_compare(args, out):
    from .compare import compare, format_table
    from .errors import DiffLabError
    from .interface import differentiator, differentiators
    if args.list:
        for name in differentiators():
            out.write(f"{name:<16} {differentiator(name).description}\n")
        return 0
    try:
        problem, rows = compare(args.model, args.what, args.methods)
    except DiffLabError as error:
        sys.stderr.write(f"difflab compare: {error}\n")
        return 2
    out.write(format_table(problem, args.what, rows))
    return 0


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
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(out)
        return 0
    return args.run(args, out)


if __name__ == "__main__":
    sys.exit(main())
