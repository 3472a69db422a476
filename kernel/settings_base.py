"""The frame of every settings group: a frozen pydantic model read from its own
``SCANGUARD_*`` variables by pydantic-settings (kernel/settings.py declares the groups)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.secret_values import ConfigurationError

__all__ = ["Environment", "Group", "IPNetwork", "networks"]

Environment = Literal["development", "test", "production"]
IPNetwork = IPv4Network | IPv6Network
G = TypeVar("G", bound="Group")


class Group(BaseModel):
    """A settings group: frozen, no unknown fields; ``ENV_PREFIX`` names its variables."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    ENV_PREFIX: ClassVar[str] = "SCANGUARD_"

    @classmethod
    def from_env(cls: type[G]) -> G:
        """This group read from ``ENV_PREFIX + FIELD`` variables (unset or empty: default)."""
        loader = type(
            f"{cls.__name__}FromEnv",
            (BaseSettings, cls),
            {
                "model_config": SettingsConfigDict(
                    env_prefix=cls.ENV_PREFIX,
                    env_ignore_empty=True,
                    extra="ignore",
                    frozen=True,
                    case_sensitive=False,
                )
            },
        )
        try:
            values = loader().model_dump()
        except ValidationError as exc:
            problems = "; ".join(f"{_variable(cls, e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(problems) from exc
        return cls.model_validate(values)


def _variable(group: type[Group], loc: tuple[int | str, ...]) -> str:
    name = "_".join(str(part) for part in loc).upper()
    return name if name.startswith("SCANGUARD_") else group.ENV_PREFIX + name


def networks(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip())
    return value
