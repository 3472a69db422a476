"""Demo data for ``make run``: one brand, users, products, a batch and codes in every state."""

from __future__ import annotations

from kernel.settings import Settings

__all__ = ["print_banner", "seed_demo"]


def seed_demo(settings: Settings) -> None:
    raise NotImplementedError("demo seed comes with the services")


def print_banner(settings: Settings, host: str, port: int) -> None:
    print(f"scanguard on http://{host}:{port}  (OpenAPI: http://{host}:{port}/schema)")
