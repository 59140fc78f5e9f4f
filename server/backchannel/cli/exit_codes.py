"""What the ``backchannel`` command's exit status means, for scripts. Documented in the
README; a number's meaning never changes."""

from __future__ import annotations

#: Everything asked was done.
OK = 0
#: Something failed that has no code of its own: a server error, some of many feedbacks
#: not sent, a recipient test that did not pass, a plugin that failed to load.
FAILURE = 1
#: The command line is wrong (an unknown option, a missing argument, an unreadable file).
USAGE = 2
#: The configuration is wrong: invalid server settings, a plugin conflict, a client
#: setting (``--server``, ``BACKCHANNEL_CA_FILE``...) that cannot be used.
CONFIG = 3
#: A named feedback, recipient or delivery does not exist.
NOT_FOUND = 4
#: The request or the input file is invalid; every field violation is printed.
INVALID_ARGUMENT = 5
#: The server cannot be reached or cannot serve now; nothing was done, retrying is safe
#: (``send --file``: the run stopped there, and running it again sends nothing twice).
UNAVAILABLE = 6
#: The request conflicts with the current state: it exists already, it changed meanwhile
#: (etag), or its state refuses it (a disabled recipient).
CONFLICT = 7
#: The server refused the caller's credentials or permissions.
DENIED = 8
#: Interrupted (Ctrl-C), except for ``events --follow``, which Ctrl-C ends normally.
INTERRUPTED = 130

#: (code, meaning) for --help and the README.
DESCRIPTIONS = (
    (OK, "ok"),
    (FAILURE, "failure (server error, some items failed, a test did not pass)"),
    (USAGE, "usage (bad command line, unreadable file)"),
    (CONFIG, "configuration (settings, plugin conflict, --server/TLS options)"),
    (NOT_FOUND, "not found"),
    (INVALID_ARGUMENT, "invalid argument (field violations printed)"),
    (UNAVAILABLE, "server unreachable or unavailable (safe to retry)"),
    (CONFLICT, "conflict (already exists, changed meanwhile, refused by state)"),
    (DENIED, "unauthenticated or permission denied"),
    (INTERRUPTED, "interrupted"),
)
