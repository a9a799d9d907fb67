"""The conda envs that cluster users deploy stay consistent with pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from conftest import REPO

# conda-forge names for PyPI distributions whose names differ
CONDA_NAMES = {"torch": "pytorch", "soundfile": "pysoundfile"}
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)\s*(.*)$")


def parse(requirements):
    return dict(REQUIREMENT.match(r.replace(" ", "")).groups() for r in requirements)


def env_requirements(name):
    env = yaml.safe_load((REPO / "envs" / name).read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next((d["pip"] for d in env["dependencies"] if isinstance(d, dict)), [])
    return parse(conda), parse(pip)


@pytest.mark.parametrize("env_file", ["analysis.yaml", "torch.yaml"])
def test_env_pins_every_library_dependency_like_pyproject(env_file):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    conda, pip = env_requirements(env_file)
    for name, spec in parse(project["dependencies"]).items():
        conda_name = CONDA_NAMES.get(name, name)
        found = conda.get(conda_name, pip.get(name))
        assert found is not None, f"envs/{env_file}: missing {conda_name} (pyproject: {name}{spec})"
        assert found == spec, f"envs/{env_file}: {conda_name}{found} but pyproject has {name}{spec}"


def test_every_rule_env_exists():
    for smk in (REPO / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"\.\./(envs/[^"]+)"', smk.read_text()):
            assert (REPO / env).exists(), f"{smk.name} names {env}, which does not exist"
