"""The settings of access control: authentication and reflection follow the listener
(loopback: off and on; elsewhere: on and off) unless set; a listener off this machine
needs TLS and authentication unless BACKCHANNEL_INSECURE says otherwise; certificate
grants are a JSON object or a TOML table; audit records outlive events."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from backchannel.listener_security import check_listener
from backchannel.model import Grant, Scope
from backchannel.settings import Settings, SettingsError, load_settings

GRANTS_JSON = (
    '{"spiffe://example.org/crm": {"scopes": ["feedback:send"], "sources": ["SOURCE_ABC"]}}'
)


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.3.2.1:50051", True),
        ("[::1]:50051", True),
        ("localhost:50051", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        ("10.1.2.3:50051", False),
        ("backchannel.internal:50051", False),
    ],
)
def test_authentication_and_reflection_follow_the_listener_by_default(
    listen: str, loopback: bool
) -> None:
    settings = Settings(listen=listen)

    assert settings.listens_on_loopback is loopback
    assert settings.auth_enabled is not loopback
    assert settings.reflection_enabled is loopback


def test_certificate_grants_turn_authentication_on_even_on_loopback() -> None:
    settings = load_settings({"BACKCHANNEL_CERTIFICATE_GRANTS": GRANTS_JSON})

    assert settings.auth_enabled
    assert dict(settings.certificate_grants) == {
        "spiffe://example.org/crm": Grant(
            scopes=frozenset({Scope.FEEDBACK_SEND}), source_ids=frozenset({"SOURCE_ABC"})
        )
    }


def test_auth_and_reflection_say_what_they_are_told() -> None:
    settings = load_settings(
        {
            "BACKCHANNEL_AUTH": "on",
            "BACKCHANNEL_REFLECTION": "off",
            "BACKCHANNEL_LISTEN": "127.0.0.1:1",
        }
    )

    assert settings.auth_enabled and not settings.reflection_enabled


def test_certificate_grants_may_be_a_toml_table(tmp_path: Path) -> None:
    config = tmp_path / "backchannel.toml"
    config.write_text(
        '[certificate_grants."crm.internal"]\nscopes = ["feedback:read"]\nrecipients = ["acme"]\n',
        encoding="utf-8",
    )

    settings = load_settings({}, config_file=str(config))

    assert dict(settings.certificate_grants)["crm.internal"] == Grant(
        scopes=frozenset({Scope.FEEDBACK_READ}), recipient_ids=frozenset({"acme"})
    )


def test_bad_certificate_grants_are_refused_with_every_problem() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(
            {
                "BACKCHANNEL_CERTIFICATE_GRANTS": '{"a": {"scopes": ["feedback:write"]},'
                ' "b": {"scopes": [], "colour": "red"}}'
            }
        )

    [problem] = refused.value.problems
    assert "unknown scope 'feedback:write'" in problem
    assert "b: unknown keys ['colour']" in problem
    assert "b: scopes must name at least one scope" in problem


def test_audit_records_are_kept_at_least_as_long_as_events() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(
            {"BACKCHANNEL_EVENT_RETENTION_DAYS": "90", "BACKCHANNEL_AUDIT_RETENTION_DAYS": "30"}
        )

    assert "audit_retention_days (30) must be at least event_retention_days (90)" in str(
        refused.value
    )


def test_loopback_needs_neither_tls_nor_authentication() -> None:
    check_listener(Settings(listen="127.0.0.1:50051", auth="off"))


@pytest.mark.parametrize("auth", ["auto", "off"])
def test_a_listener_off_this_machine_without_tls_is_refused(auth: str) -> None:
    with pytest.raises(SettingsError) as refused:
        check_listener(Settings(listen="0.0.0.0:50051", auth=auth))

    [problem] = refused.value.problems
    assert "refusing to start listening on 0.0.0.0:50051 without TLS" in problem
    assert ("without authentication" in problem) is (auth == "off")
    assert "BACKCHANNEL_INSECURE=true" in problem


def test_insecure_allows_it_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="backchannel.listener_security"):
        check_listener(Settings(listen="0.0.0.0:50051", auth="off", insecure=True))

    assert [r.getMessage() for r in caplog.records] == [
        "INSECURE: listening on 0.0.0.0:50051 without TLS (BACKCHANNEL_TLS_CERT_FILE) and "
        "without authentication (BACKCHANNEL_AUTH) (BACKCHANNEL_INSECURE=true)"
    ]


def test_a_narrower_grant_is_covered_and_a_wider_one_is_not() -> None:
    holder = Grant(
        scopes=frozenset({Scope.TOKENS_ADMIN, Scope.FEEDBACK_READ}),
        source_ids=frozenset({"A", "B"}),
    )

    assert holder.covers(
        Grant(scopes=frozenset({Scope.FEEDBACK_READ}), source_ids=frozenset({"A"}))
    )
    assert not holder.covers(Grant(scopes=frozenset({Scope.FEEDBACK_READ})))
    assert not holder.covers(
        Grant(scopes=frozenset({Scope.FEEDBACK_SEND}), source_ids=frozenset({"A"}))
    )
    assert Grant().covers(holder)
