"""The outbound address guard of the webhook transport: the plugin API's shared guard.

The transport imports the guard from :mod:`backchannel.plugin_support` itself; this module
keeps the names where the guard's tests (tests/plugins/test_address_guard.py) import them.
"""

from __future__ import annotations

from backchannel.plugin_support import DestinationRefused, address_literal, refusal_reason
from backchannel.plugin_support.aiohttp import GuardedResolver

__all__ = ["DestinationRefused", "GuardedResolver", "address_literal", "refusal_reason"]
