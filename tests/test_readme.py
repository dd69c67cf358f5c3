"""Every example in README.md runs: Python blocks in order, console commands as processes."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses / notebooks: left out of -m "not slow"

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TEXT, flags=re.S)


def test_python_examples_run(capsys):
    namespace: dict = {}
    code = blocks("python")
    assert code, "README has no python examples"
    for block in code:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 (our README)
    assert "^" in capsys.readouterr().out  # the ParseError example printed its caret


def symgrad_commands() -> list[str]:
    commands = []
    for block in blocks("console"):
        for line in block.splitlines():
            # Only the symgrad invocations: the venv/pip set-up is what CI itself does.
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("symgrad "):
                    commands.append(part)
    return commands


@pytest.mark.parametrize("command", symgrad_commands())
def test_console_examples_run(command):
    args = shlex.split(command)[1:]
    done = subprocess.run(
        [sys.executable, "-m", "symgrad", *args], capture_output=True, text=True,
        timeout=300, env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
