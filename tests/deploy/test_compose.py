"""deploy/compose.yaml: the services a deployment needs, in the right order, with
settings Huddle accepts. `docker compose config` validates it too where Docker Compose
is installed."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.deploy.manifests import DEPLOY, check_settings, yaml_documents

COMPOSE = DEPLOY / "compose.yaml"
EXAMPLE_ENV = {
    "HUDDLE_PUBLIC_URL": "https://huddle.example.org",
    "POSTGRES_PASSWORD": "example",
    "HUDDLE_SMTP_HOST": "smtp.example.org",
    "HUDDLE_SMTP_FROM": "Secure messages <no-reply@example.org>",
}
HUDDLE_SERVERS = ("huddle-a", "huddle-b")


def services() -> dict[str, dict]:
    (document,) = yaml_documents(COMPOSE)
    return document["services"]


def interpolate(value: str) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, from EXAMPLE_ENV."""

    def one(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"] or ""
        if name in EXAMPLE_ENV:
            return EXAMPLE_ENV[name]
        assert match["op"] != ":?", f"{name} is required but not in EXAMPLE_ENV"
        return default

    return re.sub(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<default>[^}]*))?\}", one, value)


def test_the_deployment_has_its_database_bus_migrations_two_servers_and_a_proxy() -> None:
    found = services()
    assert set(found) == {"postgres", "redis", "migrate", "nginx", *HUDDLE_SERVERS}
    for name, service in found.items():
        image = interpolate(service["image"])
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+[\w.-]*", image), f"{name}: {image} is not pinned"


def test_servers_start_only_after_the_migrations_succeeded() -> None:
    found = services()
    assert found["migrate"]["command"] == ["db", "upgrade"]
    assert found["migrate"]["restart"] == "no"
    for name in HUDDLE_SERVERS:
        after = found[name]["depends_on"]
        assert after["migrate"] == {"condition": "service_completed_successfully"}, name
    assert set(found["nginx"]["depends_on"]) == set(HUDDLE_SERVERS)


def test_every_server_gets_settings_huddle_accepts_for_production() -> None:
    for name in ("migrate", *HUDDLE_SERVERS):
        environment = {k: interpolate(str(v)) for k, v in services()[name]["environment"].items()}
        settings = check_settings({k: v for k, v in environment.items() if v})
        assert settings.is_production
        assert settings.database_url.startswith("postgresql+asyncpg://")
        assert settings.redis_url == "redis://redis:6379/0"
    assert services()["huddle-b"]["environment"]["HUDDLE_BACKGROUND_JOBS"] == "false"


def test_the_proxy_mounts_the_tested_nginx_config_and_the_servers_share_blobs() -> None:
    found = services()
    mounts = [volume.split(":") for volume in found["nginx"]["volumes"]]
    assert ["./nginx/huddle.conf", "/etc/nginx/conf.d/default.conf", "ro"] in mounts
    assert (COMPOSE.parent / "nginx" / "huddle.conf").is_file()
    for name in HUDDLE_SERVERS:
        assert "blobs:/var/lib/huddle/blobs" in found[name]["volumes"], name
        assert set(found[name]["secrets"]) == {"signing-keys.json", "keyring.json"}


def compose_installed() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(
    not compose_installed(), reason="Docker Compose not installed (the YAML checks still ran)"
)
def test_docker_compose_accepts_the_file() -> None:
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        env=EXAMPLE_ENV | {"PATH": "/usr/local/bin:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
