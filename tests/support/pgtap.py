"""Runs the pgTAP files in supabase/tests as pytest items, like `supabase test db` does
with pg_prove: a failing assertion fails the item and is named in the report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

import pytest

from . import database

HELPERS_FILE = "00000_test_helpers.sql"
_helpers_loaded: set[str] = set()


def ensure_helpers(url: str, folder) -> None:
    """Load the tests.* helpers once, so any single pgTAP file can also run on its own."""
    if url in _helpers_loaded:
        return
    code, _, err = run_file(url, folder / HELPERS_FILE)
    if code != 0:
        raise PgTapFailure(f"loading {HELPERS_FILE} failed: {err.strip()}")
    _helpers_loaded.add(url)


PLAN = re.compile(r"^1\.\.(\d+)")
RESULT = re.compile(r"^(not ok|ok)\s+(\d+)\s*(?:-\s*)?(.*)$")


@dataclass
class TapResult:
    planned: int | None = None
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)


def parse_tap(output: str) -> TapResult:
    result = TapResult()
    for line in output.splitlines():
        line = line.strip()
        if m := PLAN.match(line):
            result.planned = int(m.group(1))
        elif m := RESULT.match(line):
            (result.failed if m.group(1) == "not ok" else result.passed).append(f"{m.group(2)} - {m.group(3)}")
        elif line.startswith("#"):
            result.diagnostics.append(line)
    return result


def run_file(url: str, path) -> tuple[int, str, str]:
    proc = subprocess.run(
        ["psql", url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


class PgTapFailure(Exception):
    pass


class PgTapFile(pytest.File):
    def collect(self):
        yield PgTapItem.from_parent(self, name=self.path.name)


class PgTapItem(pytest.Item):
    totals = {"files": 0, "passed": 0, "failed": 0}

    def runtest(self):
        url = database.session_database()
        ensure_helpers(url, self.path.parent)
        code, out, err = run_file(url, self.path)
        result = parse_tap(out)
        PgTapItem.totals["files"] += 1
        PgTapItem.totals["passed"] += len(result.passed)
        PgTapItem.totals["failed"] += len(result.failed)
        problems = []
        if code != 0:
            problems.append(f"psql exited {code}: {err.strip()}")
        if result.failed:
            problems.append("failed assertions:\n  " + "\n  ".join(result.failed))
        ran = len(result.passed) + len(result.failed)
        if result.planned is None:
            problems.append("no plan printed")
        elif result.planned != ran:
            problems.append(f"planned {result.planned} assertions but ran {ran}")
        if problems:
            detail = "\n".join(problems + result.diagnostics[:40])
            raise PgTapFailure(detail)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, PgTapFailure):
            return f"pgTAP {self.path.name}:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"pgTAP {self.path.name}"
