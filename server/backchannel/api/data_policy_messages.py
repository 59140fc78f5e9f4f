"""A recipient's data policy and required consent purposes, between the API's messages
and the stored record, and what RecipientService checks in them."""

from __future__ import annotations

from typing import Any

from backchannel_client.v1 import recipient_pb2

from backchannel.api.errors import Violations
from backchannel.api.subject_validation import MAX_PURPOSES, PURPOSE
from backchannel.data_policy import (
    DOCUMENT_PARTS,
    SUBJECT,
    SUBJECT_FIELDS,
    DataPolicy,
    SubjectAccess,
)
from backchannel.personal_hashing import HashRules

_ACCESS: dict[recipient_pb2.SubjectAccess.ValueType, SubjectAccess] = {
    recipient_pb2.SUBJECT_ACCESS_UNSPECIFIED: "excluded",
    recipient_pb2.SUBJECT_ACCESS_EXCLUDED: "excluded",
    recipient_pb2.SUBJECT_ACCESS_HASHED: "hashed",
    recipient_pb2.SUBJECT_ACCESS_RAW: "raw",
}
_ACCESS_VALUES: dict[SubjectAccess, recipient_pb2.SubjectAccess.ValueType] = {
    "excluded": recipient_pb2.SUBJECT_ACCESS_EXCLUDED,
    "hashed": recipient_pb2.SUBJECT_ACCESS_HASHED,
    "raw": recipient_pb2.SUBJECT_ACCESS_RAW,
}
_RULES: dict[recipient_pb2.HashRules.ValueType, HashRules] = {
    recipient_pb2.HASH_RULES_UNSPECIFIED: "normalized",
    recipient_pb2.HASH_RULES_NORMALIZED: "normalized",
    recipient_pb2.HASH_RULES_GOOGLE: "google",
    recipient_pb2.HASH_RULES_META: "meta",
}
_RULE_VALUES: dict[HashRules, recipient_pb2.HashRules.ValueType] = {
    "normalized": recipient_pb2.HASH_RULES_NORMALIZED,
    "google": recipient_pb2.HASH_RULES_GOOGLE,
    "meta": recipient_pb2.HASH_RULES_META,
}
MAX_ALLOWED_FIELDS = 64
#: A choice the caller left unset, as stored (read as its default).
UNSET = "unspecified"


def stored_policy(recipient: recipient_pb2.Recipient) -> dict[str, Any] | None:
    """What the recipient's ``data_policy`` column takes (None when it sets none): the
    policy as given, an unset choice kept unset (read as its default), so that reading it
    back gives what was written and a declarative ``apply`` sees no change."""
    if not recipient.HasField("data_policy"):
        return None
    message = recipient.data_policy
    return {
        "allowed_fields": list(message.allowed_fields),
        "subject_access": _ACCESS.get(message.subject_access, "excluded")
        if message.subject_access
        else UNSET,
        "hash_rules": _RULES.get(message.hash_rules, "normalized") if message.hash_rules else UNSET,
    }


def given_policy_message(stored: dict[str, Any]) -> recipient_pb2.DataPolicy:
    """The policy as it was given (see stored_policy)."""
    access = stored.get("subject_access", UNSET)
    rules = stored.get("hash_rules", UNSET)
    return recipient_pb2.DataPolicy(
        allowed_fields=stored.get("allowed_fields", []),
        subject_access=_ACCESS_VALUES.get(access, recipient_pb2.SUBJECT_ACCESS_UNSPECIFIED),
        hash_rules=_RULE_VALUES.get(rules, recipient_pb2.HASH_RULES_UNSPECIFIED),
    )


def policy_message(policy: DataPolicy) -> recipient_pb2.DataPolicy:
    return recipient_pb2.DataPolicy(
        allowed_fields=[".".join(p) for p in policy.allowed_fields],
        subject_access=_ACCESS_VALUES[policy.subject_access],
        hash_rules=_RULE_VALUES[policy.hash_rules],
    )


def validate_privacy(recipient: recipient_pb2.Recipient, v: Violations) -> None:
    """Every problem of the recipient's data policy and required consent purposes."""
    purposes = recipient.required_consent_purposes
    if len(purposes) > MAX_PURPOSES:
        v.add("recipient.required_consent_purposes", f"must name at most {MAX_PURPOSES}")
    for index, purpose in enumerate(purposes):
        if not PURPOSE.fullmatch(purpose):
            v.add(
                f"recipient.required_consent_purposes[{index}]",
                "must be 1 to 64 lower-case letters, digits and _, starting with a letter",
            )
        elif purpose in purposes[:index]:
            v.add(f"recipient.required_consent_purposes[{index}]", f"names {purpose!r} twice")
    if not recipient.HasField("data_policy"):
        return
    policy = recipient.data_policy
    if policy.subject_access not in _ACCESS:
        v.add("recipient.data_policy.subject_access", "is not a known subject access")
    if policy.hash_rules not in _RULES:
        v.add("recipient.data_policy.hash_rules", "is not a known set of hash rules")
    if len(policy.allowed_fields) > MAX_ALLOWED_FIELDS:
        v.add("recipient.data_policy.allowed_fields", f"must name at most {MAX_ALLOWED_FIELDS}")
    excluded = _ACCESS.get(policy.subject_access, "excluded") == "excluded"
    for index, path in enumerate(policy.allowed_fields):
        field = f"recipient.data_policy.allowed_fields[{index}]"
        keys = path.split(".")
        if not all(k and (k.isidentifier() and not k.isdigit()) for k in keys):
            v.add(field, "must be a dotted path of names, e.g. outcome.value")
        elif keys[0] == SUBJECT:
            if len(keys) > 2 or (len(keys) == 2 and keys[1] not in SUBJECT_FIELDS):
                v.add(field, f"the subject's fields are {', '.join(SUBJECT_FIELDS)}")
            elif excluded:
                v.add(
                    field,
                    "names a personal identifier, but subject_access excludes them: set "
                    "subject_access to hashed (or raw, to send them readable)",
                )
        elif keys[0] not in DOCUMENT_PARTS:
            parts = ", ".join(DOCUMENT_PARTS)
            v.add(field, f"{keys[0]!r} is not a part of feedback; parts: {parts}")
