"""The one base of the immutable value models (facts, plans): pydantic, frozen. Pure."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)
