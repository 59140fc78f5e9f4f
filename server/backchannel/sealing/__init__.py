"""Secret recipient settings at rest: sealed with AES-256-GCM under a key ring, bound to
their recipient and setting, opened only where a transport needs them."""
