"""The library's layout as the README draws it: a shared core, one package per study, and the demo
generators apart, imported by nothing but the demo rules' scripts; no import cycles."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "src" / "audiobrain"
SCRIPTS = ROOT / "workflow" / "scripts"


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Every audiobrain module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


MODULES = {module_name(path): path for path in LIBRARY.rglob("*.py")}
GRAPH = {name: imported_modules(path, set(MODULES)) - {name} for name, path in MODULES.items()}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else "core"


def test_every_module_is_in_the_core_or_a_package():
    assert {package_of(name) for name in MODULES} == {"core", "brainscores", "recon", "demo"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_demo_imports_the_demo(module):
    if package_of(module) == "demo":
        return
    assert not {name for name in GRAPH[module] if package_of(name) == "demo"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_core_imports_no_study_and_the_studies_not_each_other(module):
    allowed = {"core": {"core"}, "brainscores": {"core", "brainscores"}}
    allowed["recon"] = {"core", "recon"}
    allowed["demo"] = {"core", "brainscores", "recon", "demo"}
    imported = {package_of(name) for name in GRAPH[module] if name != "audiobrain"}
    assert imported <= allowed[package_of(module)]


def test_no_import_cycles():
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for name in sorted(GRAPH[module]):
            if state.get(name) == "open":
                raise AssertionError(" -> ".join([*path[path.index(name) :], name]))
            if name not in state:
                visit(name, [*path, name])
        state[module] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])


def test_only_the_demo_rules_scripts_import_the_demo():
    demo_rules = (ROOT / "rules" / "demo.smk").read_text()
    demo_scripts = {line.split("scripts/")[1].strip().strip('"') for line in
                    demo_rules.splitlines() if "workflow/scripts/" in line}  # fmt: skip
    importing = {
        script.name
        for script in SCRIPTS.glob("*.py")
        if any(package_of(name) == "demo" for name in imported_modules(script, set(MODULES)))
    }
    assert importing == demo_scripts
    other_rules = [path for path in (ROOT / "rules").glob("*.smk") if path.name != "demo.smk"]
    for path in other_rules:
        lines = path.read_text().splitlines()
        scripts = {line.split("scripts/")[-1].strip().strip('"') for line in lines}
        assert not demo_scripts & scripts, path.name


def test_the_readme_architecture_names_every_module():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Architecture", 1)[1].split("## ", 1)[0]
    for path in sorted(LIBRARY.rglob("*.py")):
        if path.name != "__init__.py":
            assert path.name in block, path.relative_to(LIBRARY)
    for package in ("brainscores/", "recon/", "demo/"):
        assert f"  {package}" in block
