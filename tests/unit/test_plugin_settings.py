"""Operator settings of a plugin (for the whole server, not one recipient): from
BACKCHANNEL_PLUGIN_<NAME>__<KEY> and the config file's [plugin.<name>] tables, handed to
the transport of that name in its TransportContext when it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from backchannel.process_setup import close_transports, started_plugins
from backchannel.settings import SettingsError, load_settings


def test_environment_variables_give_a_plugin_its_settings() -> None:
    settings = load_settings(
        {
            "BACKCHANNEL_PLUGIN_ACME_CRM__ROOT_FOLDER": "/srv/feedback",
            "BACKCHANNEL_PLUGIN_ACME_CRM__PROXY": "http://proxy:3128",
            "BACKCHANNEL_PLUGIN_WEBHOOK__NOTE": "x",
        }
    )
    assert settings.plugin_settings == {
        "acme_crm": {"root_folder": "/srv/feedback", "proxy": "http://proxy:3128"},
        "webhook": {"note": "x"},
    }


def test_the_config_files_plugin_tables_count_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "backchannel.toml"
    config.write_text(
        'listen = "127.0.0.1:50052"\n'
        "[plugin.acme-crm]\n"
        'root_folder = "/from/file"\n'
        "strict = true\n"
        "limit = 5\n"
    )
    settings = load_settings(
        {"BACKCHANNEL_PLUGIN_ACME_CRM__ROOT_FOLDER": "/from/env"}, config_file=str(config)
    )
    assert settings.plugin_settings == {
        "acme_crm": {"root_folder": "/from/env", "strict": "true", "limit": "5"}
    }
    assert settings.listen == "127.0.0.1:50052"


def test_a_plugin_variable_without_the_double_underscore_is_refused() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"BACKCHANNEL_PLUGIN_ACME_ROOT": "/srv"})
    assert "BACKCHANNEL_PLUGIN_<NAME>__<SETTING>" in str(refused.value)


async def test_each_transport_starts_with_its_own_settings_only() -> None:
    settings = load_settings(
        {"BACKCHANNEL_PLUGIN_WEBHOOK__NOTE": "for webhook", "BACKCHANNEL_PLUGIN_SFTP__X": "1"}
    )
    plugins = await started_plugins(settings)
    try:
        assert plugins.transports["webhook"].context.plugin_settings == {"note": "for webhook"}
        assert plugins.transports["sftp"].context.plugin_settings == {"x": "1"}
        assert plugins.transports["email"].context.plugin_settings == {}
    finally:
        await close_transports(plugins)
