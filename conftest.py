"""Project-wide pytest setup: one freshly migrated test database per run, and the pgTAP
files of supabase/tests collected as tests."""

from __future__ import annotations

import pytest

from tests.support import database, pgtap

pytest_plugins = ("tests.support.api_contract",)  # /api/v1 answers held against the OpenAPI description


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".sql" and "supabase" in file_path.parts and "tests" in file_path.parts:
        return pgtap.PgTapFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(session, config, items):
    # pgTAP files roll back and expect the freshly migrated database; Python tests commit rows.
    # Run the pgTAP files first whatever order the paths were given in.
    items.sort(key=lambda item: 0 if isinstance(item, pgtap.PgTapItem) else 1)


@pytest.fixture(scope="session")
def database_url():
    """The test database, dropped, recreated and migrated once for this run."""
    return database.session_database()


def pytest_unconfigure(config):
    database.release_session_database()


def pytest_terminal_summary(terminalreporter):
    totals = pgtap.PgTapItem.totals
    if totals["files"]:
        terminalreporter.write_line(
            f"pgTAP: {totals['passed']} assertions passed, {totals['failed']} failed, in {totals['files']} files"
        )
