"""Node config: TOML file, pydantic validation, environment overrides, path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainnode.node.config import ConfigError, NodeConfig, load_config, write_config


def test_round_trip_and_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "n" / "config.toml"
    write_config(path, NodeConfig(node_id="a", api_port=9001, genesis=Path("../genesis.json")))
    cfg = load_config(path, env={})
    assert cfg.node_id == "a" and cfg.api_port == 9001
    assert cfg.genesis == (tmp_path / "n" / ".." / "genesis.json")
    assert cfg.data_dir == tmp_path / "n" / "data"


def test_env_overrides_every_kind_of_field(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_config(path, NodeConfig())
    env = {
        "CHAINNODE_API_PORT": "9100",
        "CHAINNODE_LOG_LEVEL": "DEBUG",
        "CHAINNODE_LOG_JSON": "true",
        "CHAINNODE_DATA_DIR": "/var/lib/chainnode",
        "CHAINNODE_PEERS": '[{"public_key": "04' + "ab" * 64 + '", "host": "h", "port": 1}]',
    }
    cfg = load_config(path, env=env)
    assert cfg.api_port == 9100 and cfg.log_level == "debug" and cfg.log_json is True
    assert cfg.data_dir == Path("/var/lib/chainnode")
    assert cfg.peers is not None and cfg.peers[0].host == "h"


def test_observers_are_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_config(path, NodeConfig(observers=["0x04" + "cd" * 64]))
    assert load_config(path, env={}).observer_keys == {bytes.fromhex("04" + "cd" * 64)}
    env = {"CHAINNODE_OBSERVERS": '["04' + "ab" * 64 + '"]'}
    assert load_config(path, env=env).observer_keys == {bytes.fromhex("04" + "ab" * 64)}


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("api_port = 70000\n", {}, "api_port"),
        ("api_port = 'x'\n", {}, "api_port"),
        ("bogus = 1\n", {}, "bogus"),
        ("api_port = \n", {}, "not valid TOML"),
        ("", {"CHAINNODE_API_PORT": "-1"}, "api_port (from CHAINNODE_API_PORT)"),
        ("", {"CHAINNODE_PEERS": "[not json"}, "CHAINNODE_PEERS"),
        ("log_level = 'loud'\n", {}, "log_level"),
        ("observers = ['04ab']\n", {}, "observers"),
        ("", {"CHAINNODE_OBSERVERS": '["zz"]'}, "observers"),
    ],
)
def test_bad_config_names_the_field(
    tmp_path: Path, text: str, env: dict[str, str], needle: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path, env=env)
    assert needle in str(e.value)


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="network init"):
        load_config(tmp_path / "nope.toml", env={})
