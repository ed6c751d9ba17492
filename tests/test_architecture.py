"""The import boundaries of DESIGN.md §3, read from difflab's own import statements.

Backends (ad, numeric, symbolic, reference, numpy) never reach the model zoo or a consumer;
consumers (compare, gradcheck, testing, cli, optim, report) reach backends only through the
interface; the neutral modules both sides share (the interface, objectives, pytree, errors, …)
and the models depend on no backend but dnp and on no consumer, so nothing is reached through
them either; no module imports another package's private names. Every statement is parsed
with ``ast``, including imports inside functions, and relative imports are resolved the way
Python resolves them, so neither a docstring nor a ``from ... import x`` can fool the check.

``difflab/__init__.py`` is the composition root: it imports every backend's adapter so that each
registers itself, and re-exports the public API, so it is exempt from the layering rules (but
not from the private-name rule). For the same reason, importing the top-level ``difflab``
package from a backend or a neutral module counts as importing everything the root imports.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "difflab"
ROOT = "difflab"

BACKENDS = {"difflab.ad", "difflab.numeric", "difflab.symbolic", "difflab.reference",
            "difflab.numpy"}
CONSUMERS = {"difflab.compare", "difflab.gradcheck", "difflab.testing", "difflab.cli",
             "difflab.optim", "difflab.report"}
MODELS = {"difflab.models"}
# Used by both sides of the seam; they import only each other and dnp, so a backend that imports
# one cannot reach the model zoo or a consumer through it.
NEUTRAL = {"difflab.interface", "difflab.objectives", "difflab.pytree", "difflab.metrics",
           "difflab.errors", "difflab.progress", "difflab.outputs"}
# What a consumer may import besides other consumers: the interface, the models and the language
# they are written in (dnp), pytrees, the error metrics, and the root (e.g. __version__).
CONSUMER_MAY_IMPORT = {ROOT, "difflab.interface", "difflab.models", "difflab.pytree",
                       "difflab.metrics", "difflab.errors", "difflab.progress", "difflab.numpy",
                       "difflab.objectives"} | CONSUMERS
INTERFACE = "difflab.interface"
DIFFERENTIATORS = {"difflab.ad", "difflab.numeric", "difflab.symbolic", "difflab.reference"}


@dataclass(frozen=True)
class Import:
    """One imported thing: ``target`` is the difflab module it loads, ``names`` the names taken
    from it (empty for ``import x``), ``text`` the statement as written."""

    module: str
    line: int
    text: str
    target: str
    names: tuple

    def __str__(self):
        return f"{self.module}:{self.line}: {self.text}  (imports {self.target})"


def module_name(path, package_dir=PACKAGE_DIR):
    """(dotted name, is a package) of a file under ``package_dir``."""
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def sources(package_dir=PACKAGE_DIR):
    """{module name: (source, is a package)} for every module of the package."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        name, is_package = module_name(path, package_dir)
        found[name] = (path.read_text(encoding="utf-8"), is_package)
    return found


