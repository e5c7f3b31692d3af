"""Packaging: pyproject.toml is the single source of truth and environment.yml follows it; the
data side of the package imports without TensorFlow; the console script answers --help."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """PEP 503 normalised project name of a requirement string ("Foo_Bar[x]>=1" -> "foo-bar")."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert m, requirement
    return re.sub(r"[-_.]+", "-", m.group(1)).lower()


def _spec(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement.split(";")[0])[len(_name(requirement)) :]


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def _env_lists(env: dict) -> tuple[list[str], list[str]]:
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += [str(d) for d in dep.get("pip", [])]
        else:
            conda.append(str(dep))
    return conda, pip


def _pyproject_requirements(pyproject: dict) -> list[str]:
    project = pyproject["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["dev"]]


def test_environment_yml_is_conda_forge_python311_pip_editable_dev(environment):
    assert environment["channels"] == ["conda-forge"]
    conda, pip = _env_lists(environment)
    assert any(re.fullmatch(r"python\s*=\s*3\.11(\.\*)?", d) for d in conda)
    assert "pip" in conda
    assert any(re.fullmatch(r"-e\s+\.\[dev\]", d) for d in pip)


def test_every_pyproject_dependency_is_in_environment_yml(pyproject, environment):
    conda, pip = _env_lists(environment)
    listed = {_name(d) for d in conda + pip if not d.startswith("-")}
    missing = [r for r in _pyproject_requirements(pyproject) if _name(r) not in listed]
    assert not missing, f"add to environment.yml: {missing}"


def test_environment_yml_pins_match_pyproject(pyproject, environment):
    """A package listed in both must carry the same version specifier (no drift)."""
    _, pip = _env_lists(environment)
    env_specs = {_name(d): _spec(d) for d in pip if not d.startswith("-")}
    drift = {
        r: env_specs[_name(r)]
        for r in _pyproject_requirements(pyproject)
        if _name(r) in env_specs and env_specs[_name(r)] != _spec(r)
    }
    assert not drift, f"environment.yml differs from pyproject.toml: {drift}"


def test_environment_yml_lists_nothing_pyproject_lacks(pyproject, environment):
    _, pip = _env_lists(environment)
    known = {_name(r) for r in _pyproject_requirements(pyproject)}
    extra = [d for d in pip if not d.startswith("-") and _name(d) not in known]
    assert not extra, f"in environment.yml but not in pyproject.toml: {extra}"


def test_pyproject_basics(pyproject):
    project = pyproject["project"]
    assert project["requires-python"].startswith(">=3.11")
    assert project["scripts"]["samplevae"] == "samplevae.cli:main"
    names = {_name(r) for r in project["dependencies"]}
    assert {
        "tensorflow",
        "librosa",
        "soundfile",
        "plotly",
        "anywidget",
        "umap-learn",
        "ipywidgets",
        "jupyterlab",
        "tqdm",
    } <= names
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}
    assert {"pytest", "ruff", "playwright"} <= dev
    assert "nbclient" in names | dev


@pytest.mark.parametrize("package", ["tensorflow-probability", "tf-keras"])
def test_optional_tf_extras_listed_only_if_used(pyproject, package):
    """tensorflow-probability and tf-keras belong in pyproject only if the code imports them."""
    module = {"tensorflow-probability": "tensorflow_probability", "tf-keras": "tf_keras"}[package]
    pattern = re.compile(rf"^\s*(import|from)\s+{module}\b", re.M)
    used = any(
        pattern.search(p.read_text(encoding="utf-8"))
        for folder in ("samplevae", "widgets")
        for p in (ROOT / folder).rglob("*.py")
    )
    listed = package in {_name(r) for r in pyproject["project"]["dependencies"]}
    assert listed == used


@pytest.mark.parametrize(
    "path",
    [
        "samplevae/__init__.py",
        "widgets/__init__.py",
        "notebooks",
        "tests",
        "bench",
        "environment.yml",
        "README.md",
        "pyproject.toml",
        ".ci/run",
        "Makefile",
    ],
)
def test_layout(path):
    assert (ROOT / path).exists()


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT.parent, timeout=300
    )


def test_data_modules_import_without_tensorflow():
    code = (
        "import sys\n"
        "import samplevae, samplevae.params, samplevae.audio, samplevae.features\n"
        "import samplevae.dataset, samplevae.synth, samplevae.io, samplevae.cli\n"
        "samplevae.cli.build_parser()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf_keras'))\n"
        "print(samplevae.__file__); print(bad)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    file, bad = out.stdout.strip().splitlines()[-2:]
    assert file.endswith("samplevae/__init__.py")  # a real package, not a namespace
    assert bad == "[]"


def test_public_api_names():
    import samplevae
    from samplevae import dataset

    for name in (
        "AudioParams",
        "ModelParams",
        "TrainParams",
        "RunParams",
        "ParameterError",
        "AudioLoadError",
        "DatasetError",
        "make_dataset",
        "load_dataset",
    ):
        assert hasattr(samplevae, name), name
    assert dataset.make_dataset_classifier.__doc__


def _samplevae_bin() -> Path:
    return Path(sys.executable).parent / "samplevae"


@pytest.mark.parametrize(
    "command", [[], ["synth-kit"], ["make-dataset"], ["make_dataset_classifier"], ["datasets"]]
)
def test_console_script_help(command):
    exe = _samplevae_bin()
    assert exe.exists()
    out = subprocess.run(
        [str(exe), *command, "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "usage: samplevae" in out.stdout
    if command:
        assert command[0] in out.stdout


def _slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _markdown_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_readme_is_a_front_page_linking_to_the_docs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for cmd in ("make demo", "make test"):
        assert cmd in text
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in text, f"README does not link to docs/{page.name}"


def test_every_cli_command_is_in_the_readme_table():
    import argparse

    from samplevae.cli import build_parser

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [name for name in sub.choices if f"`samplevae {name}" not in text]
    assert not missing, f"README's command table lacks: {missing}"


@pytest.mark.parametrize("page", _markdown_pages(), ids=lambda p: p.name)
def test_doc_links_point_to_existing_files_and_headings(page):
    text = page.read_text(encoding="utf-8")
    code_free = re.sub(r"```.*?```", "", text, flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", code_free):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md":
            body = re.sub(r"```.*?```", "", dest.read_text(encoding="utf-8"), flags=re.S)
            slugs = {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", body, flags=re.M)}
            if anchor not in slugs:
                broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"
