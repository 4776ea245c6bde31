"""Machine-readable information-sharing agreements: model, loading, validation, lifecycle, diff, render."""

from agreements.approvals import Approval, ApprovalState, approval_state, document_digest
from agreements.durations import Duration, parse_duration
from agreements.lifecycle import STATUSES, TRANSITIONS, Status, TransitionError, effective_status, transition
from agreements.loader import Finding, InvalidAgreement, json_schema, load_file, loads
from agreements.model import (
    ACTIONS,
    ROLES,
    Action,
    Agreement,
    Constraints,
    Dataset,
    Disclosure,
    Field,
    Party,
    Permission,
    Prohibition,
    Role,
)
from agreements.validation import check, validate_file, validate_text

__all__ = [
    "ACTIONS",
    "ROLES",
    "STATUSES",
    "TRANSITIONS",
    "Action",
    "Agreement",
    "Approval",
    "ApprovalState",
    "Constraints",
    "Dataset",
    "Disclosure",
    "Duration",
    "Field",
    "Finding",
    "InvalidAgreement",
    "Party",
    "Permission",
    "Prohibition",
    "Role",
    "Status",
    "TransitionError",
    "approval_state",
    "check",
    "document_digest",
    "effective_status",
    "json_schema",
    "load_file",
    "loads",
    "parse_duration",
    "transition",
    "validate_file",
    "validate_text",
]
