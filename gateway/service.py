"""Scan service (placeholder while the hot path is written)."""

from __future__ import annotations

from anticounterfeit.codes import Keyring
from anticounterfeit.metadata import CodeMetadataService
from kernel.runtime import Runtime

__all__ = ["ScanService"]


class ScanService:
    def __init__(self, runtime: Runtime, keyring: Keyring, metadata: CodeMetadataService) -> None:
        self.rt = runtime
        self.keyring = keyring
        self.metadata = metadata

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
