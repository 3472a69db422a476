"""Bodies of the distributor identity API: staff accounts, API keys, login, the caller."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from channel_control.distributors.models import DistributorApiKey, DistributorUser
from channel_control.distributors.schemas import DistributorOut
from kernel.accounts import User

__all__ = [
    "ApiKeyCreate",
    "ApiKeyCreatedOut",
    "ApiKeyOut",
    "DistributorLogin",
    "DistributorMeOut",
    "DistributorTokenOut",
    "DistributorUserCreate",
    "DistributorUserOut",
]

Username = Annotated[
    str, Meta(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
]
Password = Annotated[str, Meta(max_length=1024)]  # bounded: argon2 cost must not be attackable


class _Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class DistributorUserCreate(_Input):
    username: Username
    password: Password


class DistributorUserOut(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    username: str
    distributor_id: uuid.UUID
    created_at: datetime
    disabled: bool

    @classmethod
    def of(cls, user: User, link: DistributorUser) -> DistributorUserOut:
        return cls(
            user_id=user.id,
            username=user.username,
            distributor_id=link.distributor_id,
            created_at=link.created_at,
            disabled=user.disabled_at is not None,
        )


class ApiKeyCreate(_Input):
    name: Annotated[str, Meta(min_length=1, max_length=100, description="e.g. 'WMS dock 3'")]


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    distributor_id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: DistributorApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            distributor_id=key.distributor_id,
            name=key.name,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreatedOut(ApiKeyOut, kw_only=True):
    key: str  # the secret: shown once, send it as X-Api-Key


class DistributorLogin(_Input):
    username: Annotated[str, Meta(max_length=100)]
    password: Password


class DistributorTokenOut(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int
    distributor_id: uuid.UUID


class DistributorMeOut(msgspec.Struct, kw_only=True):
    via: Literal["user", "api_key"]
    subject_id: uuid.UUID
    name: str
    brand_id: uuid.UUID
    distributor: DistributorOut
