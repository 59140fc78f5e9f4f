"""How the operator commands reach a server (``--server``, TLS, token) and how they report
what went wrong: in words, with every field violation, and an exit code that means it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
from backchannel_client import BackchannelError, Client, RetrySettings

from backchannel.cli import exit_codes

DEFAULT_SERVER = "127.0.0.1:50051"

_EXIT_CODES = {
    grpc.StatusCode.NOT_FOUND: exit_codes.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT: exit_codes.INVALID_ARGUMENT,
    grpc.StatusCode.OUT_OF_RANGE: exit_codes.INVALID_ARGUMENT,
    grpc.StatusCode.UNAVAILABLE: exit_codes.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: exit_codes.UNAVAILABLE,
    grpc.StatusCode.ALREADY_EXISTS: exit_codes.CONFLICT,
    grpc.StatusCode.ABORTED: exit_codes.CONFLICT,
    grpc.StatusCode.FAILED_PRECONDITION: exit_codes.CONFLICT,
    grpc.StatusCode.UNAUTHENTICATED: exit_codes.DENIED,
    grpc.StatusCode.PERMISSION_DENIED: exit_codes.DENIED,
}


@dataclass
class CommandError(Exception):
    """A problem found before or around a call (bad input, bad options), reported like a
    server error: a message, details line by line, and an exit code."""

    message: str
    exit_code: int
    details: Sequence[str] = field(default_factory=tuple)

    def __str__(self) -> str:
        return self.message


def add_client_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--server",
        default=os.environ.get("BACKCHANNEL_SERVER") or DEFAULT_SERVER,
        metavar="HOST:PORT",
        help="the Backchannel server (default: $BACKCHANNEL_SERVER or %(default)s)",
    )
    group.add_argument(
        "--tls",
        action="store_true",
        help="connect with TLS (implied by --ca-file and --cert); the token is in "
        "$BACKCHANNEL_TOKEN",
    )
    group.add_argument(
        "--ca-file",
        default=os.environ.get("BACKCHANNEL_CA_FILE") or None,
        metavar="PEM",
        help="root certificates to trust (default: $BACKCHANNEL_CA_FILE, else the system's)",
    )
    group.add_argument(
        "--cert",
        default=os.environ.get("BACKCHANNEL_CERT_FILE") or None,
        metavar="PEM",
        help="client certificate chain for a server that requires one (mTLS; default: "
        "$BACKCHANNEL_CERT_FILE); with --key",
    )
    group.add_argument(
        "--key",
        default=os.environ.get("BACKCHANNEL_KEY_FILE") or None,
        metavar="PEM",
        help="private key of --cert (default: $BACKCHANNEL_KEY_FILE)",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="send $BACKCHANNEL_TOKEN even over a plaintext connection to another machine "
        "(refused otherwise: anyone on the way could read it)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="deadline of each call (default %(default)s)",
    )
    group.add_argument("--json", action="store_true", help="machine-readable output")


def connect(args: argparse.Namespace) -> Client:
    server: str = args.server
    host, colon, port = server.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise CommandError(
            f"--server {server!r} is not HOST:PORT (e.g. 127.0.0.1:50051)", exit_codes.CONFIG
        )
    if bool(args.cert) != bool(args.key):
        given, missing = ("--cert", "--key") if args.cert else ("--key", "--cert")
        raise CommandError(
            f"{given} needs {missing} (or BACKCHANNEL_CERT_FILE with BACKCHANNEL_KEY_FILE)",
            exit_codes.CONFIG,
        )
    try:
        return Client(
            server,
            tls=uses_tls(args),
            root_certificates=_read_pem(args.ca_file, "CA file"),
            certificate_chain=_read_pem(args.cert, "client certificate"),
            private_key=_read_pem(args.key, "client key"),
            token=os.environ.get("BACKCHANNEL_TOKEN") or None,
            timeout=args.timeout,
            retry=RetrySettings(max_attempts=4, total_timeout=max(30.0, args.timeout)),
            insecure=bool(args.insecure),
        )
    except ValueError as error:  # the client refuses to send the token in plaintext
        raise CommandError(
            f"refusing to send BACKCHANNEL_TOKEN over a plaintext connection to {server}: "
            "anyone on the way could read it and call as its holder",
            exit_codes.CONFIG,
            ("connect with --tls (or --ca-file PEM), or give --insecure to send it anyway",),
        ) from error


def uses_tls(args: argparse.Namespace) -> bool:
    return bool(args.tls or args.ca_file or args.cert)


def _read_pem(path: str | None, what: str) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as pem:
            return pem.read()
    except OSError as error:
        raise CommandError(
            f"cannot read the {what} {path}: {error.strerror}", exit_codes.CONFIG
        ) from error


def exit_code_for(error: BackchannelError) -> int:
    return _EXIT_CODES.get(error.code, exit_codes.FAILURE)


def describe_error(error: BackchannelError, server: str, tls: bool = False) -> list[str]:
    """An error in words: what happened, then one line per field violation."""
    if error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and (
        not error.reason
    ):
        what = (
            "did not answer in time"
            if error.code == grpc.StatusCode.DEADLINE_EXCEEDED
            else ("cannot be reached")
        )
        # A refused TLS handshake looks the same as a server that is down.
        check = (
            "is it running, does --ca-file trust its certificate, and does it accept this "
            "client's (--cert, --key)?"
            if tls
            else "is it running? If it serves TLS, add --tls or --ca-file."
        )
        return [
            f"the Backchannel server at {server} {what} ({error.code.name}: {error.message})",
            f"{check} Choose another server with --server or BACKCHANNEL_SERVER.",
        ]
    words = error.code.name.lower().replace("_", " ")
    reason = f" [{error.reason}]" if error.reason and error.reason != error.code.name else ""
    message = error.message
    if error.field_violations:
        # "request has 2 invalid fields: a: ...; b: ...": the violations follow one per
        # line, so the headline keeps only the count.
        first = error.field_violations[0]
        message = message.partition(f": {first.field}: ")[0]
    lines = [f"{words}{reason}: {message}"]
    lines += [f"  {v.field}: {v.description}" for v in error.field_violations]
    return lines


def error_as_json(error: BackchannelError) -> dict[str, object]:
    return {
        "code": error.code.name,
        "reason": error.reason,
        "message": error.message,
        "metadata": error.metadata,
        "fieldViolations": [
            {"field": v.field, "description": v.description} for v in error.field_violations
        ],
    }


def report(error: BackchannelError | CommandError, args: argparse.Namespace) -> int:
    """Prints ``error`` to stderr (as JSON with --json) and returns its exit code."""
    if isinstance(error, CommandError):
        if getattr(args, "json", False):
            body: dict[str, object] = {"message": error.message, "details": list(error.details)}
            print(json.dumps({"error": body}), file=sys.stderr)
        else:
            print(f"backchannel: {error.message}", file=sys.stderr)
            for line in error.details:
                print(f"  {line}", file=sys.stderr)
        return error.exit_code
    if getattr(args, "json", False):
        print(json.dumps({"error": error_as_json(error)}), file=sys.stderr)
    else:
        for index, line in enumerate(describe_error(error, args.server, uses_tls(args))):
            print(f"backchannel: {line}" if index == 0 else line, file=sys.stderr)
    return exit_code_for(error)


def run_with_client(
    args: argparse.Namespace, command: Callable[[Client, argparse.Namespace], int]
) -> int:
    """Connects, runs ``command``, and turns every error into words and an exit code."""
    try:
        with connect(args) as client:
            return command(client, args)
    except (BackchannelError, CommandError) as error:
        return report(error, args)
    except KeyboardInterrupt:
        print("backchannel: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
