"""The request id ``send --file`` gives an item that has none: derived from what the item
asks, so that sending a file again sends nothing twice (the server answers a repeated
request id with its first answer and stores nothing new).

    request_id = "send-v1-" + hex(SHA-256(JCS({"namespace": NAMESPACE, "request": REQUEST})))

REQUEST is the item's SendFeedbackRequest in proto JSON (as ``buf curl`` writes it) without
its request id: the feedback and the recipients it will be sent to (the item's, or
``--recipient``). JCS is the JSON Canonicalization Scheme (RFC 8785), so key order,
spacing, the file's format (JSON, JSONL or CSV) and how an enum was spelled
(``conversion`` or ``FEEDBACK_KIND_CONVERSION``) change nothing. NAMESPACE is
``--id-namespace`` (empty by default).

Why the file itself (its name, path or content) is not part of it: a file that was moved,
renamed, copied, piped on stdin, or edited (a bad line fixed, lines appended) must keep the
ids of the lines it still has, or sending it again would send them twice; and two files
that share a line (overlapping exports) describe the same feedback once. The same item is
the same feedback wherever it is written, and one repeated within a file is sent once.
When identical items really are different feedback (say, a daily file whose lines carry
no time), give each run its own ``--id-namespace`` (e.g. the day)."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785
from backchannel_client import SendFeedbackRequest
from google.protobuf import json_format

PREFIX = "send-v1-"


def derived_request_id(request: SendFeedbackRequest, namespace: str = "") -> str:
    """The request id of ``request`` (its own request id is ignored) in ``namespace``."""
    content = SendFeedbackRequest()
    content.CopyFrom(request)
    content.ClearField("request_id")
    document: dict[str, Any] = {
        "namespace": namespace,
        "request": json_format.MessageToDict(content),
    }
    return PREFIX + hashlib.sha256(rfc8785.dumps(document)).hexdigest()
