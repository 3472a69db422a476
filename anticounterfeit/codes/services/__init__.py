"""Code rolls, write side: issuance, export plans and lifecycle range events.

The public names of the former ``services`` module stay importable from here; the reads
(rolls, roll state, code lookup) live in ``anticounterfeit.codes.queries`` and are
re-exported for the same reason.
"""

from __future__ import annotations

from anticounterfeit.codes.queries import (
    CodeLookup,
    RollState,
    batch_lots,
    get_roll,
    list_rolls,
    lookup_code,
    product_gtins,
    product_of_gtin,
    roll_state,
)
from anticounterfeit.codes.services.export_plan import ExportPlan, plan_export
from anticounterfeit.codes.services.issuance import (
    MAX_ROLL_COUNT,
    IssueRequest,
    IssueResult,
    issue_roll,
    issue_roll_and_commit,
)
from anticounterfeit.codes.services.lifecycle import (
    MAX_VOID_CODES,
    CodeVoidResult,
    activate_range,
    bind_batch_range,
    void_codes,
    void_range,
)

__all__ = [
    "MAX_ROLL_COUNT",
    "MAX_VOID_CODES",
    "CodeLookup",
    "CodeVoidResult",
    "ExportPlan",
    "IssueRequest",
    "IssueResult",
    "RollState",
    "activate_range",
    "batch_lots",
    "bind_batch_range",
    "get_roll",
    "issue_roll",
    "issue_roll_and_commit",
    "list_rolls",
    "lookup_code",
    "plan_export",
    "product_gtins",
    "product_of_gtin",
    "roll_state",
    "void_codes",
    "void_range",
]
