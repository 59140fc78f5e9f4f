"""The listener's TLS settings and files are checked before grpc sees them: every problem
named with its setting and file, never with a file's content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from support.certificates import CertificateAuthority, write_tls_files

from backchannel.api.listener_tls import TlsSetupError, tls_settings
from backchannel.api.tls_files import TlsFilesError, TlsPaths, read_tls_material
from backchannel.settings import Settings, SettingsError, load_settings


def test_good_files_are_read_with_the_certificate_described(tmp_path: Path) -> None:
    files = write_tls_files(tmp_path)

    material = read_tls_material(TlsPaths(files.server_certificate, files.server_key, files.ca))

    assert material.certificate_chain == files.server_certificate.read_bytes()
    assert material.client_ca == files.ca.read_bytes()
    assert material.description.startswith("CN=localhost, serial ")


def test_an_encrypted_key_and_a_ca_file_without_certificates_are_both_named(
    tmp_path: Path,
) -> None:
    files = write_tls_files(tmp_path)
    key = serialization.load_pem_private_key(files.server_key.read_bytes(), None)
    files.server_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    files.ca.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")

    with pytest.raises(TlsFilesError) as refused:
        read_tls_material(TlsPaths(files.server_certificate, files.server_key, files.ca))

    assert refused.value.problems == [
        f"BACKCHANNEL_TLS_KEY_FILE {files.server_key}: the key is encrypted; the server "
        "needs it unencrypted",
        f"BACKCHANNEL_TLS_CLIENT_CA_FILE {files.ca}: holds no PEM certificate",
    ]


def test_a_certificate_not_yet_valid_is_refused(tmp_path: Path) -> None:
    later = CertificateAuthority().issue(
        common_name="localhost", server=True, valid_from=datetime.now(UTC) + timedelta(days=1)
    )
    certificate, key = later.write(tmp_path, "later")

    with pytest.raises(TlsFilesError, match="the certificate is not valid before"):
        read_tls_material(TlsPaths(certificate, key))


def test_a_key_file_holding_something_else_is_named_without_its_content(tmp_path: Path) -> None:
    files = write_tls_files(tmp_path)
    files.server_key.write_text("hunter2-secret-material")

    with pytest.raises(TlsFilesError) as refused:
        read_tls_material(TlsPaths(files.server_certificate, files.server_key))

    assert "holds no PEM private key" in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"tls_key_file": "k.pem"}, "BACKCHANNEL_TLS_KEY_FILE is set without"),
        ({"tls_client_ca_file": "ca.pem"}, "client certificates"),
        (
            {"tls_cert_file": "c.pem", "tls_key_file": "k.pem", "tls_client_auth": "require"},
            "require needs BACKCHANNEL_TLS_CLIENT_CA_FILE",
        ),
        (
            {
                "tls_cert_file": "c.pem",
                "tls_key_file": "k.pem",
                "tls_client_ca_file": "ca.pem",
                "tls_client_auth": "none",
            },
            "would never ask for a client certificate",
        ),
    ],
)
def test_tls_settings_that_contradict_each_other_are_refused(
    given: dict[str, str], problem: str
) -> None:
    with pytest.raises(TlsSetupError, match=problem):
        tls_settings(Settings(**given))  # type: ignore[arg-type]


def test_a_client_ca_alone_means_client_certificates_are_required() -> None:
    wanted = tls_settings(
        Settings(tls_cert_file="c.pem", tls_key_file="k.pem", tls_client_ca_file="ca.pem")
    )

    assert wanted is not None and wanted.require_client_certificate
    assert tls_settings(Settings()) is None


def test_client_auth_takes_none_or_require_and_explains_optional() -> None:
    assert load_settings({"BACKCHANNEL_TLS_CLIENT_AUTH": "Require"}).tls_client_auth == "require"
    with pytest.raises(SettingsError, match="optional is not available"):
        load_settings({"BACKCHANNEL_TLS_CLIENT_AUTH": "optional"})
    with pytest.raises(SettingsError, match="expected none or require"):
        load_settings({"BACKCHANNEL_TLS_CLIENT_AUTH": "sometimes"})
