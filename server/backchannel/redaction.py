"""What the host does to every text a plugin hands back before it is recorded or answered:
each secret of the recipient masked in every spelling a remote may echo it in, control
characters removed, lengths capped.

A transport may mask what it knows itself, but it need not: whatever it forgets, a
remote that echoes an ``Authorization`` header or a signed URL cannot get a secret into an
event, a span or a TestRecipient answer past :class:`Redactor`.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from yarl import URL

from backchannel.plugin import DeliveryResult, FieldProblem, ProbeStep

#: What stands where a secret was.
MASK = "***"
#: Secret values shorter than this are not looked for: masking every "1" or "yes" would
#: ruin an excerpt and protect nothing a guess would not find.
MIN_SECRET_CHARS = 4
#: Parts of a secret URL (a query value, a path) shorter than this are too common to mask
#: (``v=1``, ``/hook``).
MIN_URL_PART_CHARS = 8
#: Path segments at least this long are ids (a Workflows URL's workflow id).
MIN_URL_SEGMENT_CHARS = 16
#: Plain settings longer than this are not user names: they are not paired with secrets.
MAX_USER_NAME_CHARS = 256

EXCERPT_CHARS = 256
REMOTE_ID_CHARS = 256
DETAIL_KEY_CHARS = 64
DETAIL_VALUE_CHARS = 256
MAX_DETAILS = 32
PROBE_TEXT_CHARS = 1024

#: C0 control characters but tab and line feed, and DEL: Postgres refuses NUL in text, and
#: the others only garble what an operator reads.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def secret_spellings(
    secrets: Mapping[str, Any], settings: Mapping[str, Any] = {}
) -> tuple[str, ...]:
    """Every spelling of the secret settings ``secrets`` a remote might send back, longest
    first: each text as given, percent-encoded and -decoded, in base64 (SMTP AUTH LOGIN);
    without a credential prefix (``whsec_``); the parts of a URL (user information, its
    base64 as an ``Authorization: Basic`` header carries it, query values, long paths); and
    the base64 of each plain setting paired with each secret (``user:password`` for HTTP
    Basic, ``\\0user\\0password`` for SMTP AUTH PLAIN), since user names are plain."""
    values = {text for text in _texts(secrets) if len(text) >= MIN_SECRET_CHARS}
    found: set[str] = set()
    for value in values:
        found.update(_spellings_of(value))
    users = [u for u in _texts(settings) if 0 < len(u) <= MAX_USER_NAME_CHARS and ":" not in u]
    for user in users:
        for secret in values:
            found.add(_b64(f"{user}:{secret}"))
            found.add(_b64(f"\0{user}\0{secret}"))
    return tuple(sorted((s for s in found if len(s) >= MIN_SECRET_CHARS), key=len, reverse=True))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def _spellings_of(value: str) -> set[str]:
    parts = {value}
    prefix, _, rest = value.partition("_")
    if prefix.isalpha() and len(rest) >= MIN_URL_SEGMENT_CHARS:
        # Prefixed credentials (whsec_..., sk_live_...) are often echoed without the prefix.
        parts.add(rest)
    if "://" in value:
        parts.update(_url_parts(value))
    spelled: set[str] = set()
    for part in parts:
        spelled.update(_encodings(part))
    return spelled


def _encodings(text: str) -> set[str]:
    return {
        text,
        quote(text, safe=""),
        quote(text),
        quote_plus(text),
        unquote(text),
        unquote_plus(text),
        _b64(text),
    }


def _url_parts(value: str) -> set[str]:
    """The parts of a URL that carry its secret, in raw and decoded spellings."""
    try:
        url = URL(value, encoded=True)
        decoded = URL(value)
    except (ValueError, TypeError):
        return set()
    parts: set[str] = set()
    for spelling in (url, decoded):
        parts.update((str(spelling), spelling.human_repr()))
        parts.add(str(spelling.with_query(None).with_fragment(None)))
        user, password = spelling.user, spelling.password
        parts.update(p for p in (spelling.raw_user, spelling.raw_password, user, password) if p)
        if user is not None or password is not None:
            # aiohttp turns user:password@ into "Authorization: Basic base64(user:password)".
            credentials = f"{user or ''}:{password or ''}"
            parts.update((credentials, _b64(credentials)))
            parts.add(f"{spelling.raw_user or ''}:{spelling.raw_password or ''}")
        parts.update((spelling.raw_query_string, spelling.query_string))
        for pair in (*spelling.raw_query_string.split("&"), *spelling.query_string.split("&")):
            parts.add(pair.partition("=")[2])
        parts.update((spelling.raw_path, spelling.path, spelling.raw_path_qs, spelling.path_qs))
        parts.update(s for s in spelling.raw_parts if len(s) >= MIN_URL_SEGMENT_CHARS)
        parts.update((spelling.raw_host or "", spelling.host_port_subcomponent or ""))
    return {part for part in parts if len(part) >= MIN_URL_PART_CHARS}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", errors="replace")).decode("ascii")


@dataclass(frozen=True)
class Redactor:
    """Masks one recipient's secrets in what its transport says; see :func:`secret_spellings`."""

    #: Longest first, so a spelling that contains another is masked whole.
    spellings: tuple[str, ...] = ()

    @classmethod
    def for_settings(cls, settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> Redactor:
        return cls(secret_spellings(secrets, settings))

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        # One pass over a text for all spellings: a secret URL has hundreds of them.
        if not self.spellings:
            return None
        return re.compile("|".join(re.escape(spelling) for spelling in self.spellings))

    def text(self, text: str, limit: int) -> str:
        """``text`` with every secret masked and no control character but tab and line
        feed, cut to ``limit`` characters (masked first, so a cut never leaves half a
        secret behind)."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _CONTROL.sub("", text)[:limit]

    def result(self, result: DeliveryResult) -> DeliveryResult:
        """``result`` as it may be recorded: every text masked, cleaned and capped."""
        details = {
            self.text(str(key), DETAIL_KEY_CHARS): self.text(str(value), DETAIL_VALUE_CHARS)
            for key, value in list(result.details.items())[:MAX_DETAILS]
        }
        remote_id = result.remote_id
        return replace(
            result,
            response_excerpt=self.text(result.response_excerpt, EXCERPT_CHARS),
            remote_id=None if remote_id is None else self.text(remote_id, REMOTE_ID_CHARS),
            details=details,
        )

    def steps(self, steps: Iterable[ProbeStep]) -> list[ProbeStep]:
        return [
            ProbeStep(
                self.text(step.name, DETAIL_KEY_CHARS),
                step.passed,
                self.text(step.detail, PROBE_TEXT_CHARS),
            )
            for step in steps
        ]

    def problems(self, problems: Sequence[FieldProblem]) -> list[FieldProblem]:
        return [
            FieldProblem(problem.field, self.text(problem.description, PROBE_TEXT_CHARS))
            for problem in problems
        ]
