"""A local webhook receiver for trying Backchannel: prints each delivery and checks its
Standard Webhooks signature.

    python examples/webhook_receiver.py --port 8080 --secret whsec_...
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--secret", required=True, help="the recipient's whsec_ signing secret")
    args = parser.parse_args()
    verifier = Webhook(args.secret)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verifier.verify(body, dict(request.headers))
            verdict = "signature OK"
        except WebhookVerificationError as error:
            verdict = f"signature INVALID ({error})"
        print(f"--- {request.headers.get('webhook-id')} {verdict}")
        print(json.dumps(json.loads(body), indent=2))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    web.run_app(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
