"""A local webhook receiver for trying Backchannel: prints each delivery exactly as it
arrived and checks its Standard Webhooks signature, whatever the body is (JSON, XML, CSV,
form, a compressed batch file).

    python examples/webhook_receiver.py --port 8080 --secret whsec_...
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import time

from aiohttp import web

#: How far a webhook-timestamp may be from now (Standard Webhooks' tolerance).
TOLERANCE_SECONDS = 5 * 60


def signature_verdict(secret: str, headers: dict[str, str], body: bytes) -> str:
    """Checks the signature over the raw bytes (Standard Webhooks signs
    ``id.timestamp.body``), so bodies that are not JSON or not text check as well."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (msg_id and timestamp and signatures):
        return "signature MISSING"
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return "signature INVALID (webhook-timestamp is not a number)"
    if age > TOLERANCE_SECONDS:
        return f"signature INVALID (timestamp {age:.0f} s away from now)"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for versioned in signatures.split():
        version, _, signature = versioned.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(signature), expected):
            return "signature OK"
    return "signature INVALID (no matching v1 signature)"


def printable(body: bytes, content_type: str) -> str:
    """The body as it arrived when it is text; a summary of it when it is not."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        digest = hashlib.sha256(body).hexdigest()
        return f"<{len(body)} bytes of {content_type or 'binary data'}, sha256 {digest}>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--secret", required=True, help="the recipient's whsec_ signing secret")
    args = parser.parse_args()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verdict = signature_verdict(args.secret, headers, body)
        print(f"--- {headers.get('webhook-id')} {verdict}", flush=True)
        print(printable(body, headers.get("content-type", "")), flush=True)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
