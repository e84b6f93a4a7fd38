"""deploy/k8s/: every kind a deployment needs, probes on the right endpoints, selectors
that match, non-root pods, and settings Huddle accepts for production."""

from __future__ import annotations

from typing import Any

from tests.deploy.manifests import DEPLOY, check_settings, yaml_documents

K8S = DEPLOY / "k8s"


def manifests() -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml_documents(path):
            by_kind.setdefault(document["kind"], []).append(document)
    return by_kind


def one(kind: str) -> dict[str, Any]:
    (found,) = manifests()[kind]
    return found


def test_every_kind_a_deployment_needs_is_there() -> None:
    assert {
        "Namespace",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "Job",
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
    } <= set(manifests())


def test_kustomization_lists_every_manifest_but_the_secret_templates() -> None:
    kustomization = one("Kustomization")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secrets.example.yaml"}


def test_readiness_is_ready_and_liveness_is_health() -> None:
    (container,) = one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["args"] == ["serve"]


def test_pods_run_as_the_images_non_root_user_with_a_read_only_root() -> None:
    for kind in ("Deployment", "Job"):
        pod = one(kind)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, kind
        assert pod["securityContext"]["runAsUser"] == 10001, kind
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, kind
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, kind


def test_selectors_find_the_server_pods() -> None:
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        one("Service")["spec"]["selector"],
        one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    assert one("PodDisruptionBudget")["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    job_labels = one("Job")["spec"]["template"]["metadata"]["labels"]
    assert not one("Service")["spec"]["selector"].items() <= job_labels.items()


def test_the_ingress_sends_everything_to_the_service_with_websocket_timeouts() -> None:
    ingress = one("Ingress")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/"
    assert path["backend"]["service"]["name"] == one("Service")["metadata"]["name"]
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "10m"
    assert ingress["spec"]["tls"]


def test_the_migration_job_upgrades_with_the_servers_settings_and_keys() -> None:
    job_pod = one("Job")["spec"]["template"]["spec"]
    server_pod = one("Deployment")["spec"]["template"]["spec"]
    (migrate,) = job_pod["containers"]
    (server,) = server_pod["containers"]
    assert migrate["args"] == ["db", "upgrade"]
    assert migrate["image"] == server["image"]
    assert migrate["envFrom"] == server["envFrom"]
    assert job_pod["restartPolicy"] == "Never"


def test_keys_are_mounted_from_secrets_as_a_directory_so_rotations_reach_pods() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    keys = next(v for v in pod["volumes"] if v["name"] == "keys")
    assert keys["secret"]["secretName"] == "huddle-keys"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "keys")
    assert "subPath" not in mount
    assert mount["readOnly"] is True
    secret_keys = {s["metadata"]["name"]: s["stringData"] for s in manifests()["Secret"]}
    assert set(secret_keys["huddle-keys"]) == {"signing-keys.json", "keyring.json"}
    settings = check_settings(one("ConfigMap")["data"] | secret_keys["huddle-env"])
    assert settings.signing_keys_file.parent.as_posix() == mount["mountPath"]
    assert settings.keyring_file.parent.as_posix() == mount["mountPath"]
    assert settings.is_production