def resolve(module, is_package, level, name):
    """The absolute module of ``from <level dots><name> import …`` written in ``module``."""
    if level == 0:
        return name
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 >= len(package):
        raise ValueError(f"{module}: relative import beyond the top-level package "
                         f"(level {level}, {name!r})")
    base = package[:len(package) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def is_difflab(name):
    return name == ROOT or name.startswith(ROOT + ".")


def imports(module, source, is_package, known_modules):
    """Every import of a difflab module in ``source``, with its target resolved.

    ``from P import x`` imports the module ``P.x`` when that is a known module (a subpackage or
    submodule), and otherwise the name ``x`` from ``P``, which counts as importing ``P``.
    """
    found, lines = [], source.splitlines()
    for node in ast.walk(ast.parse(source, filename=module)):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        text = " ".join(line.strip() for line in lines[node.lineno - 1:node.end_lineno])
        if isinstance(node, ast.Import):
            found += [Import(module, node.lineno, text, alias.name, ())
                      for alias in node.names if is_difflab(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(module, is_package, node.level, node.module or "")
            if not is_difflab(base):
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in known_modules:
                    found.append(Import(module, node.lineno, text, submodule, ()))
                else:
                    found.append(Import(module, node.lineno, text, base, (alias.name,)))
    return found


def top(name):
    """The top-level difflab package of a module: ``difflab.report.sections.swell`` →
    ``difflab.report``; a module directly under difflab is its own package."""
    return ".".join(name.split(".")[:2])


def all_imports(found_sources):
    known = set(found_sources)
    return [imp for name, (source, is_package) in found_sources.items()
            for imp in imports(name, source, is_package, known)]


def backend_violations(found):
    """A backend imports neither the models nor a consumer (nor the root, which imports both)."""
    forbidden = MODELS | CONSUMERS | {ROOT}
    return [imp for imp in found if top(imp.module) in BACKENDS and top(imp.target) in forbidden]


def consumer_violations(found):
    """A consumer imports from difflab only the interface, models, dnp, pytree, metrics, errors,
    progress, objectives, the root and other consumers."""
    return [imp for imp in found
            if top(imp.module) in CONSUMERS and top(imp.target) not in CONSUMER_MAY_IMPORT]


def neutral_violations(found):
    """A neutral module imports only neutral modules and dnp."""
    return [imp for imp in found
            if top(imp.module) in NEUTRAL and top(imp.target) not in NEUTRAL | {"difflab.numpy"}]


def model_violations(found):
    """The models are written in dnp and import only it and neutral modules, so a consumer that
    imports them reaches no backend through them."""
    return [imp for imp in found
            if top(imp.module) in MODELS
            and top(imp.target) not in MODELS | NEUTRAL | {"difflab.numpy"}]


def interface_violations(found):
    """The interface imports no differentiator (they register themselves with it)."""
    forbidden = DIFFERENTIATORS | {ROOT}
    return [imp for imp in found if imp.module == INTERFACE and top(imp.target) in forbidden]


def is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_violations(found):
    """No module takes a ``_name`` (or goes through a ``_module``) of another top-level package."""
    return [imp for imp in found
            if top(imp.module) != top(imp.target)
            and (any(is_private(n) for n in imp.names)
                 or any(is_private(part) for part in imp.target.split(".")))]


def report(violations):
    return "\n".join(["import boundary crossed (module:line: statement):"]
                     + [f"  {imp}" for imp in violations])


SOURCES = sources()
IMPORTS = all_imports(SOURCES)


# --- the rules, on difflab itself -------------------------------------------------------------

def test_every_module_is_in_a_layer():
    """A new package must be placed in a layer before the rules can say anything about it."""
    layers = BACKENDS | CONSUMERS | MODELS | NEUTRAL | {ROOT}
    unplaced = sorted(name for name in SOURCES if top(name) not in layers)
    assert not unplaced, f"modules in no layer (add them to one above): {unplaced}"
    assert {"difflab.interface", "difflab.symbolic.trace", "difflab.report.sections.swell",
            "difflab.objectives"} <= set(SOURCES)


def test_backends_import_no_models_or_consumers():
    violations = backend_violations(IMPORTS)
    assert not violations, report(violations)


def test_consumers_import_only_the_interface_models_and_shared_modules():
    violations = consumer_violations(IMPORTS)
    assert not violations, report(violations)


def test_neutral_modules_import_only_neutral_modules_and_dnp():
    violations = neutral_violations(IMPORTS)
    assert not violations, report(violations)


def test_models_import_only_dnp_and_neutral_modules():
    violations = model_violations(IMPORTS)
    assert not violations, report(violations)


def test_interface_imports_no_backend():
    violations = interface_violations(IMPORTS)
    assert not violations, report(violations)


def test_no_private_imports_across_packages():
    violations = private_violations(IMPORTS)
    assert not violations, report(violations)


# --- the checker, on synthetic sources: every rule can fail -----------------------------------

KNOWN = set(SOURCES)


def _imports(module, source, is_package=False):
    return imports(module, source, is_package, KNOWN)


def _targets(module, source, is_package=False):
    return [imp.target for imp in _imports(module, source, is_package)]


def test_relative_imports_resolve_as_python_resolves_them():
    sections = "difflab.report.sections.foo"
    assert _targets(sections, "from ... import differentiator") == ["difflab"]
    assert _targets(sections, "from ... import models") == ["difflab.models"]
    assert _targets(sections, "from .. import plots") == ["difflab.report.plots"]
    assert _targets(sections, "from ...models import zoo") == ["difflab.models.zoo"]
    assert _targets(sections, "from ...optim.convergence import EPS") == \
        ["difflab.optim.convergence"]
    assert _targets("difflab.report", "from . import runner", is_package=True) == \
        ["difflab.report.runner"]
    assert _targets("difflab.report", "from .. import interface", is_package=True) == \
        ["difflab.interface"]
    assert _targets("difflab.ad.api", "import difflab.numpy as dnp\nimport numpy") == \
        ["difflab.numpy"]
    assert _targets("difflab.ad.api", '"""from difflab import models"""') == []


def test_imports_inside_functions_are_read():
    source = "def f():\n    from ..models import zoo\n"
    assert _targets("difflab.ad.api", source) == ["difflab.models.zoo"]


def test_backend_rule_reports_a_model_import():
    found = _imports("difflab.symbolic.trace",
                     "import os\nfrom ..models.objectives import BatchMean")
    assert [(imp.line, imp.text) for imp in backend_violations(found)] == \
        [(2, "from ..models.objectives import BatchMean")]
    assert backend_violations(_imports("difflab.numeric.adapter", "from .. import gradcheck"))
    assert backend_violations(_imports("difflab.reference", "from . import differentiators"))
    assert not backend_violations(_imports("difflab.ad.adapter", "from .. import interface"))


def test_consumer_rule_reports_a_backend_import():
    found = _imports("difflab.report.sections.swell", "from ... import ad, models, symbolic")
    assert [imp.target for imp in consumer_violations(found)] == ["difflab.ad", "difflab.symbolic"]
    assert not consumer_violations(_imports("difflab.cli", "from . import __version__"))


def test_neutral_rule_reports_a_model_import():
    assert neutral_violations(_imports("difflab.objectives", "from .models import zoo"))
    assert neutral_violations(_imports("difflab.pytree", "from .numeric import steps"))
    assert not neutral_violations(_imports("difflab.pytree", "from . import numpy as dnp"))


def test_model_rule_reports_a_backend_import():
    assert model_violations(_imports("difflab.models.zoo", "from ..symbolic import Budget"))
    assert not model_violations(_imports("difflab.models.zoo",
                                         "from ..objectives import BatchMean"))


def test_interface_rule_reports_a_backend_import():
    found = _imports("difflab.interface", "from .numeric import adapter")
    assert [imp.target for imp in interface_violations(found)] == ["difflab.numeric.adapter"]
    assert not interface_violations(_imports("difflab.interface", "from .errors import ShapeError"))


def test_private_rule_reports_a_private_name_from_another_package():
    found = _imports("difflab.report.sections.swell", "from ...symbolic.trace import _run")
    assert [imp.names for imp in private_violations(found)] == [("_run",)]
    assert private_violations(_imports("difflab.compare", "from .numeric import _private_module"))
    assert private_violations(_imports("difflab.compare", "import difflab.numeric._private"))
    # within a package, a dunder, and a private alias of a public name are all fine
    assert not private_violations(_imports("difflab.ad.api", "from .rules import _primal"))
    assert not private_violations(_imports("difflab.cli", "from . import __version__"))
    assert not private_violations(_imports("difflab", "from .ad import adapter as _ad_adapter",
                                           is_package=True))
