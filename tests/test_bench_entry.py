"""`python -m bench` wires every suite to a script that accepts the arguments it is given (no benchmark runs here)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_every_suite_has_a_command_whose_script_takes_its_arguments():
    from bench.__main__ import SUITES, commands

    for quick in (True, False):
        out = _run("-m", "bench", "all", "--dry-run", *(["--quick"] if quick else []), "--torch-python", "/x/python")
        assert out.returncode == 0, out.stderr
        printed = [line[2:].split() for line in out.stdout.splitlines() if line.startswith("$ ")]
        assert printed == [[str(c) for c in cmd] for cmd in commands("all", quick=quick, torch_python="/x/python")]
        assert {cmd[1].rsplit("/", 1)[-1] for cmd in printed} == {s for runs in SUITES.values() for s, _, _ in runs}
        for cmd in printed:
            helped = _run(cmd[1], "--help")
            assert helped.returncode == 0, helped.stderr
            flags = [a for a in cmd[2:] if a.startswith("--")]
            assert all(flag in helped.stdout for flag in flags), (cmd, flags)


def test_an_unknown_suite_is_a_usage_error():
    out = _run("-m", "bench", "everything", "--dry-run")
    assert out.returncode == 2 and "invalid choice" in out.stderr
