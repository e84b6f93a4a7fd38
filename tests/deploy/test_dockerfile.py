"""deploy/Dockerfile without Docker: a small parser checks what hadolint and a reviewer
would (pinned bases, non-root runtime, health check, entrypoint), that every file it
copies exists, and that .dockerignore keeps secrets and data out of the build."""

from __future__ import annotations

import json
import re
import shlex

from tests.deploy.manifests import DEPLOY, check_settings

REPO = DEPLOY.parent
DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_every_base_image_is_pinned_to_a_version() -> None:
    bases = [args.split()[0] for keyword, args in instructions() if keyword == "FROM"]
    assert len(bases) >= 2  # multi-stage: the web build stays out of the runtime
    for image in bases:
        tag = image.partition(":")[2]
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{image}: pin a full version, not {tag!r}"


def test_the_web_client_is_built_in_a_node_stage_and_copied_in() -> None:
    steps = instructions()
    assert any(k == "FROM" and a.startswith("node:") for k, a in steps)
    assert ("RUN", "npm run build --silent") in steps
    assert any(k == "COPY" and a.startswith("--from=web ") for k, a in final_stage())


def test_the_runtime_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the runtime stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_health_check_and_entrypoint() -> None:
    stage = dict(final_stage())
    options, _, command = stage["HEALTHCHECK"].partition(" CMD ")
    assert "--interval=" in options
    probe = json.loads(command)  # exec form: no shell needed in the slim image
    assert probe[0] == "python"
    assert "/health" in probe[-1]
    compile(probe[-1], "HEALTHCHECK", "exec")  # the probe is valid Python
    assert json.loads(stage["ENTRYPOINT"]) == ["huddle"]
    assert json.loads(stage["CMD"]) == ["serve"]


def test_every_copied_source_exists() -> None:
    for keyword, args in instructions():
        if keyword != "COPY" or args.startswith("--from="):
            continue
        *sources, _destination = shlex.split(args)
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such path in the repository"


def test_the_images_settings_are_valid_once_the_deployment_adds_its_own() -> None:
    environment: dict[str, str] = {}
    for keyword, args in final_stage():
        if keyword == "ENV":
            environment.update(pair.split("=", 1) for pair in shlex.split(args))
    settings = check_settings(
        {k: v for k, v in environment.items() if k.startswith("HUDDLE_")}
        | {
            "HUDDLE_PUBLIC_URL": "https://huddle.example.org",
            "HUDDLE_SMTP_HOST": "smtp.example.org",
            "HUDDLE_SMTP_FROM": "no-reply@example.org",
        }
    )
    assert settings.is_production
    assert settings.host == "0.0.0.0"  # noqa: S104 - reachable from outside the container


def test_dockerignore_keeps_secrets_data_and_local_state_out_of_the_build() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {"secrets/", "var/", ".venv/", ".git/", "clients/web/node_modules/"} <= ignored
