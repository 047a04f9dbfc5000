from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import EngineConfig, load_config, redacted
from engine.core.errors import ConfigError


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "engine.toml"
    path.write_text(text)
    return path


def test_load_config_when_nothing_given_then_embedded_defaults() -> None:
    config = load_config(env={})
    assert config.grpc.port == 50051
    assert config.grpc.host == "127.0.0.1"
    assert config.metrics.port == 9464
    assert config.store.durability == "sync"
    assert config.data_dir.is_absolute()
    assert config.data_dir.name == ".algotrendy"


def test_load_config_when_layers_overlap_then_defaults_file_env_flags_in_that_order(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        '[grpc]\nport = 6001\nhost = "0.0.0.0"\n[metrics]\nport = 7001\nloop_lag_interval_ms = 250\n'
        '[log]\nlevel = "debug"\n',
    )
    config = load_config(
        path,
        env={"ALGOTRENDY_METRICS__PORT": "7002", "ALGOTRENDY_LOG__LEVEL": "warning"},
        overrides={"log.level": "error"},
    )
    assert config.grpc.port == 6001  # file over default
    assert config.grpc.host == "0.0.0.0"
    assert config.metrics.port == 7002  # env over file
    assert config.metrics.loop_lag_interval_ms == 250  # untouched file key survives the env layer
    assert config.log.level == "error"  # flag over env
    assert config.store.map_size_mb == 1024  # default where nobody spoke


def test_load_config_when_env_names_top_level_key_then_applied(tmp_path: Path) -> None:
    config = load_config(env={"ALGOTRENDY_DATA_DIR": str(tmp_path / "d")})
    assert config.data_dir == (tmp_path / "d").resolve()


def test_load_config_when_env_has_foreign_algotrendy_vars_then_ignored() -> None:
    config = load_config(env={"ALGOTRENDY_SHARED_DATA": "/x", "ALGOTRENDY_TARGET": "h:1", "PATH": "/bin"})
    assert config == load_config(env={})


def test_load_config_when_toml_malformed_then_error_names_file_and_position(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[grpc\nport = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert str(path) in message
    assert "invalid TOML" in message
    assert "line 1" in message


def test_load_config_when_unknown_key_in_file_then_error_names_key_valid_keys_and_source(
    tmp_path: Path,
) -> None:
    path = _toml(tmp_path, "[grpc]\nprot = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.key == "grpc.prot"
    assert "unknown key" in info.value.problem
    assert "port" in info.value.problem
    assert info.value.source == f"file {path}"


def test_load_config_when_unknown_section_then_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_toml(tmp_path, "[grcp]\nport = 1\n"), env={})
    assert info.value.key == "grcp"
    assert "unknown key" in info.value.problem


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("[grpc]\nport = 70000\n", "grpc.port", "less than or equal to 65535"),
        ('[grpc]\nport = "abc"\n', "grpc.port", "valid integer"),
        ('[log]\nlevel = "loud"\n', "log.level", "'debug', 'info', 'warning' or 'error'"),
        ('[store]\ndurability = "maybe"\n', "store.durability", "'sync' or 'async'"),
        ("grpc = 5\n", "grpc", "must be a section"),
        ('[engine]\ninstance = "has space"\n', "engine.instance", "pattern"),
        ('data_dir = ""\n', "data_dir", "must not be empty"),
    ],
)
def test_load_config_when_value_invalid_then_error_names_key_and_problem(
    tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_toml(tmp_path, text), env={})
    assert info.value.key == key
    assert fragment in info.value.problem
    assert "\n" not in str(info.value)


def test_load_config_when_env_value_invalid_then_error_names_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"ALGOTRENDY_GRPC__PORT": "-1"})
    assert info.value.key == "grpc.port"
    assert info.value.source == "env ALGOTRENDY_GRPC__PORT"


def test_load_config_when_env_key_unknown_then_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"ALGOTRENDY_GRPC__PROT": "1"})
    assert info.value.key == "grpc.prot"
    assert info.value.source == "env ALGOTRENDY_GRPC__PROT"


def test_load_config_when_env_section_unknown_then_error_lists_sections() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"ALGOTRENDY_GRCP__PORT": "1"})
    assert info.value.key == "grcp"
    assert "grpc" in info.value.problem


def test_load_config_when_flag_invalid_then_error_names_flag() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={}, overrides={"grpc.port": "x"}, override_labels={"grpc.port": "--grpc-port"})
    assert info.value.source == "flag --grpc-port"


def test_load_config_when_ports_collide_then_error_names_metrics_port() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={}, overrides={"metrics.port": 50051})
    assert info.value.key == "metrics.port"
    assert "grpc.port" in info.value.problem


def test_load_config_when_config_file_missing_then_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", env={})
    assert "file not found" in str(info.value)


def test_engine_config_when_built_then_immutable() -> None:
    config = load_config(env={})
    with pytest.raises(Exception, match="frozen"):
        config.grpc.port = 1  # type: ignore[misc]


def test_redacted_when_config_holds_secret_then_secret_hidden() -> None:
    from pydantic import SecretStr

    class WithSecret(EngineConfig):
        api_secret: SecretStr = SecretStr("s3cr3t-value")

    dumped = redacted(WithSecret())  # type: ignore[arg-type]
    assert dumped["api_secret"] == "**********"
    assert "s3cr3t-value" not in repr(dumped)
    assert dumped["grpc"]["port"] == 50051


def test_example_config_when_loaded_then_equals_the_documented_defaults() -> None:
    example = Path(__file__).resolve().parents[3] / "ops" / "config" / "engine.example.toml"
    loaded = load_config(example, env={})
    assert loaded.model_dump(exclude={"data_dir"}) == load_config(env={}).model_dump(exclude={"data_dir"})
    assert loaded.data_dir.name == ".algotrendy"
