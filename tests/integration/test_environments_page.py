"""The Environments page's state against PostgreSQL (no browser): create/edit with errors beside the
fields and nothing stored on refusal, secrets shown only as references, clone, delete with confirmation,
connection profiles; every service call off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestra_app.pages import environments as page
from orchestra_app.services import session as svc
from state import environments as env_state
from tests.fixtures.runs import app_database

pytestmark = pytest.mark.integration

S = env_state.EnvironmentsState
THREADS: list[int] = []  # threads that ran service calls (in the current call)
CALLS = [0]  # service calls seen so far


@pytest.fixture
def state(migrated_pg_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with app_database(migrated_pg_engine.url.render_as_string(hide_password=False), str(tmp_path)):
        threads = THREADS
        for name in ("run", "write"):
            original = getattr(svc, name)

            def recorded(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                threads.append(threading.get_ident())
                return _original(*args, **kwargs)

            monkeypatch.setattr(svc, name, recorded)
        THREADS[:] = []
        CALLS[0] = 0
        yield S()
        THREADS[:] = []


def call(state: Any, handler: Any, *args: Any) -> None:
    """Runs a handler on an event loop of its own and checks no service call ran on that loop."""
    loop_thread: list[int] = []
    CALLS[0] += len(THREADS)
    THREADS[:] = []  # ids of ended threads are reused: look at this call's service calls only

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        result = handler.fn(state, *args)
        if asyncio.iscoroutine(result):
            await result

    failure: list[BaseException] = []

    def runner() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            failure.append(exc)

    # a loop of its own on a thread of its own (the test process may already have a running loop)
    thread = threading.Thread(target=runner)
    thread.start()
    thread.join(120)
    if failure:
        raise failure[0]
    assert loop_thread[0] not in THREADS


def test_create_edit_clone_delete_with_errors_beside_fields(state: Any) -> None:
    call(state, S.load)
    assert state.environments == [] and state.error == ""
    call(state, S.new_environment)
    assert state.env_open
    call(state, S.set_env_field, "name", "staging")
    call(state, S.set_env_field, "services", "shop: [not, a, mapping")
    call(state, S.save_environment)
    assert "Services is not valid YAML" in state.env_errors["services"]
    # a literal token is refused beside "services", naming the field, without echoing the value
    call(
        state,
        S.set_env_field,
        "services",
        "shop: {baseUrl: 'http://h', auth: {type: bearer, token: hunter2-xyz}}",
    )
    call(state, S.save_environment)
    assert "services.shop.auth.token" in state.env_errors["services"]
    assert "hunter2-xyz" not in state.env_errors["services"]
    call(state, S.load)
    assert state.environments == []  # nothing stored on refusal
    call(
        state,
        S.set_env_field,
        "services",
        "shop:\n  baseUrl: http://h\n  auth: {type: bearer, token: {secret: SHOP_TOKEN}}",
    )
    call(state, S.set_env_field, "secrets", "SHOP_TOKEN: {env: STAGING_TOKEN}")
    call(state, S.set_env_field, "profiles", "db: {main: missing-profile}")
    call(state, S.save_environment)
    assert "missing-profile" in state.env_errors["profiles"] and state.env_open

    # a profile first: a literal password lands beside the settings
    call(state, S.new_profile)
    call(state, S.set_profile_field, "name", "shop-pg")
    call(state, S.set_profile_field, "settings", "url: postgresql://h/shop\npassword: plain-pw-123")
    call(state, S.save_profile)
    assert (
        "password" in state.profile_errors["settings"]
        and "plain-pw-123" not in state.profile_errors["settings"]
    )
    call(state, S.set_profile_field, "settings", "url: postgresql://h/shop\npassword: {secret: DB_PASSWORD}")
    call(state, S.save_profile)
    assert state.profile_errors == {} and not state.profile_open
    assert [(p["kind"], p["name"], p["secrets"]) for p in state.profiles] == [
        ("db", "shop-pg", "DB_PASSWORD")
    ]
    call(state, S.new_profile)
    call(state, S.set_profile_field, "name", "shop-pg")
    call(state, S.set_profile_field, "settings", "url: postgresql://h/other")
    call(state, S.save_profile)
    assert "already exists" in state.profile_errors["name"]
    call(state, S.close_profile)

    call(state, S.new_environment)
    call(state, S.set_env_field, "name", "staging")
    call(
        state,
        S.set_env_field,
        "services",
        "shop:\n  baseUrl: http://h\n  auth: {type: bearer, token: {secret: SHOP_TOKEN}}",
    )
    call(state, S.set_env_field, "secrets", "SHOP_TOKEN: {env: STAGING_TOKEN}")
    call(state, S.set_env_field, "profiles", "db: {main: shop-pg}")
    call(state, S.save_environment)
    assert state.env_errors == {} and not state.env_open, state.env_errors
    assert [(e["name"], e["db"], e["secrets"]) for e in state.environments] == [
        ("staging", "main", "SHOP_TOKEN")
    ]
    env_id = state.environments[0]["id"]

    # editing shows the references, and saving twice from the same version is refused (lost update)
    call(state, S.edit_environment, env_id)
    assert (
        "secret: SHOP_TOKEN" in state.env_form["services"]
        and "env: STAGING_TOKEN" in state.env_form["secrets"]
    )
    assert state.env_form["profiles"].strip() == "db:\n  main: shop-pg"
    call(state, S.set_env_field, "description", "v2")
    call(state, S.save_environment)
    assert "version 2" in state.message
    call(state, S.edit_environment, env_id)
    state.env_version = 1  # another tab still holding version 1
    call(state, S.save_environment)
    assert "changed meanwhile" in state.env_errors["form"]

    call(state, S.ask_clone, env_id, "staging")
    assert state.clone_name == "staging-copy"
    call(state, S.set_clone_name, "staging")
    call(state, S.clone)
    assert "already exists" in state.clone_error
    call(state, S.set_clone_name, "staging-2")
    call(state, S.clone)
    assert sorted(e["name"] for e in state.environments) == ["staging", "staging-2"]

    # delete asks first; a mapped profile is refused with the environments named
    profile_id = state.profiles[0]["id"]
    call(state, S.ask_delete, "db", profile_id, "shop-pg")
    assert state.delete_id == profile_id
    call(state, S.confirm_delete)
    assert "staging" in state.delete_error and len(state.profiles) == 1
    call(state, S.cancel_delete)
    for row in list(state.environments):
        call(state, S.ask_delete, "environment", row["id"], row["name"])
        call(state, S.cancel_delete)
        assert len(state.environments) == 2  # cancelled: still there
    for row in list(state.environments):
        call(state, S.ask_delete, "environment", row["id"], row["name"])
        call(state, S.confirm_delete)
    assert state.environments == []
    call(state, S.ask_delete, "db", profile_id, "shop-pg")
    call(state, S.confirm_delete)
    assert state.profiles == [] and state.delete_error == ""
    assert CALLS[0] + len(THREADS) > 20  # the service calls were made (each off the handler's loop)


def test_the_page_renders() -> None:
    text = str(page.index())
    for element in ("environments-table", "profiles-table", "env-save", "profile-save", "delete-confirm"):
        assert element in text
