"""The key ring as BACKCHANNEL_SECRET_KEYS, a key file and the embedded default give it:
newest first, every problem named without the key, the embedded key file made once with
mode 0600."""

from __future__ import annotations

import base64
import logging
import stat
from pathlib import Path

import pytest

from backchannel.sealing.key_file import (
    EMBEDDED_KEY_FILE,
    configured_key_ring,
    embedded_key_ring,
    read_key_file,
)
from backchannel.sealing.key_ring import KeyRingError, new_key_entry, parse_key_ring
from backchannel.settings import Settings, SettingsError, load_settings

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(32, 64))).decode()


def test_keys_are_read_newest_first_with_their_ids() -> None:
    ring = parse_key_ring(f"2025-06:{KEY_B}, 2024-11:{KEY_A}", "a test")

    assert ring.ids == ("2025-06", "2024-11")
    assert ring.newest is not None and ring.newest.material == bytes(range(32, 64))
    assert ring.get("2024-11") is not None and ring.get("nope") is None


def test_the_url_safe_alphabet_and_missing_padding_are_taken() -> None:
    key = bytes([251] * 32)
    url_safe = base64.urlsafe_b64encode(key).decode().rstrip("=")

    ring = parse_key_ring(f"k:{url_safe}", "a test")

    assert ring.newest is not None and ring.newest.material == key


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"k1 {KEY_A}", "entry 1 of a test is not id:base64-key"),
        ("k1:not*base64", "key 'k1' of a test is not base64"),
        (f"k1:{KEY_A[:20]}", "key 'k1' must be 32 bytes (AES-256)"),
        (f"k1:{KEY_A},k1:{KEY_B}", "key id 'k1' is given twice"),
        (f"bad id:{KEY_A}", "a key id must be 1 to 64 letters"),
    ],
)
def test_a_bad_ring_is_refused_without_quoting_a_key(text: str, problem: str) -> None:
    with pytest.raises(KeyRingError) as refused:
        parse_key_ring(text, "a test")

    assert str(refused.value).startswith(problem)
    assert KEY_A not in str(refused.value) and KEY_A[:20] not in str(refused.value)


def test_a_bad_key_in_the_environment_is_a_settings_problem_that_hides_the_value() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"BACKCHANNEL_SECRET_KEYS": f"k1:{KEY_A[:20]}"})

    [problem] = refused.value.problems
    assert problem.startswith("BACKCHANNEL_SECRET_KEYS=(hidden): key 'k1'")
    assert KEY_A[:20] not in problem


def test_the_keys_never_appear_in_the_settings_repr() -> None:
    settings = load_settings({"BACKCHANNEL_SECRET_KEYS": f"k1:{KEY_A}"})

    assert settings.secret_keys.ids == ("k1",)
    assert KEY_A not in repr(settings) and KEY_A not in repr(settings.secret_keys)


def test_a_key_file_takes_lines_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# rotated in June\nk2:{KEY_B}\nk1:{KEY_A}  # the old one\n")
    path.chmod(0o600)

    assert read_key_file(path).ids == ("k2", "k1")


def test_a_key_file_readable_by_others_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys"
    path.write_text(f"k1:{KEY_A}\n")
    path.chmod(0o644)

    with caplog.at_level(logging.WARNING):
        ring = read_key_file(path)

    assert ring.ids == ("k1",)
    assert "can be read by other users (mode 644)" in caplog.text


def test_a_missing_or_empty_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="cannot be read"):
        read_key_file(tmp_path / "absent")
    (tmp_path / "empty").write_text("# nothing yet\n")
    with pytest.raises(KeyRingError, match="holds no key"):
        read_key_file(tmp_path / "empty")


def test_the_embedded_key_file_is_made_once_with_mode_0600_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="backchannel.sealing.key_file"):
        first = embedded_key_ring(tmp_path)
        second = embedded_key_ring(tmp_path)

    path = tmp_path / EMBEDDED_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first == second and first.ids == ("k1",)
    created = [r for r in caplog.records if "created the secret key file" in r.getMessage()]
    assert len(created) == 1
    assert str(path) in created[0].getMessage()
    assert first.newest is not None
    assert base64.b64encode(first.newest.material).decode() not in caplog.text


def test_keys_and_a_key_file_together_are_refused(tmp_path: Path) -> None:
    settings = Settings(
        secret_keys=parse_key_ring(new_key_entry("k1"), "a test"),
        secret_key_file=str(tmp_path / "keys"),
    )

    with pytest.raises(KeyRingError, match="not both"):
        configured_key_ring(settings, None)


def test_a_real_database_without_keys_has_an_empty_ring() -> None:
    assert not configured_key_ring(Settings(database_url="postgresql://db/x"), None).configured
