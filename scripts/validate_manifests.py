#!/usr/bin/env python3
"""Validates the rendered Kubernetes manifests, so that a broken one fails CI.

For each overlay under deploy/k8s/overlays, `kubectl kustomize` renders it and
every document is checked:

* against the Kubernetes JSON schemas of `--kubernetes-version` (the
  kubernetes-validate package, strict: an unknown field is an error);
* a KEDA ScaledObject against the schema below, written from KEDA's
  documentation of ScaledObject (keda.sh/docs/2.x/reference/scaledobject-spec)
  and of the nats-jetstream scaler's metadata;
* every pod template against the Pod Security Standards' "restricted"
  profile (kubernetes.io/docs/concepts/security/pod-security-standards);
* against this project's own rules: the image named once and never
  `latest`, probes, requests and memory limits, a PodDisruptionBudget per
  workload, no Secret shipped, no password in a ConfigMap, the standard
  labels, each adapter scaled by KEDA on its own consumer in `prod`.

`--self-test` feeds it documents broken in each of those ways and fails
unless every one is refused.

Usage: validate_manifests.py [--kubernetes-version 1.32] [--self-test]
"""

import argparse
import copy
import os
import re
import subprocess
import sys

import jsonschema
import yaml
import kubernetes_validate.utils as kv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OVERLAYS = os.path.join(ROOT, "deploy", "k8s", "overlays")

# The adapters and the JetStream consumer each one reads: every crate under
# services/ but the API and the aggregator (AdapterName::service in
# shared/core/src/ids.rs: crate rdkit-local, binary pharmforge-rdkit-local,
# consumer rdkit_local).
ADAPTERS = {
    "pharmforge-" + name: name.replace("-", "_")
    for name in sorted(os.listdir(os.path.join(ROOT, "services")))
    if name not in ("api", "aggregator") and os.path.isdir(os.path.join(ROOT, "services", name))
}

_string_map = {"type": "object", "additionalProperties": {"type": "string"}}
_int_or_string = {"anyOf": [{"type": "integer"}, {"type": "string"}]}

# keda.sh/v1alpha1 ScaledObject, the fields KEDA 2.x documents.
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": _string_map,
                "annotations": _string_map,
            },
        },
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {
                    "type": "object",
                    "required": ["failureThreshold", "replicas"],
                    "properties": {"failureThreshold": {"type": "integer"}, "replicas": {"type": "integer"}},
                },
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"name": {"type": "string"}, "behavior": {"type": "object"}},
                        },
                        "scalingModifiers": {"type": "object"},
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": {"type": "object"},
                            "metadata": _string_map,
                        },
                    },
                },
            },
        },
    },
}

# The nats-jetstream scaler's metadata (keda.sh/docs/2.x/scalers/nats-jetstream).
NATS_JETSTREAM_METADATA = {
    "type": "object",
    "required": ["natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"],
    "additionalProperties": False,
    "properties": {
        "natsServerMonitoringEndpoint": {"type": "string", "pattern": r"^[A-Za-z0-9.-]+:\d+$"},
        "account": {"type": "string", "minLength": 1},
        "stream": {"type": "string", "minLength": 1},
        "consumer": {"type": "string", "minLength": 1},
        "lagThreshold": {"type": "string", "pattern": r"^[1-9]\d*$"},
        "activationLagThreshold": {"type": "string", "pattern": r"^\d+$"},
        "useHttps": {"enum": ["true", "false"]},
    },
}

# Volume types the restricted profile allows.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}


