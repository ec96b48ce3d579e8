"""Environments page state: list, create/edit (environments and connection profiles), clone, delete.

Structured parts (services, variables, secret sources, profile mappings, profile settings) are edited
as YAML text; a problem is shown beside the field it belongs to (the service's error names the field:
``services.shop.baseUrl`` lands beside "Services"). Secrets only ever appear as references
(``{secret: NAME}`` in a service or profile, ``NAME: {env: VAR} | {file: PATH}`` under secrets): the
services refuse literal values and never return one. Every service call runs off the event loop.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import reflex as rx
import yaml

from orchestra_app.domain.errors import OrchestraError, ValidationFailed
from orchestra_app.services import environments as env_service
from orchestra_app.services import session as svc
from state.base import AppState, blocking, error_text

ENV_FIELDS = ("name", "description", "services", "variables", "secrets", "profiles", "pluginConfig")
KINDS = list(env_service.KINDS)
LIST_LIMIT = 200


def _yaml_text(value: Any) -> str:
    if not value:
        return ""
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False).rstrip()


def _parse_yaml(text: str, field_name: str, label: str) -> dict[str, Any]:
    """The mapping a YAML field holds ('' -> {}); anything else names the field."""
    if not text.strip():
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValidationFailed(f"{label} is not valid YAML{where}", field=field_name) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(f"{label} must be a mapping (name: value lines)", field=field_name)
    return value


def field_of(exc: Exception, fields: tuple[str, ...]) -> str:
    """The form field a service error belongs to (first part of its dotted ``field``), else 'form'."""
    raw = getattr(exc, "field", None) or ""
    head = str(raw).split(".", 1)[0]
    return head if head in fields else "form"


def _profile_field(exc: OrchestraError) -> str:
    """name / kind errors beside those fields; a settings key (url, password, security.x...) beside
    the settings; the rest (not found, conflicts on the id) above the form."""
    if exc.field in ("name", "kind"):
        return exc.field
    if exc.field in (None, "", "id", "body"):
        return "form"
    return "settings"


def _env_row(item: dict[str, Any]) -> dict[str, str]:
    profiles = item.get("profiles") or {}
    return {
        "id": str(item["id"]),
        "name": str(item["name"]),
        "description": str(item.get("description") or ""),
        "services": ", ".join(item.get("services") or []) or "-",
        "db": ", ".join(profiles.get("db") or []) or "-",
        "kafka": ", ".join(profiles.get("kafka") or []) or "-",
        "queue": ", ".join(profiles.get("queue") or []) or "-",
        "secrets": ", ".join(item.get("secrets") or []) or "-",
        "version": str(item.get("version", 1)),
    }


def _profile_row(item: dict[str, Any]) -> dict[str, str]:
    return {
        "id": str(item["id"]),
        "kind": str(item["kind"]),
        "name": str(item["name"]),
        "target": str(item.get("target") or ""),
        "secrets": ", ".join(item.get("secrets") or []) or "-",
        "used_by": ", ".join(item.get("usedBy") or []) or "-",
    }


def _lists(principal: Any) -> tuple[list[dict[str, str]], list[dict[str, str]], str]:
    envs = svc.run(env_service.list_environments, principal, limit=LIST_LIMIT)
    profiles = svc.run(env_service.list_profiles, principal, limit=LIST_LIMIT)
    more = []
    if envs.truncated:
        more.append(f"showing {len(envs.items)} of {envs.total} environments")
    if profiles.truncated:
        more.append(f"showing {len(profiles.items)} of {profiles.total} profiles")
    return [_env_row(i) for i in envs.items], [_profile_row(i) for i in profiles.items], "; ".join(more)


class EnvironmentsState(AppState):
    environments: list[dict[str, str]] = []
    profiles: list[dict[str, str]] = []
    more_note: str = ""
    message: str = ""
    error: str = ""

    # environment editor ("" id: a new one)
    env_open: bool = False
    env_id: str = ""
    env_version: int = 0
    env_form: dict[str, str] = {}
    env_errors: dict[str, str] = {}

    # profile editor
    profile_open: bool = False
    profile_id: str = ""
    profile_form: dict[str, str] = {}
    profile_errors: dict[str, str] = {}

    # clone and delete (with confirmation)
    clone_source: str = ""
    clone_name: str = ""
    clone_error: str = ""
    delete_kind: str = ""  # "environment" or a profile kind
    delete_id: str = ""
    delete_name: str = ""
    delete_error: str = ""

    @rx.event
    async def load(self) -> None:
        try:
            principal = await self.caller()
            self.environments, self.profiles, self.more_note = await blocking(_lists, principal)
            self.error = ""
        except Exception as exc:
            self.error = error_text(exc, where="load environments")

    # ---- environments -------------------------------------------------------------------------------

    @rx.event
    def new_environment(self) -> None:
        self.env_id, self.env_version = "", 0
        self.env_form = {name: "" for name in ENV_FIELDS}
        self.env_errors = {}
        self.env_open = True

    @rx.event
    async def edit_environment(self, environment_id: str) -> None:
        self.env_errors = {}
        try:
            principal = await self.caller()
            view = await blocking(
                svc.run, env_service.get_environment, principal, environment_id=UUID(environment_id)
            )
        except Exception as exc:
            self.error = error_text(exc, where="edit environment")
            return
        self.env_id, self.env_version = str(view.id), view.version
        self.env_form = {
            "name": view.name,
            "description": view.description,
            "services": _yaml_text(view.services),
            "variables": _yaml_text(view.variables),
            "secrets": _yaml_text(view.secrets),
            "profiles": _yaml_text(
                {
                    kind: {alias: ref.name for alias, ref in refs.items()}
                    for kind, refs in view.profiles.items()
                    if refs
                }
            ),
            "pluginConfig": _yaml_text(view.plugin_config),
        }
        self.env_open = True

    @rx.event
    def set_env_field(self, name: str, value: str) -> None:
        self.env_form[name] = value
        self.env_errors.pop(name, None)

    @rx.event
    def close_environment(self) -> None:
        self.env_open = False
        self.env_errors = {}

    def _env_body(self) -> dict[str, Any]:
        form = self.env_form
        body: dict[str, Any] = {"name": form.get("name", ""), "description": form.get("description", "")}
        labels = {
            "services": "Services",
            "variables": "Variables",
            "secrets": "Secret sources",
            "profiles": "Connection profiles",
            "pluginConfig": "Plugin settings",
        }
        errors: dict[str, str] = {}
        for key, label in labels.items():
            try:
                body[key] = _parse_yaml(form.get(key, ""), key, label)
            except ValidationFailed as exc:
                errors[key] = exc.message
        if errors:
            self.env_errors = errors
            raise ValidationFailed("fix the fields marked")
        if self.env_id:
            body["version"] = self.env_version
        return body

    @rx.event
    async def save_environment(self) -> None:
        self.env_errors, self.message = {}, ""
        try:
            body = self._env_body()
        except ValidationFailed:
            return
        try:
            principal = await self.caller()
            if self.env_id:
                view = await blocking(
                    svc.write,
                    env_service.update_environment,
                    principal,
                    environment_id=UUID(self.env_id),
                    data=body,
                )
            else:
                view = await blocking(svc.write, env_service.create_environment, principal, data=body)
        except OrchestraError as exc:
            self.env_errors = {field_of(exc, ENV_FIELDS): str(exc)}
            return
        except Exception as exc:
            self.env_errors = {"form": error_text(exc, where="save environment")}
            return
        self.message = f"Saved environment {view.name} (version {view.version})."
        self.env_open = False
        await self.load()

    @rx.event
    def ask_clone(self, environment_id: str, name: str) -> None:
        self.clone_source, self.clone_name, self.clone_error = environment_id, f"{name}-copy", ""

    @rx.event
    def set_clone_name(self, value: str) -> None:
        self.clone_name, self.clone_error = value, ""

    @rx.event
    def cancel_clone(self) -> None:
        self.clone_source, self.clone_error = "", ""

    @rx.event
    async def clone(self) -> None:
        try:
            principal = await self.caller()
            view = await blocking(
                svc.write,
                env_service.clone_environment,
                principal,
                environment_id=UUID(self.clone_source),
                name=self.clone_name,
            )
        except Exception as exc:
            self.clone_error = error_text(exc, where="clone environment")
            return
        self.message = f"Cloned into {view.name}."
        self.clone_source = ""
        await self.load()

    # ---- delete (environments and profiles) ------------------------------------------------------------

    @rx.event
    def ask_delete(self, kind: str, item_id: str, name: str) -> None:
        self.delete_kind, self.delete_id, self.delete_name, self.delete_error = kind, item_id, name, ""

    @rx.event
    def cancel_delete(self) -> None:
        self.delete_id, self.delete_error = "", ""

    @rx.event
    async def confirm_delete(self) -> None:
        try:
            principal = await self.caller()
            if self.delete_kind == "environment":
                await blocking(
                    svc.write, env_service.delete_environment, principal, environment_id=UUID(self.delete_id)
                )
            else:
                await blocking(
                    svc.write,
                    env_service.delete_profile,
                    principal,
                    kind=self.delete_kind,
                    profile_id=UUID(self.delete_id),
                )
        except Exception as exc:
            self.delete_error = error_text(exc, where="delete")
            return
        self.message = f"Deleted {self.delete_name}."
        self.delete_id = ""
        await self.load()

    # ---- connection profiles -----------------------------------------------------------------------

    @rx.event
    def new_profile(self) -> None:
        self.profile_id = ""
        self.profile_form = {"kind": "db", "name": "", "settings": "url: postgresql://host:5432/db\n"}
        self.profile_errors = {}
        self.profile_open = True

    @rx.event
    async def edit_profile(self, kind: str, profile_id: str) -> None:
        self.profile_errors = {}
        try:
            principal = await self.caller()
            view = await blocking(
                svc.run, env_service.get_profile, principal, kind=kind, profile_id=UUID(profile_id)
            )
        except Exception as exc:
            self.error = error_text(exc, where="edit profile")
            return
        self.profile_id = str(view.id)
        self.profile_form = {"kind": view.kind, "name": view.name, "settings": _yaml_text(view.settings)}
        self.profile_open = True

    @rx.event
    def set_profile_field(self, name: str, value: str) -> None:
        self.profile_form[name] = value
        self.profile_errors.pop(name, None)

    @rx.event
    def close_profile(self) -> None:
        self.profile_open = False
        self.profile_errors = {}

    @rx.event
    async def save_profile(self) -> None:
        self.profile_errors, self.message = {}, ""
        form = self.profile_form
        kind = form.get("kind", "")
        if kind not in KINDS:
            self.profile_errors = {"kind": f"choose one of {', '.join(KINDS)}"}
            return
        try:
            settings = _parse_yaml(form.get("settings", ""), "settings", "Settings")
        except ValidationFailed as exc:
            self.profile_errors = {"settings": exc.message}
            return
        body = {"name": form.get("name", ""), "settings": settings}
        try:
            principal = await self.caller()
            if self.profile_id:
                view = await blocking(
                    svc.write,
                    env_service.update_profile,
                    principal,
                    kind=kind,
                    profile_id=UUID(self.profile_id),
                    data=body,
                )
            else:
                view = await blocking(svc.write, env_service.create_profile, principal, kind=kind, data=body)
        except OrchestraError as exc:
            self.profile_errors = {_profile_field(exc): str(exc)}
            return
        except Exception as exc:
            self.profile_errors = {"form": error_text(exc, where="save profile")}
            return
        self.message = f"Saved {view.kind} profile {view.name}."
        self.profile_open = False
        await self.load()
