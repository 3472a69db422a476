"""The gateway's face for packages that sit on it (loyalty): what a scanned code is.

Loyalty may depend on the gateway and the kernel only; it checks scanned codes through this
module instead of reaching into anticounterfeit (code format, PIN, roll metadata).
"""

from __future__ import annotations

from dataclasses import dataclass

from anticounterfeit.codes.format import Keyring, verify_code, verify_pin
from anticounterfeit.codes.identity import code_id_of
from anticounterfeit.codes.metadata import CodeMetadataService, CodeState, RollMetadata
from anticounterfeit.gs1.digital_link import parse_digital_link
from kernel.errors import InvalidInput

__all__ = ["ScannedCode", "ScannedCodes", "code_id_of"]


@dataclass(frozen=True, slots=True)
class ScannedCode:
    """A genuine code (its MAC verified) with its roll's metadata and its own state."""

    kid: int
    index: int
    code_id: int
    meta: RollMetadata
    state: CodeState


class ScannedCodes:
    """Verifies scanned codes against the keyring and the roll metadata cache."""

    def __init__(self, keyring: Keyring, metadata: CodeMetadataService) -> None:
        self.keyring = keyring
        self.metadata = metadata

    async def genuine(self, url: str, *, field: str = "url") -> ScannedCode:
        """The code a scanned Digital Link ``url`` names; a 422 problem naming ``field`` when
        the link is malformed (``invalid``) or the code is not genuine (``not_genuine``: bad
        MAC, unknown roll, or a GTIN that is not the roll's)."""
        link = parse_digital_link(url, field=field)
        decoded = verify_code(self.keyring, link.serial, link.gtin) if link.serial else None
        meta = await self.metadata.roll_for(decoded.kid, decoded.index) if decoded else None
        if decoded is None or meta is None or meta.product.gtin != link.gtin:
            raise InvalidInput("this is not a genuine code", code="not_genuine", field=field)
        return ScannedCode(
            kid=decoded.kid,
            index=decoded.index,
            code_id=code_id_of(decoded.kid, decoded.index),
            meta=meta,
            state=meta.state_of(decoded.index),
        )

    def pin_matches(self, kid: int, index: int, pin: str, length: int) -> bool:
        """Is ``pin`` the scratch-off PIN of code ``kid:index``? False for an unknown key."""
        key = self.keyring.get(kid)
        return key is not None and verify_pin(key, index, pin, length)
