"""`deploy k8s` and `deploy compose` for one organisation (issue 20): the manifests validate
against the Kubernetes schemas (kubernetes-validate, offline), hold what the issue asks (and a
broken one does not validate), and the pod's container spec (args, env, every volume mounted
where the manifest says, in fresh namespaces) starts a node whose probes pass."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from chainnode.deploy.org import MemberCard, assemble_genesis, configure_org, init_org
from chainnode.deploy.orgdeploy import write_k8s, write_org_compose
from tests.chainnode.node.cluster import free_port_range
from tests.chainnode.ops.helpers import REPO, can_unshare, ensure_mountpoints
from tests.conftest import subprocess_env

K8S_VERSION = kubernetes_validate.latest_version()
UP = re.compile(r"node \S+ up \(")


def _consortium(root: Path, tls: dict[str, bool], hosts: dict[str, str]) -> dict[str, Path]:
    dirs = {}
    base = free_port_range(2 * len(tls))
    for i, (name, with_tls) in enumerate(tls.items()):
        dirs[name] = root / name
        init_org(dirs[name], name, host=hosts[name], api_port=base + 2 * i,
                 p2p_port=base + 2 * i + 1, tls=with_tls)  # fmt: skip
    cards = [MemberCard.load(d / "member.json") for d in dirs.values()]
    assemble_genesis(cards, "k8s-test").save(root / "genesis.json")
    for d in dirs.values():
        configure_org(d, root / "genesis.json")
    return dirs


def _docs(path: Path) -> dict[str, dict[str, Any]]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(path.read_text())}


def test_manifests_validate_and_hold_what_a_consortium_node_needs(tmp_path: Path) -> None:
    hosts = {"acme": "10.1.0.1", "globex": "10.1.0.2", "initech": "node.initech.example"}
    dirs = _consortium(tmp_path, {"acme": True, "globex": False, "initech": False}, hosts)
    path, named = write_k8s(dirs["acme"], namespace="consortium")
    assert named == ["initech"]  # a host name cannot go into a NetworkPolicy: said so
    assert path.stat().st_mode & 0o777 == 0o600
    docs = _docs(path)
    for doc in docs.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert set(docs) == {
        "ConfigMap/cn-acme-config", "Secret/cn-acme-node-key", "Secret/cn-acme-api-tls",
        "StatefulSet/cn-acme", "Service/cn-acme", "Service/cn-acme-p2p", "Service/cn-acme-api",
        "NetworkPolicy/cn-acme",
    }  # fmt: skip
    key = base64.b64decode(docs["Secret/cn-acme-node-key"]["data"]["node.pem"])
    assert key == (dirs["acme"] / "node.pem").read_bytes()
    sts = docs["StatefulSet/cn-acme"]["spec"]
    pod = sts["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert sts["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    policy = docs["NetworkPolicy/cn-acme"]["spec"]
    p2p_port = tomllib.loads((dirs["acme"] / "config.toml").read_text())["p2p_port"]
    (p2p_rule,) = [r for r in policy["ingress"] if r["ports"][0]["port"] == p2p_port]
    assert p2p_rule["from"] == [{"ipBlock": {"cidr": "10.1.0.2/32"}}]  # the peers only
    cfg = tomllib.loads(docs["ConfigMap/cn-acme-config"]["data"]["config.toml"])
    assert cfg["api_host"] == "0.0.0.0" and cfg["api_tls_cert"] == "/etc/chainnode/tls/server.pem"

    # without TLS: the API on the pod's loopback, no API Service, probes inside the pod
    path, _ = write_k8s(dirs["globex"], peer_cidrs=["192.0.2.0/24"])
    docs = _docs(path)
    for doc in docs.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert "Service/cn-globex-api" not in docs
    cfg = tomllib.loads(docs["ConfigMap/cn-globex-config"]["data"]["config.toml"])
    assert cfg["api_host"] == "127.0.0.1"
    (c,) = docs["StatefulSet/cn-globex"]["spec"]["template"]["spec"]["containers"]
    assert c["readinessProbe"]["exec"]["command"][-1] == "--ready"
    (rule,) = docs["NetworkPolicy/cn-globex"]["spec"]["ingress"]
    assert {b["ipBlock"]["cidr"] for b in rule["from"]} == {"10.1.0.1/32", "192.0.2.0/24"}

    # the validation is not vacuous: a broken StatefulSet is refused
    broken = json.loads(json.dumps(docs["StatefulSet/cn-globex"]))
    del broken["spec"]["template"]["spec"]["containers"][0]["name"]
    broken["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_compose_per_org_keeps_a_plain_api_on_loopback(tmp_path: Path) -> None:
    hosts = {"acme": "10.1.0.1", "globex": "10.1.0.2"}
    dirs = _consortium(tmp_path, {"acme": True, "globex": False}, hosts)
    tls_doc = yaml.safe_load(write_org_compose(dirs["acme"]).read_text())
    (svc,) = tls_doc["services"].values()
    assert any(v.endswith(":/etc/chainnode/tls/server.pem:ro") for v in svc["volumes"])
    assert len(svc["ports"]) == 2  # behind TLS: published
    plain = yaml.safe_load(write_org_compose(dirs["globex"]).read_text())
    (svc,) = plain["services"].values()
    assert svc["network_mode"] == "host" and "ports" not in svc
    ccfg = tomllib.loads((dirs["globex"] / "container.toml").read_text())
    assert ccfg["api_host"] == "127.0.0.1" and ccfg["p2p_host"] == "0.0.0.0"
    for v in svc["volumes"]:  # every bind source exists (relative to the compose file)
        src = v.split(":")[0]
        if src.startswith("."):
            assert (dirs["globex"] / src).exists(), v


def _pod_spec(manifest: Path, volumes_root: Path) -> dict[str, Any]:
    """The container_sim spec of the StatefulSet's pod: each volume made real (ConfigMap and
    Secret items as files, the PVC and emptyDir as directories) and mounted where it says."""
    docs = _docs(manifest)
    (sts,) = [d for d in docs.values() if d["kind"] == "StatefulSet"]
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    sources: dict[str, Path] = {}
    for vol in pod["volumes"] + [{"name": "data", "pvc": True}]:
        d = volumes_root / vol["name"]
        d.mkdir(parents=True)
        if "configMap" in vol:
            for k, v in docs[f"ConfigMap/{vol['configMap']['name']}"]["data"].items():
                (d / k).write_text(v)
        elif "secret" in vol:
            for k, v in docs[f"Secret/{vol['secret']['secretName']}"]["data"].items():
                (d / k).write_bytes(base64.b64decode(v))
                os.chmod(d / k, vol["secret"]["defaultMode"])
        sources[vol["name"]] = d
    mounts = []
    for m in sorted(c["volumeMounts"], key=lambda m: m["mountPath"] == "/tmp"):  # /tmp last
        src = sources[m["name"]] / m["subPath"] if "subPath" in m else sources[m["name"]]
        mounts.append({"source": str(src), "target": m["mountPath"],
                       "read_only": bool(m.get("readOnly"))})  # fmt: skip
    env = subprocess_env() | {e["name"]: e["value"] for e in c["env"]}
    tmpfs = sorted({str(Path(m["target"]).parent) for m in mounts} - {"/", "/etc", "/var/lib"})
    return {
        "argv": [sys.executable, "-m", "chainnode", *c["args"]],
        "env": env,
        "mounts": mounts,
        "tmpfs": [t for t in tmpfs if t not in {m["target"] for m in mounts}],
        "workdir": "/var/lib/chainnode",
        "lo_up": True,
        "keep": sorted({str(REPO), sys.prefix}),  # the "image": wherever this checkout lives
        "probes": {k: c[k] for k in ("livenessProbe", "readinessProbe")},
    }


def _probe(pid: int, probe: dict[str, Any], env: dict[str, str]) -> bool:
    """Run a pod probe in the container's namespaces, as the kubelet would."""
    if "exec" in probe:
        argv = probe["exec"]["command"]
        assert argv[0] == "chainnode"
        cmd = [sys.executable, "-m", "chainnode", *argv[1:]]
    else:
        get = probe["httpGet"]
        url = f"{get['scheme'].lower()}://127.0.0.1:{get['port']}{get['path']}"
        cmd = [sys.executable, "-c", (  # the kubelet does not verify the certificate
            "import ssl, sys, urllib.request as u; c = ssl._create_unverified_context(); "
            f"sys.exit(0 if u.urlopen({url!r}, timeout=5, context=c).status == 200 else 1)")]  # fmt: skip
    r = subprocess.run(["nsenter", "-t", str(pid), "-n", "-m", "--", *cmd], env=env,
                       capture_output=True, timeout=30)  # fmt: skip
    return r.returncode == 0


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "loopback"])
def test_the_pod_spec_starts_a_node_whose_probes_pass(tmp_path: Path, tls: bool) -> None:
    why = can_unshare()
    if why:
        pytest.skip(f"container emulation skipped: {why}")
    dirs = _consortium(tmp_path, {"solo": tls}, {"solo": "127.0.0.1"})
    manifest, _ = write_k8s(dirs["solo"])
    spec = _pod_spec(manifest, tmp_path / "volumes")
    probes = spec.pop("probes")
    ensure_mountpoints(spec)
    spec_path = tmp_path / "pod.json"
    spec_path.write_text(json.dumps(spec))
    log_path = tmp_path / "pod.log"
    with log_path.open("wb") as log:
        p = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "--",
             sys.executable, "-m", "tests.chainnode.ops.container_sim", str(spec_path)],
            stdout=log, stderr=subprocess.STDOUT, env=subprocess_env(), cwd=REPO,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (
            UP.search(log_path.read_text())
            and all(_probe(p.pid, pr, spec["env"]) for pr in probes.values())
        ):
            assert p.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, (
                "probes not passing in 60 s:\n" + log_path.read_text()[-3000:]
            )
            time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0, log_path.read_text()[-3000:]
        assert (tmp_path / "volumes" / "data" / "ledger").is_dir()  # the chain on the PVC
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
