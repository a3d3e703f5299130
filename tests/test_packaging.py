"""The packaging files agree with each other and with the CLI."""

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _names(reqs):
    return {Requirement(r).name.lower(): str(Requirement(r).specifier) for r in reqs}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = [p for p in pip if not p.startswith("-e")]
    expected = _names(project["dependencies"] + project["optional-dependencies"]["dev"])
    assert _names(listed) == expected
    assert "python=3.11" in env["dependencies"]


def test_torch_pair_pinned():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.14.1" in deps
    assert "torchvision==0.29.1" in deps


def test_cli_help_lists_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "cube.run", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("ingest", "train", "detect", "full"):
        assert command in out
