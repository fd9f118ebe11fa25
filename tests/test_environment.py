"""environment.yml (conda) must agree with pyproject.toml (the single source of truth)."""

import re
import tomllib

import yaml

from conftest import REPO

CONDA_TO_PYPI = {"pytorch": "torch"}


def _load():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    return project, env


def _pins(project) -> dict[str, str]:
    pins = {}
    for req in project["dependencies"]:
        name, _, version = req.partition("==")
        pins[name.strip().lower()] = version.strip()
    return pins


def test_python_version_matches_requires_python():
    project, env = _load()
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    version = conda_python.split("=", 1)[1]
    lo, hi = re.fullmatch(r">=(\d+\.\d+),<(\d+\.\d+)", project["requires-python"]).groups()
    as_tuple = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
    assert as_tuple(lo) <= as_tuple(version) < as_tuple(hi)


def test_pip_section_installs_project_with_existing_extras():
    project, env = _load()
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    editable = [line for line in pip_section if line.startswith("-e .")]
    assert editable, "environment.yml must install the project itself with `-e .[...]`"
    extras = re.findall(r"\[([^\]]*)\]", editable[0])
    names = [e.strip() for e in extras[0].split(",")] if extras else []
    assert set(names) == {"book", "test"}
    assert set(names) <= set(project["optional-dependencies"])


def test_other_conda_packages_are_pinned_identically():
    project, env = _load()
    pins = _pins(project)
    for dep in env["dependencies"]:
        if not isinstance(dep, str) or dep.split("=")[0] in ("python", "pip"):
            continue
        name, _, version = dep.partition("=")
        pypi = CONDA_TO_PYPI.get(name, name).lower()
        assert pypi in pins, f"{name} is in environment.yml but not pinned in pyproject.toml"
        assert version.lstrip("=") == pins[pypi]


def test_torch_pin_is_exact_and_plain():
    project, _ = _load()
    assert "torch==2.13.0" in project["dependencies"]  # never +cpu (TOOLING.md 9)
