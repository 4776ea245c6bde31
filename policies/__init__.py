"""Agreements compiled to Casbin rules, decided by FastEnforcer, with reasons for every denial."""

from policies.compiler import AUDIT_OBJECT, CompiledRule, bundle_digest, compile_agreement, format_time
from policies.decision import DENY_REASONS, Decision, DenyReason, Request
from policies.enforcer import (
    LivePolicy,
    PolicyCheckFailed,
    PolicyEnforcer,
    PolicyInconsistency,
    new_fast_enforcer,
)
from policies.reference import reference_allows

__all__ = [
    "AUDIT_OBJECT",
    "DENY_REASONS",
    "CompiledRule",
    "Decision",
    "DenyReason",
    "LivePolicy",
    "PolicyCheckFailed",
    "PolicyEnforcer",
    "PolicyInconsistency",
    "Request",
    "bundle_digest",
    "compile_agreement",
    "format_time",
    "new_fast_enforcer",
    "reference_allows",
]
