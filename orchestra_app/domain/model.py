"""Shared pydantic base for the domain's JSON shapes (camelCase on the wire, snake_case in Python)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class DomainModel(BaseModel):
    """Base of every jsonb shape: validated on the way in, dumped by alias (camelCase)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_json_dict(self) -> dict:  # type: ignore[type-arg]
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
