"""What callers known by a client certificate may do (``BACKCHANNEL_CERTIFICATE_GRANTS``).

A table from identity (a certificate's URI SAN such as a SPIFFE id, else its DNS SAN, else
its CN: see api/peer_identity.py) to a grant, as JSON in the environment or a TOML table
in the settings file::

    [certificate_grants."spiffe://example.org/crm"]
    scopes = ["feedback:send", "feedback:read"]
    sources = ["SOURCE_ABC"]          # optional: only these sources
    recipients = ["acme-leads"]       # optional: only these recipients
"""

from __future__ import annotations

import json
from typing import Any

from backchannel.model import Grant, Scope

_KEYS = frozenset(("scopes", "sources", "recipients"))


def parse_certificate_grants(text: str) -> tuple[tuple[str, Grant], ...]:
    """The (identity, grant) pairs ``text`` (a JSON object) gives, by identity; ValueError
    naming every problem."""
    try:
        table = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise ValueError(f"expected a JSON object of identity -> grant: {error}") from None
    if not isinstance(table, dict):
        raise ValueError("expected a JSON object of identity -> grant")
    problems: list[str] = []
    grants = {}
    for identity, entry in table.items():
        grant = _grant(identity, entry, problems)
        if grant is not None:
            grants[identity] = grant
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(sorted(grants.items()))


def _grant(identity: str, entry: Any, problems: list[str]) -> Grant | None:
    if not identity.strip():
        problems.append("an identity must not be empty")
        return None
    if not isinstance(entry, dict):
        problems.append(f"{identity}: expected a table with scopes (and sources, recipients)")
        return None
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        problems.append(f"{identity}: unknown keys {unknown}; expected scopes, sources, recipients")
    lists = {}
    for key in _KEYS:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append(f"{identity}: {key} must be a list of non-empty strings")
            return None
        lists[key] = value
    scopes = []
    for name in lists["scopes"]:
        try:
            scopes.append(Scope(name))
        except ValueError:
            problems.append(
                f"{identity}: unknown scope {name!r}; scopes: {', '.join(s.value for s in Scope)}"
            )
    if not lists["scopes"]:
        problems.append(f"{identity}: scopes must name at least one scope")
    return Grant(
        scopes=frozenset(scopes),
        source_ids=frozenset(lists["sources"]),
        recipient_ids=frozenset(lists["recipients"]),
    )
