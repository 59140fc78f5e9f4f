"""The ``hash`` field-mapping option: fields a format sends only as the SHA-256 of their
normalized value, the way ad platforms take contact data.

``hash`` is an object mapping a dotted path to a method:

``sha256_normalized``
    trimmed and lower-cased (emails), E.164 (phones), lower-case without punctuation
    (names), then SHA-256 as lower-case hex;
``sha256_google``
    as normalized, and the dots of a gmail.com or googlemail.com local part removed
    (Google Ads enhanced conversions);
``sha256_meta``
    as normalized, phones as digits only without "+" (Meta Conversions API).

How a value is normalized follows the path's last name (``email``, ``phone``,
``first_name``, ``last_name``, ``postal_code``, ``country``; anything else is trimmed and
lower-cased; see backchannel.personal_hashing). A phone without "+" is read in the
country of ``subject.country`` when the document has it. Hashing applies first, to the
canonical document's paths, before ``drop``, ``rename`` and ``constants``. A value that
cannot be normalized (an unparseable phone, an object) is removed, never sent unhashed.
"""

from __future__ import annotations

from typing import Any

from backchannel.formatters._document_paths import FieldPath, is_mapping, lookup
from backchannel.formatters._options import OptionReader
from backchannel.personal_hashing import HashRules, sha256_normalized

HASH_METHODS: dict[str, HashRules] = {
    "sha256_normalized": "normalized",
    "sha256_google": "google",
    "sha256_meta": "meta",
}


def read_hash(reader: OptionReader) -> tuple[tuple[FieldPath, str], ...]:
    """The ``hash`` option as (path, method) pairs; every problem goes to ``reader``."""
    value = reader.raw("hash")
    if value is None:
        return ()
    if not is_mapping(value):
        reader.problem("hash", "must be an object mapping dotted paths to a hash method")
        return ()
    methods = ", ".join(HASH_METHODS)
    hashes: list[tuple[FieldPath, str]] = []
    for key, method in value.items():
        path = tuple(key.split(".")) if isinstance(key, str) else ()
        if not path or not all(segment.isidentifier() for segment in path):
            reader.problem(f"hash.{key}", "the key must be a dotted path, e.g. subject.email")
        elif method not in HASH_METHODS:
            reader.problem(f"hash.{key}", f"must be one of {methods}")
        else:
            hashes.append((path, method))
    return tuple(hashes)


def apply_hash(document: dict[str, Any], hashes: tuple[tuple[FieldPath, str], ...]) -> None:
    """Replaces each hashed path's value in ``document`` (a copy the caller owns) by its
    hash, or removes it when it has none."""
    country = lookup(document, ("subject", "country"))
    region = country if isinstance(country, str) else ""
    for path, method in hashes:
        parent = lookup(document, path[:-1]) if len(path) > 1 else document
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        value = parent[path[-1]]
        hashed = None
        if isinstance(value, str | int) and not isinstance(value, bool):
            hashed = sha256_normalized(path[-1], str(value), HASH_METHODS[method], region)
        if hashed is None:
            del parent[path[-1]]
        else:
            parent[path[-1]] = hashed
