"""Specs page: upload OpenAPI/AsyncAPI/protobuf files, list imported specs and their operations."""

from __future__ import annotations

from typing import Any, ClassVar

import reflex as rx

from components.feedback import import_feedback
from components.layout import page
from components.lists import Column, list_view
from components.tables import rows_table
from orchestra_app.domain.params import parse_uuid
from orchestra_app.services import session as svc
from orchestra_app.services import specs as spec_service
from state.base import AppState, blocking, error_text
from state.lists import ListState

ROUTE = "/specs"
TITLE = "Specs"
UPLOAD_ID = "spec-upload"


class SpecsState(AppState):
    import_message: str = ""
    import_error: str = ""
    import_warnings: list[str] = []
    operations: list[dict[str, str]] = []
    selected_spec: str = ""

    @rx.event
    async def handle_upload(self, files: list[rx.UploadFile]) -> Any:
        self.import_message, self.import_error, self.import_warnings = "", "", []
        if not files:
            self.import_error = "Choose an OpenAPI, AsyncAPI or .proto file first."
            return None
        try:
            principal = await self.caller()
        except Exception as exc:
            self.import_error = error_text(exc, where="spec upload")
            return None
        messages: list[str] = []
        errors: list[str] = []
        warnings: list[str] = []
        for upload in files:
            name = upload.name or upload.filename or "upload"
            data = await upload.read()
            try:
                # Parsing runs in a child process under the import budget, storing in a worker thread.
                r = await blocking(spec_service.import_file, principal, data=data, filename=name)
            except Exception as exc:
                errors.append(f"{name}: {error_text(exc, where='spec upload')}; nothing was stored")
                continue
            verb = "imported" if r.created else "already stored"
            messages.append(
                f"{name}: {verb} as {r.protocol_id} {r.service_name} {r.version} ({r.operations} operations)"
            )
            warnings.extend(f"{name}: {w}" for w in r.warnings)
        self.import_message = "\n".join(messages)
        self.import_error = "\n".join(errors)
        self.import_warnings = warnings[:200]
        return [rx.clear_selected_files(UPLOAD_ID), SpecList.refresh]

    @rx.event
    async def select_spec(self, spec_id: str) -> None:
        self.selected_spec = spec_id
        try:
            principal = await self.caller()
            self.operations = await blocking(
                svc.run, spec_service.spec_operations, principal, spec_id=parse_uuid(spec_id, name="spec")
            )
        except Exception as exc:
            self.import_error = error_text(exc, where="select spec")
            self.operations = []


def _upload_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Import a spec", size="4"),
            rx.upload(
                rx.vstack(
                    rx.icon("upload", size=20),
                    rx.text(
                        "Drop OpenAPI 3.x / Swagger 2.0 (JSON or YAML), AsyncAPI 2/3 or .proto files here",
                        size="2",
                    ),
                    rx.foreach(rx.selected_files(UPLOAD_ID), lambda f: rx.badge(f)),
                    align="center",
                    spacing="2",
                ),
                id=UPLOAD_ID,
                multiple=True,
                border=f"1px dashed {rx.color('gray', 7)}",
                padding="1.25rem",
                width="100%",
            ),
            rx.button(
                "Import",
                id="spec-import-button",
                on_click=SpecsState.handle_upload(rx.upload_files(upload_id=UPLOAD_ID)),
            ),
            import_feedback(
                message=SpecsState.import_message,
                error=SpecsState.import_error,
                warnings=SpecsState.import_warnings,
                id_prefix="spec-import",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


class SpecList(ListState, rx.State):
    """The specs list (shared list component): search service/version/file, filter by protocol, delete."""

    _section: ClassVar[str] = "specs"
    _delete_kind: ClassVar[str | None] = "spec"


def _specs_table() -> rx.Component:
    return list_view(
        SpecList,
        list_id="specs-table",
        columns=[
            Column("Protocol", "protocol"),
            Column("Service", "service", mono=True),
            Column("Version", "version"),
            Column("Operations", "operations"),
            Column("Status", "status"),
            Column("Imported", "created_at"),
        ],
        search_placeholder="Search service, version or file",
        filter_label="Protocol",
        empty_title="No specs imported yet",
        empty_hint="Import OpenAPI, AsyncAPI or protobuf files above, or run `orchestra spec import`.",
        row_actions=lambda row: rx.button(
            "Operations",
            size="1",
            variant="soft",
            on_click=SpecsState.select_spec(row["id"]),
            aria_label="Operations of " + row["service"],
            class_name="spec-operations",
        ),
        deletable=True,
        row_label="service",
    )


ON_LOAD = [AppState.load_identity, SpecList.load]


def index() -> rx.Component:
    return page(
        TITLE,
        _upload_card(),
        _specs_table(),
        rx.cond(
            SpecsState.selected_spec != "",
            rows_table(
                SpecsState.operations,
                [("Operation", "id"), ("Method", "method"), ("Path", "path"), ("Summary", "summary")],
                empty_title="No operations",
                empty_hint="The spec declares no operations.",
                table_id="operations-table",
            ),
        ),
    )
