"""Recipients as people write them in YAML or JSON files: the fields of the Recipient
message (proto names like ``transport_settings`` or JSON names like
``transportSettings``), enums by short name (``recipient_type: source``,
``state: paused``, ``subscription: {kinds: [conversion]}``), durations in seconds or as
``"5s"``, and secret values given in place or read from elsewhere:
``{env: NAME}`` (an environment variable) or ``{file: PATH}`` (a file's content)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from backchannel_client import Recipient, recipient_from_dict

from backchannel.cli import exit_codes
from backchannel.cli.connection import CommandError

_ENUM_PREFIXES = {
    "recipient_type": "RECIPIENT_TYPE_",
    "state": "RECIPIENT_STATE_",
}


def snake(name: str) -> str:
    """``transportSettings`` → ``transport_settings``."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def load_document(path: str) -> Any:
    """A YAML or JSON file's content (JSON is YAML). Raises CommandError."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise CommandError(f"cannot read {path}: {reason}", exit_codes.USAGE) from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CommandError(
            f"{path} is not YAML or JSON: {error}", exit_codes.INVALID_ARGUMENT
        ) from error


def recipient_from_document(data: Any, where: str) -> tuple[Recipient, set[str]]:
    """The Recipient a document describes, and the (proto) names of the fields it sets.
    Raises CommandError naming the problem."""
    if not isinstance(data, Mapping):
        raise CommandError(f"{where}: a recipient must be a mapping", exit_codes.INVALID_ARGUMENT)
    fields = {snake(str(k)): v for k, v in data.items()}
    for name, prefix in _ENUM_PREFIXES.items():
        if isinstance(fields.get(name), str):
            fields[name] = _enum(fields[name], prefix)
    subscription = fields.get("subscription")
    if isinstance(subscription, Mapping):
        subscription = {snake(str(k)): v for k, v in subscription.items()}
        if isinstance(subscription.get("kinds"), list):
            subscription["kinds"] = [
                _enum(k, "FEEDBACK_KIND_") if isinstance(k, str) else k
                for k in subscription["kinds"]
            ]
        fields["subscription"] = subscription
    policy = fields.get("retry_policy")
    if isinstance(policy, Mapping):
        policy = {snake(str(k)): v for k, v in policy.items()}
        if isinstance(policy.get("retry_delays"), list):
            policy["retry_delays"] = [_duration(d) for d in policy["retry_delays"]]
        if "max_age" in policy:
            policy["max_age"] = _duration(policy["max_age"])
        fields["retry_policy"] = policy
    batch = fields.get("batch")
    if isinstance(batch, Mapping):
        fields["batch"] = _batch(batch, where)
    secrets = fields.get("secret_settings")
    if isinstance(secrets, Mapping):
        fields["secret_settings"] = {
            str(name): _secret(value, f"{where}: secret_settings.{name}")
            for name, value in secrets.items()
        }
    try:
        recipient = recipient_from_dict(json.loads(json.dumps(fields, default=str)))
    except ValueError as error:
        raise CommandError(f"{where}: {error}", exit_codes.INVALID_ARGUMENT) from error
    return recipient, set(fields)


def parse_assignments(pairs: list[str], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that reads as JSON (a number, true, a list...) is taken
    as such, any other as text."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise CommandError(f"{option} {pair!r} is not KEY=VALUE", exit_codes.USAGE)
        try:
            values[key] = json.loads(text)
        except ValueError:
            values[key] = text
    return values


def secret_assignments(pairs: list[str]) -> dict[str, Any]:
    """``--secret KEY=VALUE``, ``KEY=@FILE`` (the file's content) or ``KEY=env:NAME``."""
    secrets: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise CommandError(f"--secret {pair!r} is not KEY=VALUE", exit_codes.USAGE)
        if text.startswith("@"):
            secrets[key] = _secret({"file": text[1:]}, f"--secret {key}")
        elif text.startswith("env:"):
            secrets[key] = _secret({"env": text[4:]}, f"--secret {key}")
        else:
            secrets[key] = text
    return secrets


def _batch(batch: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A recipient's batch settings with enums by short name (``format: csv``) and the public
    key given as ``{file: path}`` or ``{env: NAME}`` if wanted."""
    found = {snake(str(k)): v for k, v in batch.items()}
    for name, prefix in (
        ("when_empty", "BATCH_WHEN_EMPTY_"),
        ("invalid_rows", "BATCH_INVALID_ROWS_"),
    ):
        if isinstance(found.get(name), str):
            found[name] = _enum(found[name], prefix)
    for name in ("schedule", "file", "encryption"):
        if isinstance(found.get(name), Mapping):
            found[name] = {snake(str(k)): v for k, v in found[name].items()}
    file = found.get("file")
    if isinstance(file, dict):
        for name, prefix in (
            ("format", "BATCH_FILE_FORMAT_"),
            ("compression", "BATCH_COMPRESSION_"),
        ):
            if isinstance(file.get(name), str):
                file[name] = _enum(file[name], prefix)
    encryption = found.get("encryption")
    if isinstance(encryption, dict) and "public_key" in encryption:
        encryption["public_key"] = _secret(
            encryption["public_key"], f"{where}: batch.encryption.public_key"
        )
    return found


def _enum(value: str, prefix: str) -> str:
    name = value.strip().upper()
    return name if name.startswith(prefix) else prefix + name


def _duration(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value}s"
    return value


def _secret(value: Any, where: str) -> Any:
    if not isinstance(value, Mapping):
        return value
    if set(value) == {"env"}:
        name = str(value["env"])
        if name not in os.environ:
            raise CommandError(
                f"{where}: the environment variable {name} is not set", exit_codes.CONFIG
            )
        return os.environ[name]
    if set(value) == {"file"}:
        try:
            return Path(str(value["file"])).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise CommandError(
                f"{where}: cannot read {value['file']}: {error.strerror}", exit_codes.CONFIG
            ) from error
    return value
