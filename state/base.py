"""App-wide state: who is signed in (the development identity until OIDC) and section rows."""

from __future__ import annotations

import reflex as rx

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.tenancy import Principal
from orchestra_app.services import session as svc


class AppState(rx.State):
    """Identity shown in the header; every handler resolves the principal through services."""

    user_name: str = ""
    tenant_label: str = ""
    is_development: bool = False
    load_error: str = ""

    def principal(self) -> Principal:
        return svc.current_principal()

    @rx.event
    def load_identity(self) -> None:
        principal = self.principal()
        self.user_name = principal.display_name
        self.tenant_label = "Development tenant" if principal.is_development else str(principal.tenant_id)
        self.is_development = principal.is_development


class SectionState(AppState):
    """Rows of the list pages; one handler per section keeps each page's load cheap."""

    rows: dict[str, list[dict[str, str]]] = {}

    def _load(self, section: str) -> None:
        try:
            principal = self.principal()
            self.rows[section] = svc.section_rows(section, principal)
            self.load_error = ""
        except OrchestraError as exc:
            self.load_error = str(exc)

    @rx.event
    def load_processes(self) -> None:
        self._load("processes")

    @rx.event
    def load_specs(self) -> None:
        self._load("specs")

    @rx.event
    def load_suites(self) -> None:
        self._load("suites")

    @rx.event
    def load_data_sets(self) -> None:
        self._load("data_sets")

    @rx.event
    def load_environments(self) -> None:
        self._load("environments")

    @rx.event
    def load_runs(self) -> None:
        self._load("runs")

    @rx.event
    def load_reports(self) -> None:
        self._load("reports")

    @rx.event
    def load_admin(self) -> None:
        self._load("members")
        self._load("audit")
