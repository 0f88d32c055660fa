"""deploy/k8s: every manifest is schema-valid Kubernetes and agrees with the code.

Schema: ``kubernetes-validate`` (the Kubernetes OpenAPI schemas as JSON Schema, bundled in the
package, no network) in strict mode, so a misspelt or misplaced field fails too. The
ServiceMonitor and the PodMonitors of the feed webhook and the gateway are prometheus-operator CRDs the package has no
schema for; they are checked against what they scrape instead (and their fields against the CRD's). Against the code: every ``CES_*`` variable is a
setting and the values make valid ``Settings``; probes, port, data volume, goal registry,
secrets, replicas and image match what the worker and the compose file use.

After editing ``deploy/goals.yaml``, refresh the ConfigMap with
``.venv/bin/python tests/test_deploy/test_k8s_manifests.py`` (from the repository root).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import PROJECT_ROOT

if __name__ == "__main__":  # run as a script from the repository root: regenerate the ConfigMap
    sys.path.insert(0, str(PROJECT_ROOT))

from pydantic import SecretStr

from stream.ces.registry.loader import load_registry
from stream.observability.feed_rules import FEED_JOB
from stream.observability.gateway_rules import GATEWAY_JOB
from stream.settings import ENV_PREFIX, Settings, load_settings

K8S = PROJECT_ROOT / "deploy" / "k8s"
GOALS = PROJECT_ROOT / "deploy" / "goals.yaml"
CONFIGMAP = K8S / "configmap-goals.yaml"
# The oldest Kubernetes minor still maintained when these were written, and the newest the
# validator bundles: the manifests must be valid on both.
K8S_VERSIONS = ("1.31", "latest")
# Not built-in Kubernetes kinds: no bundled schema (checked by the cross-checks below).
NOT_BUILT_IN = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
}
# Applied apart (kubectl apply -f), only where the prometheus-operator's CRDs are installed.
OPERATOR_FILES = {"servicemonitor.yaml", "podmonitor-feed-webhook.yaml", "podmonitor-gateway.yaml"}
WORKER_LABELS = {"app.kubernetes.io/name": "ces-stream", "app.kubernetes.io/component": "worker"}


def goals_configmap_text() -> str:
    """configmap-goals.yaml as it must be: deploy/goals.yaml verbatim under data.goals.yaml."""
    body = "".join(f"    {line}" if line.strip() else "\n" for line in GOALS.read_text().splitlines(keepends=True))
    return (
        "# The goal registry (CES_GOALS_FILE), mounted at /etc/ces-stream/goals.yaml: deploy/goals.yaml\n"
        "# verbatim (tests/test_deploy/test_k8s_manifests.py checks it and rewrites it when run as a script).\n"
        "# The worker reads it at start: after a change, kubectl rollout restart statefulset/ces-stream.\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: ces-stream-goals\n"
        "  labels:\n"
        "    app.kubernetes.io/name: ces-stream\n"
        "data:\n"
        "  goals.yaml: |\n" + body
    )


def load_manifests(folder: Path = K8S) -> dict[str, list[dict[str, Any]]]:
    """file name -> its YAML documents (empty ones dropped)."""
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        for path in sorted(folder.glob("*.yaml"))
    }


def one(manifests: dict[str, list[dict[str, Any]]], kind: str, component: str | None = None) -> dict[str, Any]:
    """The one manifest of ``kind`` (of the ``app.kubernetes.io/component`` ``component``, when given)."""
    found = [
        doc
        for docs in manifests.values()
        for doc in docs
        if doc.get("kind") == kind
        and (component is None or doc["metadata"]["labels"].get("app.kubernetes.io/component") == component)
    ]
    assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
    return found[0]


def worker_container(statefulset: dict[str, Any]) -> dict[str, Any]:
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    return container


def env_values(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """CES_* name -> its env entry (with "value" or "valueFrom")."""
    names = [entry["name"] for entry in container["env"]]
    assert len(names) == len(set(names)), f"a variable is set twice: {names}"
    return {entry["name"]: entry for entry in container["env"]}


def literal(env: dict[str, dict[str, Any]], name: str) -> str:
    assert "value" in env[name], f"{name} must have a literal value"
    return env[name]["value"]


def secret_setting_names() -> set[str]:
    return {
        ENV_PREFIX + name.upper()
        for name, field in Settings.model_fields.items()
        if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
    }


@pytest.fixture(scope="module")
def manifests() -> dict[str, list[dict[str, Any]]]:
    return load_manifests()


@pytest.fixture(scope="module")
def statefulset(manifests) -> dict[str, Any]:
    return one(manifests, "StatefulSet")


@pytest.fixture(scope="module")
def env(statefulset) -> dict[str, dict[str, Any]]:
    return env_values(worker_container(statefulset))


def test_the_expected_manifests_are_there(manifests):
    kinds = sorted(doc["kind"] for docs in manifests.values() for doc in docs)
    assert kinds == sorted(
        [
            "StatefulSet",
            "Deployment",
            "Deployment",
            "Service",
            "Service",
            "ConfigMap",
            "PodDisruptionBudget",
            "ServiceMonitor",
            "PodMonitor",
            "PodMonitor",
            "Kustomization",
        ]
    )


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_built_in_manifest_is_schema_valid(manifests, version):
    import kubernetes_validate

    if version == "latest":
        version = kubernetes_validate.utils.latest_version()
    checked = []
    for file, docs in manifests.items():
        for doc in docs:
            if (doc.get("apiVersion"), doc.get("kind")) in NOT_BUILT_IN:
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(part) for part in exc.path)
                pytest.fail(f"{file}: {doc['kind']} is not valid Kubernetes {version}: {path}: {exc.message}")
            checked.append(doc["kind"])
    assert sorted(checked) == [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "Service",
        "StatefulSet",
    ]


def test_the_validator_rejects_a_broken_manifest(statefulset):
    """The schema check is not vacuous: a misspelt field and a wrong type both fail offline."""
    import copy

    import kubernetes_validate

    misspelt = copy.deepcopy(statefulset)
    misspelt["spec"]["template"]["spec"]["terminationGracePeriod"] = 60
    wrong_type = copy.deepcopy(statefulset)
    wrong_type["spec"]["replicas"] = "three"
    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


def test_kustomization_applies_everything_but_the_crd(manifests):
    kustomization = one(manifests, "Kustomization")
    assert set(kustomization["resources"]) == set(manifests) - {"kustomization.yaml", *OPERATOR_FILES}
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    name, tag = compose["x-ces-image"]["image"].split(":")
    (image,) = kustomization["images"]
    assert (image["name"], image["newName"], image["newTag"]) == (name, name, tag)


def test_every_variable_is_a_setting_and_the_values_make_valid_settings(env, monkeypatch):
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    unknown = sorted(set(env) - fields)
    assert not unknown, f"not settings of stream.settings.Settings: {unknown}"
    assert all(name.startswith(ENV_PREFIX) for name in env)
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    values = {name: entry.get("value", "from-the-cluster") for name, entry in env.items()}
    values["CES_GROUP_INSTANCE_ID"] = "ces-stream-0"  # what the fieldRef gives the first pod
    settings = load_settings(**{name[len(ENV_PREFIX) :].lower(): value for name, value in values.items()})
    assert settings.static_member_id() == "ces-stream-0"
    assert settings.store.startswith("rocksdb://")
    assert settings.web_host == "0.0.0.0"  # the kubelet and Prometheus come in on the pod IP


def test_one_group_with_the_pod_name_as_static_member_id(statefulset, env):
    assert literal(env, "CES_APP_ID")
    assert env["CES_GROUP_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert statefulset["spec"]["template"]["metadata"]["labels"] == WORKER_LABELS


def test_replicas_do_not_exceed_the_partitions(statefulset, env):
    assert 1 <= statefulset["spec"]["replicas"] <= int(literal(env, "CES_TOPIC_PARTITIONS"))


def test_probes_ask_health_on_the_web_port(statefulset, env):
    container = worker_container(statefulset)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    web_port = int(literal(env, "CES_WEB_PORT"))
    assert web_port in ports.values()
    for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container[probe_name]["httpGet"]
        port = ports.get(probe["port"], probe["port"])
        assert (probe["path"], port) == ("/health", web_port), probe_name
    # A rebalance makes /health 503 for a while: liveness must wait far longer than readiness.
    liveness, readiness = container["livenessProbe"], container["readinessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 300
    assert (
        liveness["periodSeconds"] * liveness["failureThreshold"]
        > 10 * readiness["periodSeconds"] * readiness["failureThreshold"]
    )
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(web_port) and annotations["prometheus.io/path"] == "/metrics"


def test_each_pod_keeps_its_table_store_on_its_own_volume(statefulset, env):
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {mount["name"]: mount["mountPath"] for mount in worker_container(statefulset)["volumeMounts"]}
    assert literal(env, "CES_STORE").startswith("rocksdb://")
    assert mounts[claim["metadata"]["name"]] == literal(env, "CES_DATA_DIR")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_the_goal_registry_comes_from_the_configmap(manifests, statefulset, env, tmp_path):
    configmap = one(manifests, "ConfigMap")
    assert configmap["data"]["goals.yaml"] == GOALS.read_text(), (
        "deploy/k8s/configmap-goals.yaml differs from deploy/goals.yaml: run .venv/bin/python tests/test_deploy/test_k8s_manifests.py"
    )
    copy = tmp_path / "goals.yaml"
    copy.write_text(configmap["data"]["goals.yaml"])
    assert load_registry(copy).slugs == load_registry(GOALS).slugs
    # CES_GOALS_FILE is the ConfigMap's key, mounted from that ConfigMap.
    spec = statefulset["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    goals_file = Path(literal(env, "CES_GOALS_FILE"))
    (mount,) = [m for m in worker_container(statefulset)["volumeMounts"] if m["mountPath"] == str(goals_file.parent)]
    source = volumes[mount["name"]]["configMap"]
    assert source["name"] == configmap["metadata"]["name"]
    assert {item["path"]: item["key"] for item in source["items"]}[goals_file.name] in configmap["data"]


GATEWAY_SECRETS = {"CES_GATEWAY_TOKEN_SECRET", "CES_GATEWAY_PREVIOUS_TOKEN_SECRET", "CES_GATEWAY_API_KEY"}


@pytest.mark.parametrize(
    ("kind", "component", "needed"),
    [
        ("StatefulSet", "worker", {"CES_KAFKA_SASL_PASSWORD", "CES_PSEUDONYM_KEY"}),
        ("Deployment", "feed-webhook", {"CES_KAFKA_SASL_PASSWORD", "CES_FEED_WEBHOOK_URL"}),
        ("Deployment", "gateway", {"CES_KAFKA_SASL_PASSWORD", "CES_PSEUDONYM_KEY", *GATEWAY_SECRETS}),
    ],
)
def test_secrets_are_referenced_never_written(manifests, kind, component, needed):
    assert not [doc for docs in manifests.values() for doc in docs if doc["kind"] == "Secret"]
    assert secret_setting_names() == {
        "CES_KAFKA_SASL_PASSWORD",
        "CES_PSEUDONYM_KEY",
        "CES_FEED_WEBHOOK_URL",
        "CES_EXPLAIN_TOKEN",
        *GATEWAY_SECRETS,
    }
    env = env_values(worker_container(one(manifests, kind, component)))
    assert needed <= set(env)
    for name in secret_setting_names() & set(env):
        assert set(env[name]) == {"name", "valueFrom"} and "secretKeyRef" in env[name]["valueFrom"], name
    suspicious = [
        name
        for name, entry in env.items()
        if "value" in entry and any(word in name for word in ("PASSWORD", "KEY", "SECRET", "TOKEN", "URL"))
    ]
    assert not suspicious


def test_a_clean_faust_shutdown_fits_the_grace_period(statefulset, env):
    # tests/harness.py gives a SIGTERMed worker 30 s; the session must outlast a restart's gap.
    assert statefulset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
    assert float(literal(env, "CES_SESSION_TIMEOUT_SECONDS")) >= 30


def test_the_worker_stops_well_inside_the_grace_period(statefulset, env):
    # After CES_SHUTDOWN_TIMEOUT_SECONDS the worker exits by itself (code 75): Kubernetes never needs its SIGKILL.
    entry = env.get("CES_SHUTDOWN_TIMEOUT_SECONDS")
    timeout_s = float(literal(env, "CES_SHUTDOWN_TIMEOUT_SECONDS")) if entry else Settings().shutdown_timeout_seconds
    assert timeout_s + 10 <= statefulset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]


def test_the_service_and_service_monitor_reach_the_web_port(manifests, statefulset, env):
    service = one(manifests, "Service", "worker")
    monitor = one(manifests, "ServiceMonitor")
    pdb = one(manifests, "PodDisruptionBudget")
    assert service["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["selector"] == WORKER_LABELS
    assert statefulset["spec"]["selector"]["matchLabels"] == WORKER_LABELS
    assert pdb["spec"]["selector"]["matchLabels"] == WORKER_LABELS
    assert pdb["spec"]["maxUnavailable"] == 1
    ports = {port["name"]: port["containerPort"] for port in worker_container(statefulset)["ports"]}
    (service_port,) = service["spec"]["ports"]
    assert ports[service_port["targetPort"]] == int(literal(env, "CES_WEB_PORT"))
    labels = service["metadata"]["labels"]
    assert all(labels.get(key) == value for key, value in monitor["spec"]["selector"]["matchLabels"].items())
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == (service_port["name"], "/metrics")


def test_image_is_the_one_compose_builds(statefulset):
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    assert worker_container(statefulset)["image"] == compose["x-ces-image"]["image"]
    assert worker_container(statefulset)["args"][0] == "worker"  # the image's entrypoint is ces-stream


FEED_LABELS = {"app.kubernetes.io/name": "ces-stream", "app.kubernetes.io/component": "feed-webhook"}


@pytest.fixture(scope="module")
def feed(manifests) -> dict[str, Any]:
    return one(manifests, "Deployment", "feed-webhook")


@pytest.fixture(scope="module")
def feed_env(feed) -> dict[str, dict[str, Any]]:
    return env_values(worker_container(feed))


def test_the_feed_webhook_runs_the_same_image_and_its_command(feed, statefulset):
    container = worker_container(feed)
    assert container["image"] == worker_container(statefulset)["image"]
    assert container["args"][0] == "feed-webhook"
    assert feed["spec"]["selector"]["matchLabels"] == feed["spec"]["template"]["metadata"]["labels"] == FEED_LABELS


def test_the_feed_webhooks_variables_make_valid_settings_like_the_workers(feed_env, env, monkeypatch):
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert not sorted(set(feed_env) - fields), "not settings of stream.settings.Settings"
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    values = {name: entry.get("value", "from-the-cluster") for name, entry in feed_env.items()}
    values["CES_FEED_WEBHOOK_URL"] = "https://hooks.example.com/services/from-the-cluster"
    settings = load_settings(**{name[len(ENV_PREFIX) :].lower(): value for name, value in values.items()})
    assert settings.feed_webhook_url is not None and settings.web_host == "0.0.0.0"
    # The same cluster, group prefix and registry as the workers.
    for shared in ("CES_APP_ID", "CES_KAFKA_BOOTSTRAP", "CES_KAFKA_SECURITY_PROTOCOL", "CES_GOALS_FILE"):
        assert literal(feed_env, shared) == literal(env, shared), shared


def test_the_feed_webhooks_probe_and_scrape_use_its_metrics_port(feed, feed_env):
    container = worker_container(feed)
    port = int(literal(feed_env, "CES_FEED_WEBHOOK_METRICS_PORT"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probe = container["livenessProbe"]["httpGet"]
    assert (probe["path"], ports[probe["port"]]) == ("/health", port)
    annotations = feed["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port) and annotations["prometheus.io/path"] == "/metrics"


def test_the_feed_webhook_reads_the_registry_from_the_configmap(manifests, feed, feed_env):
    spec = feed["spec"]["template"]["spec"]
    goals_file = Path(literal(feed_env, "CES_GOALS_FILE"))
    (mount,) = [m for m in worker_container(feed)["volumeMounts"] if m["mountPath"] == str(goals_file.parent)]
    source = {volume["name"]: volume for volume in spec["volumes"]}[mount["name"]]["configMap"]
    assert source["name"] == one(manifests, "ConfigMap")["metadata"]["name"]


def test_the_feed_webhook_stops_inside_its_grace_period_and_never_two_run_during_a_rollout(feed):
    assert feed["spec"]["strategy"]["type"] == "Recreate"
    assert feed["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 10


# The fields of the prometheus-operator's PodMonitor (monitoring.coreos.com/v1) this file may use: a misspelt
# one would be dropped by the operator and the feed never scraped.
POD_MONITOR_SPEC_FIELDS = {"selector", "podMetricsEndpoints", "namespaceSelector", "jobLabel", "podTargetLabels"}
POD_METRICS_ENDPOINT_FIELDS = {"port", "path", "interval", "scrapeTimeout", "scheme", "relabelings"}
RELABEL_FIELDS = {"action", "sourceLabels", "separator", "regex", "targetLabel", "replacement"}


def test_the_feed_webhooks_pod_monitor_scrapes_its_metrics_port_as_the_alerts_job(feed, feed_env, manifests):
    monitor = one(manifests, "PodMonitor", "feed-webhook")
    assert set(monitor["spec"]) <= POD_MONITOR_SPEC_FIELDS
    assert monitor["spec"]["selector"]["matchLabels"] == FEED_LABELS == feed["spec"]["template"]["metadata"]["labels"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert set(endpoint) <= POD_METRICS_ENDPOINT_FIELDS
    ports = {p["name"]: p["containerPort"] for p in worker_container(feed)["ports"]}
    assert ports[endpoint["port"]] == int(literal(feed_env, "CES_FEED_WEBHOOK_METRICS_PORT"))
    assert endpoint["path"] == "/metrics"
    # The job CesFeedWebhookDown reads; the PodMonitor's default would be <namespace>/<name>.
    (relabel,) = endpoint["relabelings"]
    assert set(relabel) <= RELABEL_FIELDS
    assert relabel == {"action": "replace", "targetLabel": "job", "replacement": FEED_JOB}


GATEWAY_LABELS = {"app.kubernetes.io/name": "ces-stream", "app.kubernetes.io/component": "gateway"}


@pytest.fixture(scope="module")
def gateway(manifests) -> dict[str, Any]:
    return one(manifests, "Deployment", "gateway")


@pytest.fixture(scope="module")
def gateway_env(gateway) -> dict[str, dict[str, Any]]:
    return env_values(worker_container(gateway))


def container_ports(deployment: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in worker_container(deployment)["ports"]}


def test_the_gateway_runs_the_same_image_and_its_command_twice(gateway, statefulset):
    container = worker_container(gateway)
    assert container["image"] == worker_container(statefulset)["image"]
    assert container["args"][0] == "gateway"
    assert gateway["spec"]["selector"]["matchLabels"] == gateway["spec"]["template"]["metadata"]["labels"]
    assert gateway["spec"]["template"]["metadata"]["labels"] == GATEWAY_LABELS
    assert gateway["spec"]["replicas"] == 2
    # A rollout never takes a gateway away before its replacement is ready.
    assert gateway["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    resources = container["resources"]
    assert set(resources) == {"requests", "limits"} and {"cpu", "memory"} <= set(resources["limits"])


def test_the_gateways_variables_make_valid_settings_like_the_workers(gateway_env, env, monkeypatch):
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert not sorted(set(gateway_env) - fields), "not settings of stream.settings.Settings"
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    values = {name: entry.get("value", "from-the-cluster-" + "x" * 32) for name, entry in gateway_env.items()}
    settings = load_settings(**{name[len(ENV_PREFIX) :].lower(): value for name, value in values.items()})
    assert settings.gateway_token_secret is not None and settings.web_host == "0.0.0.0"
    # The same cluster, registry and pseudonym key as the workers.
    for shared in ("CES_APP_ID", "CES_KAFKA_BOOTSTRAP", "CES_KAFKA_SECURITY_PROTOCOL", "CES_GOALS_FILE"):
        assert literal(gateway_env, shared) == literal(env, shared), shared
    assert gateway_env["CES_PSEUDONYM_KEY"]["valueFrom"] == env["CES_PSEUDONYM_KEY"]["valueFrom"]
    # The token secret is required; the rotation's old secret and the API key may be absent.
    refs = {name: gateway_env[name]["valueFrom"]["secretKeyRef"] for name in GATEWAY_SECRETS}
    assert not refs["CES_GATEWAY_TOKEN_SECRET"].get("optional", False)
    assert refs["CES_GATEWAY_PREVIOUS_TOKEN_SECRET"]["optional"] and refs["CES_GATEWAY_API_KEY"]["optional"]


def test_the_gateways_probes_service_and_scrape_use_its_ports(manifests, gateway, gateway_env):
    container = worker_container(gateway)
    ports = container_ports(gateway)
    api, metrics = int(literal(gateway_env, "CES_GATEWAY_PORT")), int(literal(gateway_env, "CES_GATEWAY_METRICS_PORT"))
    assert sorted(ports.values()) == sorted([api, metrics])
    # Ready: /health (503 until the producer is connected and the replay is read, and while the broker is away).
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/health" and ports[readiness["port"]] in (api, metrics)
    # Alive: the metrics port answering at all (never /health: a broker outage would restart every pod).
    liveness = container["livenessProbe"]["httpGet"]
    assert (liveness["path"], ports[liveness["port"]]) == ("/metrics", metrics)
    annotations = gateway["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(metrics) and annotations["prometheus.io/path"] == "/metrics"
    service = one(manifests, "Service", "gateway")
    assert service["spec"]["selector"] == GATEWAY_LABELS and "clusterIP" not in service["spec"]
    (service_port,) = service["spec"]["ports"]
    assert ports[service_port["targetPort"]] == api


def test_the_gateway_reads_the_registry_from_the_configmap_and_stops_inside_its_grace_period(manifests, gateway):
    spec = gateway["spec"]["template"]["spec"]
    goals_file = Path(literal(env_values(worker_container(gateway)), "CES_GOALS_FILE"))
    (mount,) = [m for m in worker_container(gateway)["volumeMounts"] if m["mountPath"] == str(goals_file.parent)]
    source = {volume["name"]: volume for volume in spec["volumes"]}[mount["name"]]["configMap"]
    assert source["name"] == one(manifests, "ConfigMap")["metadata"]["name"]
    # It ends its streams at once and gives POSTs 2 s.
    assert spec["terminationGracePeriodSeconds"] >= 10


def test_the_gateways_pod_monitor_scrapes_its_metrics_port_as_the_alerts_job(gateway, gateway_env, manifests):
    monitor = one(manifests, "PodMonitor", "gateway")
    assert set(monitor["spec"]) <= POD_MONITOR_SPEC_FIELDS
    assert monitor["spec"]["selector"]["matchLabels"] == GATEWAY_LABELS
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert set(endpoint) <= POD_METRICS_ENDPOINT_FIELDS
    assert container_ports(gateway)[endpoint["port"]] == int(literal(gateway_env, "CES_GATEWAY_METRICS_PORT"))
    assert endpoint["path"] == "/metrics"
    (relabel,) = endpoint["relabelings"]
    assert set(relabel) <= RELABEL_FIELDS
    assert relabel == {"action": "replace", "targetLabel": "job", "replacement": GATEWAY_JOB}


def test_the_configmap_file_is_the_generated_one():
    assert CONFIGMAP.read_text() == goals_configmap_text(), (
        "deploy/k8s/configmap-goals.yaml is stale: run .venv/bin/python tests/test_deploy/test_k8s_manifests.py"
    )


if __name__ == "__main__":
    CONFIGMAP.write_text(goals_configmap_text())
    print(f"wrote {CONFIGMAP.relative_to(PROJECT_ROOT)}")
