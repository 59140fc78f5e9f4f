"""A recipient's data policy (data minimization), and the cut it makes.

The host builds the feedback document, then cuts it to what the recipient's policy allows,
and only then hands it to a formatter (and, through ``OutboundMessage.document``, to the
transport): no format, template or plugin can reach a field the policy excludes, because
the document it gets no longer holds it.

A policy is an allowlist of dotted paths of the document (``lead_id``, ``outcome``,
``outcome.value``, ``subject.email``) and how the subject's personal identifiers may go:
``excluded`` (the default), ``hashed`` (normalized and SHA-256, per ``hash_rules``, see
backchannel.personal_hashing) or ``raw`` (an explicit choice). With no allowlist every
part of the document except the subject is allowed. ``kind`` is always kept: formatters
and event types are made from it, and it says nothing about the lead.

Stored on the recipient as ``{"allowed_fields": [...], "subject_access": "...",
"hash_rules": "..."}`` (a choice left unset stored as ``unspecified``, read as its
default); None is the default policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from backchannel_client.v1 import feedback_pb2

from backchannel.personal_hashing import HASH_RULES, HashRules, sha256_normalized
from backchannel.plugin import FeedbackDocument

SubjectAccess = Literal["excluded", "hashed", "raw"]
SUBJECT_ACCESS: tuple[SubjectAccess, ...] = get_args(SubjectAccess)

#: The top-level parts of the feedback document that are not personal identifiers.
DOCUMENT_PARTS: tuple[str, ...] = (
    "feedback_id", "kind", "lead_id", "source_id", "flow_id", "event_id", "click_id",
    "transaction_id", "feedback_date", "accepted_at", "outcome", "return", "quality",
    "attribution", "consents", "consent_purposes", "attributes",
)  # fmt: skip
SUBJECT = "subject"
SUBJECT_FIELDS: tuple[str, ...] = tuple(f.name for f in feedback_pb2.Subject.DESCRIPTOR.fields)


@dataclass(frozen=True)
class DataPolicy:
    #: Dotted paths, each a tuple of keys; empty: every part except the subject.
    allowed_fields: tuple[tuple[str, ...], ...] = ()
    subject_access: SubjectAccess = "excluded"
    hash_rules: HashRules = "normalized"

    @classmethod
    def stored(cls, value: Mapping[str, Any] | None) -> DataPolicy:
        """The policy a recipient's ``data_policy`` column holds (None: the default)."""
        if not value:
            return cls()
        access = value.get("subject_access", "excluded")
        rules = value.get("hash_rules", "normalized")
        return cls(
            allowed_fields=tuple(tuple(p.split(".")) for p in value.get("allowed_fields", ())),
            subject_access=access if access in SUBJECT_ACCESS else "excluded",
            hash_rules=rules if rules in HASH_RULES else "normalized",
        )

    @property
    def effective(self) -> DataPolicy:
        """The policy with its defaults filled in: the allowlist spelled out."""
        if self.allowed_fields:
            return self
        return DataPolicy(
            tuple((part,) for part in DOCUMENT_PARTS), self.subject_access, self.hash_rules
        )


DEFAULT_POLICY = DataPolicy()


def minimized(
    document: FeedbackDocument,
    policy: DataPolicy,
    subject: feedback_pb2.Subject | None = None,
) -> FeedbackDocument:
    """A new document holding only what ``policy`` allows of ``document`` and of the
    feedback's ``subject`` (its identifiers raw or hashed as the policy says)."""
    if not policy.allowed_fields:
        # The default: every part of the document, which never holds the subject itself.
        return document
    source: Mapping[str, Any] = document
    cut: dict[str, Any] = {"kind": source["kind"]} if "kind" in source else {}
    for path in policy.effective.allowed_fields:
        if path[0] == SUBJECT:
            continue
        value = _lookup(source, path)
        if value is not None:
            # A copy: a narrower path allowed too must not write into the document.
            _put(cut, path, dict(value) if isinstance(value, dict) else value)
    if subject is not None and policy.subject_access != "excluded":
        identifiers = _subject_part(subject, policy)
        if identifiers:
            cut[SUBJECT] = identifiers
    # Keys are the TypedDict's: copied from a document of that shape.
    return cast(FeedbackDocument, _ordered(cut, source))


def _subject_part(subject: feedback_pb2.Subject, policy: DataPolicy) -> dict[str, str]:
    names = _allowed_subject_fields(policy.allowed_fields)
    part: dict[str, str] = {}
    for name in names:
        value: str = getattr(subject, name)
        if not value:
            continue
        if policy.subject_access == "raw":
            part[name] = value
        else:
            hashed = sha256_normalized(name, value, policy.hash_rules, subject.country)
            if hashed is not None:
                part[name] = hashed
    return part


def _allowed_subject_fields(paths: Sequence[tuple[str, ...]]) -> list[str]:
    names: list[str] = []
    for path in paths:
        if path[0] != SUBJECT:
            continue
        wanted = SUBJECT_FIELDS if len(path) == 1 else (path[1],)
        names += [n for n in wanted if n in SUBJECT_FIELDS and n not in names]
    return names


def _lookup(document: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = document
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _put(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = document
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def _ordered(cut: dict[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """``cut`` with its top-level keys in the document's order (formats write that order)."""
    order = {key: index for index, key in enumerate(source)}
    return dict(sorted(cut.items(), key=lambda item: order.get(item[0], len(order))))
