"""The nginx template and what fills it in: deploy.nginx and docker-compose.yml agree
with the app's own limits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from bookstore.config import load_config
from deploy import nginx as nginx_conf
from tests.conftest import ROOT
from tests.proxy.conftest import nginx_binary


def _settings(tmp_path: Path, **kw) -> dict[str, str]:
    return nginx_conf.settings(
        ["127.0.0.1:8001", "127.0.0.1:8002"],
        runtime_dir=tmp_path / "run",
        log_dir=tmp_path / "logs",
        cert=tmp_path / "cert.pem",
        key=tmp_path / "key.pem",
        **kw,
    )


def test_the_limits_follow_the_apps_settings(tmp_path):
    values = _settings(tmp_path, env={})
    assert values["NGINX_CLIENT_MAX_BODY_SIZE"] == str(
        load_config({"APP_ENV": "testing"})["MAX_CONTENT_LENGTH"]
    )
    assert values["NGINX_PROXY_TIMEOUT"] == "35s"  # gunicorn's 30 s, and a margin
    assert values["NGINX_UPSTREAM_KEEPALIVE_TIMEOUT"] == "4s"  # under gunicorn's 5 s
    changed = _settings(
        tmp_path,
        env={"MAX_CONTENT_LENGTH": "4096", "GUNICORN_TIMEOUT": "60", "GUNICORN_KEEPALIVE": "2"},
    )
    assert changed["NGINX_CLIENT_MAX_BODY_SIZE"] == "4096"
    assert changed["NGINX_PROXY_TIMEOUT"] == "65s"
    assert changed["NGINX_UPSTREAM_KEEPALIVE_TIMEOUT"] == "1s"


def test_docker_compose_fills_in_the_same_values():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["nginx"]["environment"]
    template = nginx_conf.TEMPLATE.read_text()
    assert set(nginx_conf.PLACEHOLDER.findall(template)) <= set(env)
    derived = nginx_conf.settings(
        ["api:8000"], runtime_dir=Path("/r"), log_dir=Path("/l"), cert=Path("/c"), key=Path("/k"),
        env={},
    )  # fmt: skip
    for name in ("NGINX_CLIENT_MAX_BODY_SIZE", "NGINX_PROXY_TIMEOUT"):
        assert env[name] == derived[name], name
    assert env["NGINX_UPSTREAM_KEEPALIVE_TIMEOUT"] == derived["NGINX_UPSTREAM_KEEPALIVE_TIMEOUT"]
    api = compose["services"]["api"]
    assert "ports" not in api and api["deploy"]["replicas"] == 2
    assert api["environment"]["TRUSTED_PROXIES"] == "1"


def test_an_instance_in_restart_is_marked_down_and_one_must_stay_up():
    lines = nginx_conf.upstream_servers(["a:1", "b:2"], down=["a:1"])
    assert "server a:1 max_fails=2 fail_timeout=5s down;" in lines
    assert "server b:2 max_fails=2 fail_timeout=5s;" in lines
    with pytest.raises(ValueError, match="at least one"):
        nginx_conf.upstream_servers(["a:1"], down=["a:1"])


def test_a_placeholder_without_a_value_is_an_error():
    with pytest.raises(KeyError, match="NGINX_SOMETHING"):
        nginx_conf.render({}, "listen ${NGINX_SOMETHING}; set $host x;")
    assert nginx_conf.render({"A": "1"}, "x ${A} $remote_addr") == "x 1 $remote_addr"


def test_the_rendered_configuration_passes_nginx_t(tmp_path):
    binary = nginx_binary()
    cert, key = nginx_conf.self_signed(tmp_path / "tls")
    values = _settings(tmp_path, http_listen="127.0.0.1:1", https_listen="127.0.0.1:2")
    values.update(NGINX_TLS_CERT=str(cert), NGINX_TLS_KEY=str(key))
    conf = nginx_conf.write_config(tmp_path, values)
    result = subprocess.run(
        [binary, "-t", "-c", str(conf), "-e", str(tmp_path / "logs" / "error.log")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "client_max_body_size 1048576;" in conf.read_text()