def render(overlay):
    out = subprocess.run(["kubectl", "kustomize", overlay], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"kubectl kustomize {overlay} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def name_of(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def pod_spec(doc):
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return doc["spec"]["template"]["spec"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind == "Pod":
        return doc["spec"]
    return None


def restricted_profile(doc, spec):
    """The Pod Security Standards' restricted profile (baseline included)."""
    errors = []
    pod_sc = spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            errors.append(f"{flag} is set")
    for vol in spec.get("volumes") or []:
        kinds = set(vol) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            errors.append(f"volume {vol.get('name')} is of a type the restricted profile forbids: {sorted(kinds)}")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_sc.get("runAsUser") == 0:
        errors.append("the pod runs as user 0")
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    for c in containers:
        sc = c.get("securityContext") or {}
        who = f"container {c.get('name')}"
        if sc.get("privileged"):
            errors.append(f"{who} is privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{who}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            errors.append(f"{who}: capabilities must drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            errors.append(f"{who}: adds capabilities {caps.get('add')}")
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
            errors.append(f"{who}: runAsNonRoot must be true (pod or container)")
        if sc.get("runAsUser") == 0:
            errors.append(f"{who} runs as user 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            errors.append(f"{who}: seccompProfile must be RuntimeDefault or Localhost")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                errors.append(f"{who} uses a hostPort")
    return errors


def project_rules(docs, overlay):
    """What this project promises of its manifests, beyond the schemas."""
    errors = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    pharmforge_images = set()
    for d in docs:
        labels = d.get("metadata", {}).get("labels") or {}
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/instance"):
            if key not in labels:
                errors.append(f"{name_of(d)}: no label {key}")
        if d["kind"] == "Secret":
            errors.append(f"{name_of(d)}: a Secret is shipped (the user creates secrets)")
        if d["kind"] == "HorizontalPodAutoscaler":
            errors.append(f"{name_of(d)}: CPU autoscaling; adapters scale on their backlog (KEDA)")
        if d["kind"] == "ConfigMap":
            for key, value in (d.get("data") or {}).items():
                if re.search(r"://[^/@\s]*:[^/@\s]*@", str(value)):
                    errors.append(f"{name_of(d)}: {key} has a password inside a URL")
                if re.search(r"(SECRET|PASSWORD|TOKEN)", key):
                    errors.append(f"{name_of(d)}: {key} belongs in a Secret")
        spec = pod_spec(d)
        if spec is None:
            continue
        for c in (spec.get("initContainers") or []) + spec.get("containers", []):
            image = c.get("image", "")
            who = f"{name_of(d)} container {c.get('name')}"
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                errors.append(f"{who}: image {image!r} has no fixed tag")
            if c.get("imagePullPolicy") != "IfNotPresent":
                errors.append(f"{who}: imagePullPolicy must be IfNotPresent (works with a locally loaded image)")
            if "pharmforge" in image:
                pharmforge_images.add(image)
            res = c.get("resources") or {}
            if not (res.get("requests") or {}).get("cpu") or not (res.get("requests") or {}).get("memory"):
                errors.append(f"{who}: no cpu and memory requests")
            if not (res.get("limits") or {}).get("memory"):
                errors.append(f"{who}: no memory limit")
        if d["kind"] in ("Deployment", "StatefulSet"):
            for c in spec["containers"]:
                if "readinessProbe" not in c or "livenessProbe" not in c:
                    errors.append(f"{name_of(d)} container {c.get('name')}: readiness and liveness probes")
            selector = d["spec"]["selector"]["matchLabels"]
            covered = [
                p for p in by_kind.get("PodDisruptionBudget", [])
                if p["spec"]["selector"].get("matchLabels") == selector
            ]
            if not covered:
                errors.append(f"{name_of(d)}: no PodDisruptionBudget selects it")
    if len(pharmforge_images) != 1:
        errors.append(f"the pharmforge image is not named once: {sorted(pharmforge_images)}")
    for name in ADAPTERS:
        if not any(w["metadata"]["name"] == name for w in workloads):
            errors.append(f"no Deployment {name}")
    if not any(d["kind"] == "Job" and "migrate" in str(d["spec"]["template"]["spec"]["containers"][0].get("command")) for d in docs):
        errors.append("no migration Job")
    for ing in by_kind.get("Ingress", []):
        if not ing["spec"].get("ingressClassName"):
            errors.append(f"{name_of(ing)}: no ingressClassName")
        if overlay == "prod" and not ing["spec"].get("tls"):
            errors.append(f"{name_of(ing)}: no TLS in prod")
    if overlay == "prod":
        scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in by_kind.get("ScaledObject", [])}
        for name, consumer in ADAPTERS.items():
            so = scaled.get(name)
            if so is None:
                errors.append(f"no ScaledObject scales {name}")
                continue
            triggers = [t for t in so["spec"]["triggers"] if t["type"] == "nats-jetstream"]
            if not triggers or triggers[0]["metadata"].get("consumer") != consumer:
                errors.append(f"{name_of(so)}: no nats-jetstream trigger on consumer {consumer}")
    return errors


def validate_docs(docs, overlay, version):
    errors = []
    for d in docs:
        if d.get("kind") == "ScaledObject":
            for e in jsonschema.Draft202012Validator(SCALED_OBJECT).iter_errors(d):
                errors.append(f"{name_of(d)}: {'.'.join(map(str, e.path))}: {e.message}")
            for t in (d.get("spec") or {}).get("triggers") or []:
                if isinstance(t, dict) and t.get("type") == "nats-jetstream":
                    for e in jsonschema.Draft202012Validator(NATS_JETSTREAM_METADATA).iter_errors(t.get("metadata")):
                        errors.append(f"{name_of(d)}: nats-jetstream metadata: {e.message}")
            continue
        try:
            kv.validate(d, version, strict=True)
        except kv.ValidationError as e:
            errors.append(f"{name_of(d)}: {'.'.join(map(str, e.path))}: {e.message}")
        except kv.SchemaNotFoundError as e:
            errors.append(f"{name_of(d)}: {e.message}")
        spec = pod_spec(d)
        if spec is not None:
            errors += [f"{name_of(d)}: {e}" for e in restricted_profile(d, spec)]
    try:
        errors += project_rules(docs, overlay)
    except (KeyError, TypeError, IndexError) as e:
        errors.append(f"malformed manifest: {e!r}")
    return errors


def self_test(version):
    """Each breakage must be refused, for the reason it was made."""
    good = render(os.path.join(OVERLAYS, "prod"))
    assert not validate_docs(good, "prod", version), "prod must pass before it is broken"

    def find(docs, kind, name):
        return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)

    cases = []

    def case(why, expect, mutate):
        docs = copy.deepcopy(good)
        mutate(docs)
        cases.append((why, expect, docs))

    api = lambda docs: find(docs, "Deployment", "pharmforge-api")
    case("an unknown field", "replica", lambda d: api(d)["spec"].__setitem__("replica", 2))
    case("a wrong type", "is not of type", lambda d: api(d)["spec"].__setitem__("replicas", "two"))
    case("privilege escalation", "allowPrivilegeEscalation",
         lambda d: api(d)["spec"]["template"]["spec"]["containers"][0]["securityContext"].__setitem__("allowPrivilegeEscalation", True))
    case("root allowed", "runAsNonRoot",
         lambda d: api(d)["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot"))
    case("a hostPath volume", "forbids",
         lambda d: api(d)["spec"]["template"]["spec"].__setitem__("volumes", [{"name": "h", "hostPath": {"path": "/"}}]))
    case("no seccomp profile", "seccompProfile",
         lambda d: api(d)["spec"]["template"]["spec"]["securityContext"].pop("seccompProfile"))
    case("the latest tag", "no fixed tag",
         lambda d: api(d)["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "pharmforge:latest"))
    case("no probes", "probes",
         lambda d: api(d)["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe"))
    case("a shipped Secret", "Secret is shipped",
         lambda d: d.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": api(d)["metadata"]["labels"]}, "stringData": {"k": "v"}}))
    case("a password in a URL", "password inside a URL",
         lambda d: find(d, "ConfigMap", "pharmforge")["data"].__setitem__("DATABASE_URL", "postgres://u:pw@h/db"))
    case("no PDB", "PodDisruptionBudget",
         lambda d: d.remove(find(d, "PodDisruptionBudget", "pharmforge-admet-ai")))
    case("a ScaledObject missing its consumer", "consumer",
         lambda d: find(d, "ScaledObject", "pharmforge-chembl")["spec"]["triggers"][0]["metadata"].pop("consumer"))
    case("a ScaledObject with a numeric threshold", "is not of type",
         lambda d: find(d, "ScaledObject", "pharmforge-pubchem")["spec"]["triggers"][0]["metadata"].__setitem__("lagThreshold", 16))
    case("a misspelt ScaledObject field", "minReplicas",
         lambda d: find(d, "ScaledObject", "pharmforge-pubchem")["spec"].__setitem__("minReplicas", 1))
    case("an adapter without its ScaledObject", "no ScaledObject scales pharmforge-admet-ai",
         lambda d: d.remove(find(d, "ScaledObject", "pharmforge-admet-ai")))
    case("a CPU autoscaler", "CPU autoscaling",
         lambda d: d.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "labels": api(d)["metadata"]["labels"]},
                             "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "pharmforge-rdkit-local"}, "maxReplicas": 2}}))
    failed = 0
    for why, expect, docs in cases:
        errors = validate_docs(docs, "prod", version)
        if not any(expect in e for e in errors):
            failed += 1
            print(f"SELF-TEST FAILED: {why}: no error mentioning {expect!r}; got {errors}")
    print(f"self-test: {len(cases) - failed}/{len(cases)} breakages refused")
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", default="1.32")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test(args.kubernetes_version)
    rc = 0
    for overlay in sorted(os.listdir(OVERLAYS)):
        docs = render(os.path.join(OVERLAYS, overlay))
        errors = validate_docs(docs, overlay, args.kubernetes_version)
        for e in errors:
            print(f"ERROR {overlay}: {e}")
        kinds = sorted({d["kind"] for d in docs})
        print(f"{overlay}: {len(docs)} documents ({', '.join(kinds)}): {'ok' if not errors else f'{len(errors)} errors'}")
        rc |= 1 if errors else 0
    return rc


if __name__ == "__main__":
    sys.exit(main())
