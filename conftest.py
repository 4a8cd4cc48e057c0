"""Documentation that runs: every ``python`` and ``bash`` block of README.md and docs/*.md is
a test (Sybil), so a renamed function breaks the build, not the user.

How a page runs (docs/python-api.md, "Documentation that runs", says the same to readers):

- Blocks of one page run in order, in one fresh temporary directory (Python blocks share one
  namespace), with ``MSSFE_CACHE_DIR`` pointing inside it; ``benchmarks/`` and ``docs/`` of
  the repository are linked there, read-only, for commands that read committed tables.
- Shell blocks run in ``bash -e -o pipefail`` with the virtual environment first on ``PATH``
  and one documented override: ``mssfe train`` gets ``--epochs 2 --patience 2 --seed 0 --max-test 200``,
  ``mssfe benchmark`` gets ``--epochs 1 --patience 1 --seeds 1 --max-test 200`` and
  ``mssfe demo`` gets ``--epochs 2 --max-test 200`` appended (later options win), so the commands a reader
  copies keep their real budgets while CI checks they run.
- A block that cannot run here (several nodes, downloads, ``make`` itself) is preceded by
  ``<!-- skip: next "why" -->`` in the page; the reason shows in the test report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser, SkipParser

REPO = Path(__file__).resolve().parent

# The documented override: CI runs the commands of the docs with these options appended.
QUICK = {
    "train": "--epochs 2 --patience 2 --seed 0 --max-test 200",
    "benchmark": "--epochs 1 --patience 1 --seeds 1 --max-test 200",
    "demo": "--epochs 2 --max-test 200",
}
SHELL_PRELUDE = (
    'mssfe() {\n  case "${1:-}" in\n'
    + "".join(f'    {cmd}) command mssfe "$@" {extra} ;;\n' for cmd, extra in QUICK.items())
    + '    *) command mssfe "$@" ;;\n  esac\n}\n'
)


def _setup(namespace: dict[str, Any]) -> None:
    work = Path(tempfile.mkdtemp(prefix="mssfe-docs-"))
    for name in ("benchmarks", "docs"):
        (work / name).symlink_to(REPO / name)
    namespace["_docs"] = {
        "dir": work,
        "cwd": os.getcwd(),
        "cache": os.environ.get("MSSFE_CACHE_DIR"),
    }
    os.environ["MSSFE_CACHE_DIR"] = str(work / ".cache")
    os.chdir(work)


def _teardown(namespace: dict[str, Any]) -> None:
    state = namespace["_docs"]
    os.chdir(state["cwd"])
    if state["cache"] is None:
        os.environ.pop("MSSFE_CACHE_DIR", None)
    else:
        os.environ["MSSFE_CACHE_DIR"] = state["cache"]
    shutil.rmtree(state["dir"], ignore_errors=True)


def _run_shell(example: Example) -> None:
    work = example.namespace["_docs"]["dir"]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MSSFE_CACHE_DIR": str(work / ".cache"),
    }
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", SHELL_PRELUDE + str(example.parsed)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"shell block exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )


pytest_collect_file = Sybil(
    parsers=[
        SkipParser(),
        PythonCodeBlockParser(),
        CodeBlockParser(language="bash", evaluator=_run_shell),
    ],
    patterns=["README.md", "docs/*.md"],
    setup=_setup,
    teardown=_teardown,
).pytest()
