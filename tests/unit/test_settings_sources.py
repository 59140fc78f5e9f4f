"""Where settings come from: the TOML file (``BACKCHANNEL_CONFIG_FILE`` or ``--config``)
and ``BACKCHANNEL_*`` environment variables, the environment winning; what is unknown or
unreadable is refused with every problem listed; README's table names every setting."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import fields
from pathlib import Path

import pytest

from backchannel import cli
from backchannel.cli import exit_codes, service
from backchannel.settings import Settings, SettingsError, load_settings

README = Path(__file__).parents[2] / "README.md"


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "backchannel.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _refusal(environ: dict[str, str], config_file: str | None = None) -> list[str]:
    with pytest.raises(SettingsError) as refused:
        load_settings(environ, config_file=config_file)
    assert str(refused.value).startswith("invalid settings:")
    return refused.value.problems


def test_the_file_gives_strings_numbers_and_booleans(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        'listen = "0.0.0.0:6000"\n'
        "database_pool_size = 4\n"
        "lease_seconds = 2.5\n"
        "dispatcher_enabled = false\n"
        'delivery_processes = "auto"\n',
    )

    settings = load_settings({}, config_file=path)

    assert settings.listen == "0.0.0.0:6000"
    assert settings.database_pool_size == 4
    assert settings.lease_seconds == 2.5
    assert settings.dispatcher_enabled is False
    assert settings.delivery_processes == "auto"


def test_the_file_gives_lists_as_arrays(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "retry_schedule = [0, 5, 60.5]\n"
        'outbound_allow_networks = ["127.0.0.1/32", "::1/128"]\n'
        'disabled_plugins = ["backchannel-teams", "backchannel-sftp"]\n',
    )

    settings = load_settings({}, config_file=path)

    assert settings.retry_schedule == (0.0, 5.0, 60.5)
    assert settings.outbound_allow_networks == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.disabled_plugins == ("backchannel-teams", "backchannel-sftp")


def test_the_file_is_found_through_backchannel_config_file(tmp_path: Path) -> None:
    path = _config(tmp_path, "stream_queue_size = 7\n")

    settings = load_settings({"BACKCHANNEL_CONFIG_FILE": path})

    assert settings.stream_queue_size == 7


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path, 'listen = "127.0.0.1:6000"\ndispatcher_enabled = false\n')

    settings = load_settings(
        {"BACKCHANNEL_CONFIG_FILE": path, "BACKCHANNEL_LISTEN": "127.0.0.1:7000"}
    )

    assert settings.listen == "127.0.0.1:7000"
    assert settings.dispatcher_enabled is False


def test_settings_the_file_leaves_out_keep_their_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, config_file=_config(tmp_path, "# nothing set\n"))

    assert settings == Settings()


def test_unknown_names_and_bad_values_in_the_file_are_all_listed(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        'listen = "127.0.0.1:6000"\n'
        "leese_seconds = 3\n"
        "retry_share = 2\n"
        "[otel]\n"
        'exporter = "otlp"\n',
    )

    problems = _refusal({}, config_file=path)

    assert problems == [
        f"{path}: unknown setting 'leese_seconds'",
        f"{path}: unknown setting 'otel'",
        f"{path}: retry_share = 2: must be a fraction above 0 and at most 1, e.g. 0.5",
    ]


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.toml")

    problems = _refusal({"BACKCHANNEL_CONFIG_FILE": path})

    assert problems == [f"config file {path}: cannot be read: No such file or directory"]


def test_a_folder_given_as_the_file_is_refused_naming_it(tmp_path: Path) -> None:
    problems = _refusal({}, config_file=str(tmp_path))

    assert problems == [f"config file {tmp_path}: cannot be read: Is a directory"]


def test_a_file_that_is_not_toml_is_refused_with_where_it_breaks(tmp_path: Path) -> None:
    path = _config(tmp_path, 'listen = "127.0.0.1:6000"\nlease_seconds 3\n')

    [problem] = _refusal({}, config_file=path)

    assert problem.startswith(f"config file {path}: not valid TOML: ")
    assert "line 2" in problem


def test_a_file_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('data_dir = "donn\xe9es"\n'.encode("latin-1"))

    [problem] = _refusal({}, config_file=str(path))

    assert problem.startswith(f"config file {path}: not valid TOML: ")


def test_unknown_environment_variables_are_refused_every_one_with_every_bad_value() -> None:
    problems = _refusal(
        {
            "BACKCHANNEL_LISTEN": "127.0.0.1:6000",
            "BACKCHANNEL_LEASE_SECOND": "3",
            "BACKCHANNEL_DISPATCHER_ENABLED": "maybe",
            "BACKCHANNEL_DATABASE": "postgresql://localhost/x",
            "PATH": "/usr/bin",
            "OTHER_LEASE_SECONDS": "3",
        }
    )

    assert sorted(problems) == [
        "BACKCHANNEL_DISPATCHER_ENABLED='maybe': expected true or false",
        "unknown environment variable BACKCHANNEL_DATABASE",
        "unknown environment variable BACKCHANNEL_LEASE_SECOND",
    ]


def test_problems_of_the_file_and_of_the_environment_are_listed_together(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path, "colour = 1\n")

    problems = _refusal({"BACKCHANNEL_CONFIG_FILE": path, "BACKCHANNEL_COLOR": "1"})

    assert sorted(problems) == [
        f"{path}: unknown setting 'colour'",
        "unknown environment variable BACKCHANNEL_COLOR",
    ]


def test_serve_config_reads_the_file_and_passes_it_on_to_delivery_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path, 'listen = "127.0.0.1:6001"\ndelivery_processes = 2\n')
    for name in [n for n in os.environ if n.startswith("BACKCHANNEL_")]:
        monkeypatch.delenv(name)
    served: list[tuple[Settings, str | None]] = []

    async def serve(settings: Settings, config_file: str | None = None) -> int:
        served.append((settings, config_file))
        return exit_codes.OK

    monkeypatch.setattr(service, "serve", serve)
    monkeypatch.setattr(service, "configure_logging", lambda level: None)

    assert cli.main(["serve", "--config", path]) == exit_codes.OK

    [(settings, config_file)] = served
    assert (settings.listen, settings.delivery_processes) == ("127.0.0.1:6001", 2)
    assert config_file == path


def test_serve_config_with_a_bad_file_exits_with_the_configuration_code_and_every_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, "lease_seconds = 0\nlisten = 50051\n")
    monkeypatch.setenv("BACKCHANNEL_POLL_INTERVAL", "1")

    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--config", path])

    assert exited.value.code == exit_codes.CONFIG
    stderr = capsys.readouterr().err
    assert stderr.startswith("backchannel: invalid settings:\n")
    assert f"{path}: lease_seconds = 0: must be greater than 0" in stderr
    assert f"{path}: listen = 50051: expected host:port" in stderr
    assert "unknown environment variable BACKCHANNEL_POLL_INTERVAL" in stderr


def test_readme_documents_every_setting_in_the_order_they_are_declared() -> None:
    section = README.read_text(encoding="utf-8").split("\n## Settings\n")[1].split("\n## ")[0]
    documented = re.findall(r"^\| `(BACKCHANNEL_\w+)` \|", section, re.MULTILINE)

    assert documented == [
        f"BACKCHANNEL_{f.name.upper()}" for f in fields(Settings) if "parse" in f.metadata
    ]
    assert "BACKCHANNEL_PLUGIN_<NAME>__<SETTING>" in section
