"""Twilio secrets at rest: ciphertext only, AES-256, wrong key fails cleanly, rotation resumable."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import psycopg
import pytest

from numeraloop.errors import ApiError
from numeraloop.twilio import credentials
from tests.conftest import TEST_ENCRYPTION_KEY
from tests.support.database import ROOT, acting_as

NEW_KEY = "second-generation-key-fedcba9876543210fedcba9876543210"


def fake_sid(prefix: str, n: int) -> str:
    return prefix + f"{n:032x}"


def store_account(db, config, workspace_id, n, token=None):
    with db.transaction():
        db.execute("select set_config('role', 'service_role', true)")
        credentials.store(
            db,
            config,
            workspace_id=workspace_id,
            account_sid=fake_sid("AC", n),
            auth_token=token or f"token-{n:04d}-plaintext-marker",
            api_key_sid=fake_sid("SK", n),
            api_key_secret=f"keysecret-{n:04d}-plaintext-marker",
            twiml_app_sid=fake_sid("AP", n),
            friendly_name="Acme",
            account_status="active",
            actor=None,
        )


def load(db, config, workspace_id):
    with db.transaction():
        db.execute("select set_config('role', 'service_role', true)")
        return credentials.load_for_workspace(db, config, workspace_id)


def test_stored_bytes_hold_no_plaintext_and_are_aes256(db, service_config, make_user):
    user = make_user()
    store_account(db, service_config, user.workspace_id, 1, token="0123456789abcdef0123456789abcdef")
    row = db.execute(
        "select c.* from private.twilio_credentials c join public.twilio_accounts a on a.id = c.twilio_account_id "
        "where a.workspace_id = %s",
        (user.workspace_id,),
    ).fetchone()
    blob = bytes(row["auth_token_encrypted"])
    assert b"0123456789abcdef" not in blob
    assert b"keysecret" not in bytes(row["api_key_secret_encrypted"])
    # OpenPGP (RFC 4880) symmetric-key session packet: new-format tag 3 (0xC3), length,
    # version 4, then the cipher algorithm: 9 is AES-256.
    assert blob[0] == 0xC3 and blob[2] == 4
    assert blob[3] == 9, "cipher algorithm must be AES-256 (9)"
    creds = load(db, service_config, user.workspace_id)
    assert creds.auth_token == "0123456789abcdef0123456789abcdef"
    assert "0123456789abcdef" not in repr(creds)


def test_wrong_key_fails_with_a_clear_error_that_leaks_nothing(db, service_config, make_user, caplog):
    user = make_user()
    store_account(db, service_config, user.workspace_id, 2)
    wrong = dataclasses.replace(service_config, encryption_key="a-completely-different-key-000000")
    with pytest.raises(ApiError) as excinfo:
        load(db, wrong, user.workspace_id)
    assert excinfo.value.code == "credentials_unavailable"
    text = excinfo.value.message + " ".join(r.getMessage() for r in caplog.records)
    assert "plaintext-marker" not in text and TEST_ENCRYPTION_KEY not in text
    assert "key version 1" in " ".join(r.getMessage() for r in caplog.records)


def test_only_service_role_may_decrypt(database_url, make_user):
    user = make_user()
    with acting_as(database_url, "authenticated", user.claims) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "select * from private.twilio_credentials_for_workspace(%s, '{}'::jsonb)", (user.workspace_id,)
            )
    with acting_as(database_url, "authenticated", user.claims) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from private.twilio_credentials")
    with acting_as(database_url, "anon") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from private.reencrypt_twilio_credentials('{}'::jsonb, 'x', 2, 1)")


@pytest.fixture
def back_on_the_test_key(database_url):
    """Every stored secret is under the suite's key again afterwards, however the test ended:
    rotation rewrites every row in the database, and later tests decrypt with that key."""
    yield
    both = {"1": TEST_ENCRYPTION_KEY, "2": NEW_KEY}
    credentials.rotate(database_url, both, TEST_ENCRYPTION_KEY, 1)
    assert set(credentials.key_versions(database_url)) <= {1}


def test_rotation_interrupted_half_way_then_run_again(
    db, database_url, service_config, make_user, back_on_the_test_key
):
    users = [make_user(f"rot{i}") for i in range(5)]
    for i, u in enumerate(users):
        store_account(db, service_config, u.workspace_id, 100 + i)
    old_ring = service_config.keyring()

    class Interrupted(Exception):
        pass

    def stop_after_two(done):
        if done >= 2:
            raise Interrupted

    # Other tests' rows are in the same database: they rotate too, which is what a real run does.
    with pytest.raises(Interrupted):
        credentials.rotate(database_url, old_ring, NEW_KEY, 2, batch=2, progress=stop_after_two)
    versions = credentials.key_versions(database_url)
    assert versions.get(2) == 2 and versions.get(1), "half-way: some rows on each key"

    # While half-way, a service holding both keys reads every row.
    both = dataclasses.replace(
        service_config,
        encryption_key=NEW_KEY,
        encryption_key_version=2,
        previous_encryption_key=TEST_ENCRYPTION_KEY,
        previous_encryption_key_version=1,
    )
    assert all(
        load(db, both, u.workspace_id).auth_token == f"token-{100 + i:04d}-plaintext-marker"
        for i, u in enumerate(users)
    )

    # Run again, through the CLI as an operator would.
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NUMERALOOP_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
        "NUMERALOOP_NEW_ENCRYPTION_KEY": NEW_KEY,
    }
    done = subprocess.run(
        [sys.executable, "-m", "numeraloop.cli", "rotate-key", "--new-version", "2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert NEW_KEY not in done.stdout + done.stderr
    assert set(credentials.key_versions(database_url)) == {2}

    only_new = dataclasses.replace(service_config, encryption_key=NEW_KEY, encryption_key_version=2)
    for i, u in enumerate(users):
        creds = load(db, only_new, u.workspace_id)
        assert creds.auth_token == f"token-{100 + i:04d}-plaintext-marker"
        assert creds.api_key_secret == f"keysecret-{100 + i:04d}-plaintext-marker"
    with pytest.raises(ApiError):
        load(db, service_config, users[0].workspace_id)  # the old key alone no longer works


def test_rotate_key_refuses_a_key_on_the_command_line_or_missing(database_url):
    env = {k: v for k, v in os.environ.items() if k != "NUMERALOOP_NEW_ENCRYPTION_KEY"}
    env.update(DATABASE_URL=database_url, NUMERALOOP_ENCRYPTION_KEY=TEST_ENCRYPTION_KEY)
    r = subprocess.run(
        [sys.executable, "-m", "numeraloop.cli", "rotate-key", "--new-version", "3"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 2
    assert "NUMERALOOP_NEW_ENCRYPTION_KEY" in r.stderr
