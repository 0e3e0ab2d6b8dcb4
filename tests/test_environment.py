"""The conda environment and pyproject list the same packages; the CLI answers."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from analysis.config import ROOT


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = {_name(s) for s in pyproject["project"]["dependencies"]}
    wanted |= {_name(s) for s in pyproject["project"]["optional-dependencies"]["dev"]}
    listed = set()
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^\s+- ([A-Za-z0-9_.\-]+)", line)
        if m and m.group(1) not in {"python", "pip", "pip:"}:
            listed.add(_name(m.group(1)))
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "analysis", "--help"], capture_output=True, text=True, check=True)
    for command in ("data", "batch", "extract"):
        assert command in out.stdout
