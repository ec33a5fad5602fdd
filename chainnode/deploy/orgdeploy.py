"""One organisation's node on an existing engine: Kubernetes manifests (``deploy k8s``) and a
docker compose file (``deploy compose``), from its configured directory (``org configure``).

Both run the image as its non-root user with the config, genesis and keys mounted read-only
under ``/etc/chainnode`` and the chain in ``/var/lib/chainnode``. The API is published behind
TLS when the organisation has it (``org init --tls``), else on loopback only: in compose the
container shares the host's network and the API its loopback; in Kubernetes the node listens on the pod's loopback
(reach it with ``kubectl port-forward``), gets no API Service, and its probes run
``chainnode healthcheck`` inside the pod.

Kubernetes: a StatefulSet of one replica with a PersistentVolumeClaim for the chain, the node
key (and a sealed key's password) as Secrets, the config and genesis as a ConfigMap, a headless
Service for the StatefulSet, a LoadBalancer Service for p2p (``externalTrafficPolicy: Local``
so the NetworkPolicy sees the peers' own addresses), a ClusterIP Service for the TLS API, and a
NetworkPolicy that admits p2p only from the other validators' addresses (those written as IP
addresses in genesis, plus ``--peer-cidr``) and the API from anywhere (TLS decides who writes).
"""

from __future__ import annotations

import base64
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chainnode.deploy.layout import CONFIG, MEMBER
from chainnode.deploy.org import MemberCard, OrgError
from chainnode.model.genesis import Genesis
from chainnode.node.config import NodeConfig, load_config

IMAGE = "chainnode:latest"
ETC = "/etc/chainnode"
DATA = "/var/lib/chainnode"
UID = 10001  # the image's user `chainnode` (Dockerfile)
K8S_FILE = "k8s.yaml"
COMPOSE_FILE = "docker-compose.yml"
CONTAINER_CONFIG = "container.toml"


@dataclass(frozen=True, slots=True)
class OrgNode:
    """What a deployment needs of a configured organisation directory."""

    dir: Path
    card: MemberCard
    cfg: NodeConfig
    genesis: Genesis

    @property
    def tls(self) -> bool:
        return self.cfg.api_tls_cert is not None

    @property
    def name(self) -> str:
        """A DNS-1123 label for the Kubernetes objects (names are [A-Za-z0-9_.-])."""
        return "cn-" + "".join(c if c.isalnum() else "-" for c in self.card.name.lower())[:50]


def load_org(org_dir: Path) -> OrgNode:
    if not (org_dir / CONFIG).is_file():
        raise OrgError(
            f"no {org_dir / CONFIG}: configure the node first (`chainnode org configure`)"
        )
    card = MemberCard.load(org_dir / MEMBER)
    cfg = load_config(org_dir / CONFIG, env={})
    from chainnode.model.codes import LedgerError

    try:
        genesis = Genesis.load(cfg.genesis)
    except LedgerError as e:
        raise OrgError(f"{cfg.genesis}: {e.message}") from None
    return OrgNode(org_dir, card, cfg, genesis)


def container_config(node: OrgNode) -> NodeConfig:
    """The node's config as the container sees it: the mounts' paths; the API on all
    interfaces only behind TLS, else on loopback."""
    cfg = node.cfg
    update: dict[str, Any] = {
        "data_dir": Path(DATA),
        "genesis": Path(f"{ETC}/genesis.json"),
        "node_key": Path(f"{ETC}/keys/node.pem"),
        "api_host": "0.0.0.0" if node.tls else "127.0.0.1",
        "p2p_host": "0.0.0.0",
        "log_file": None,
        "node_key_password_file": (
            Path(f"{ETC}/password/password") if cfg.node_key_password_file else None
        ),
    }
    if node.tls:
        update |= {
            "api_tls_cert": Path(f"{ETC}/tls/server.pem"),
            "api_tls_key": Path(f"{ETC}/tls/server-key.pem"),
            "api_client_ca": Path(f"{ETC}/tls/ca.pem") if cfg.api_client_ca else None,
        }
    return cfg.model_copy(update=update)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _peer_blocks(node: OrgNode, extra_cidrs: list[str]) -> tuple[list[str], list[str]]:
    """(CIDRs admitted to p2p, validators whose address is a name, not an IP)."""
    cidrs, named = [], []
    for v in node.genesis.validators:
        if v.public_key == node.card.node_public_key:
            continue
        host = v.p2p_addr.rpartition(":")[0].strip("[]")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            named.append(v.node_id)
            continue
        cidrs.append(f"{ip}/{32 if ip.version == 4 else 128}")
    for c in extra_cidrs:
        try:
            cidrs.append(str(ipaddress.ip_network(c, strict=False)))
        except ValueError:
            raise OrgError(f"--peer-cidr {c!r}: not a CIDR (e.g. 10.0.0.0/24)") from None
    return sorted(set(cidrs)), named


def _probes(node: OrgNode) -> dict[str, Any]:
    api = node.cfg.api_port
    if node.tls and (node.cfg.api_client_auth == "writes" or not node.cfg.api_client_ca):
        live: dict[str, Any] = {"httpGet": {"path": "/healthz", "port": api, "scheme": "HTTPS"}}
        ready: dict[str, Any] = {"httpGet": {"path": "/readyz", "port": api, "scheme": "HTTPS"}}
    else:  # loopback API, or one that wants a client certificate of every caller
        check = ["chainnode", "healthcheck", "--config", f"{ETC}/config/config.toml"]
        live = {"exec": {"command": check}}
        ready = {"exec": {"command": [*check, "--ready"]}}
    timing = {"periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
    return {
        "livenessProbe": live | timing | {"initialDelaySeconds": 20},
        "readinessProbe": ready | timing | {"initialDelaySeconds": 5},
    }


# long: the manifests in one place, read top to bottom like the YAML they become
def k8s_manifests(
    node: OrgNode,
    *,
    image: str = IMAGE,
    namespace: str = "default",
    peer_cidrs: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The Kubernetes objects of this organisation's node."""
    name, cfg = node.name, node.cfg
    labels = {"app.kubernetes.io/name": "chainnode", "app.kubernetes.io/instance": name}
    meta = {"namespace": namespace, "labels": labels}
    ccfg = container_config(node)
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-config"} | meta,
            "data": {"config.toml": ccfg.to_toml(), "genesis.json": cfg.genesis.read_text()},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-node-key"} | meta,
            "type": "Opaque",
            "data": {"node.pem": _b64(cfg.node_key)},
        },
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": f"{name}-config"}},
        {"name": "node-key", "secret": {"secretName": f"{name}-node-key", "defaultMode": 0o440}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": f"{ETC}/config", "readOnly": True},
        {
            "name": "config",
            "mountPath": f"{ETC}/genesis.json",
            "subPath": "genesis.json",
            "readOnly": True,
        },  # fmt: skip
        {"name": "node-key", "mountPath": f"{ETC}/keys", "readOnly": True},
        {"name": "data", "mountPath": DATA},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if cfg.node_key_password_file is not None:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{name}-node-key-password"} | meta,
                "type": "Opaque",
                "data": {"password": _b64(cfg.node_key_password_file)},
            }
        )
        volumes.append(
            {
                "name": "password",
                "secret": {"secretName": f"{name}-node-key-password", "defaultMode": 0o440},
            }
        )
        mounts.append({"name": "password", "mountPath": f"{ETC}/password", "readOnly": True})
    if node.tls:
        assert cfg.api_tls_cert is not None and cfg.api_tls_key is not None
        tls_data = {"server.pem": _b64(cfg.api_tls_cert), "server-key.pem": _b64(cfg.api_tls_key)}
        if cfg.api_client_ca is not None:
            tls_data["ca.pem"] = _b64(cfg.api_client_ca)
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{name}-api-tls"} | meta,
                "type": "Opaque",
                "data": tls_data,
            }
        )
        volumes.append(
            {"name": "api-tls", "secret": {"secretName": f"{name}-api-tls", "defaultMode": 0o440}}
        )
        mounts.append({"name": "api-tls", "mountPath": f"{ETC}/tls", "readOnly": True})
    container: dict[str, Any] = {
        "name": "chainnode",
        "image": image,
        "args": ["start", "--config", f"{ETC}/config/config.toml"],
        "env": [{"name": "CHAINNODE_LOG_JSON", "value": "true"}],
        "ports": [
            {"name": "api", "containerPort": cfg.api_port, "protocol": "TCP"},
            {"name": "p2p", "containerPort": cfg.p2p_port, "protocol": "TCP"},
        ],
        "volumeMounts": mounts,
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"memory": "2Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "capabilities": {"drop": ["ALL"]},
        },
    } | _probes(node)
    docs.append(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": name} | meta,
            "spec": {
                "serviceName": name,
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": UID,
                            "runAsGroup": UID,
                            "fsGroup": UID,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "automountServiceAccountToken": False,
                        "terminationGracePeriodSeconds": int(cfg.shutdown_timeout) + 5,
                        "containers": [container],
                        "volumes": volumes,
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "20Gi"}},
                        },
                    }
                ],
            },
        }
    )
    port = {"protocol": "TCP"}
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name} | meta,
            "spec": {
                "clusterIP": "None",
                "selector": labels,
                "ports": [{"name": "p2p", "port": cfg.p2p_port, "targetPort": "p2p"} | port],
            },
        }
    )
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{name}-p2p"} | meta,
            "spec": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Local",
                "selector": labels,
                "ports": [{"name": "p2p", "port": cfg.p2p_port, "targetPort": "p2p"} | port],
            },
        }
    )
    ingress: list[dict[str, Any]] = []
    cidrs, _ = _peer_blocks(node, peer_cidrs or [])
    if cidrs:
        ingress.append(
            {
                "from": [{"ipBlock": {"cidr": c}} for c in cidrs],
                "ports": [{"port": cfg.p2p_port} | port],
            }
        )
    if node.tls:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"{name}-api"} | meta,
                "spec": {
                    "type": "ClusterIP",
                    "selector": labels,
                    "ports": [{"name": "api", "port": cfg.api_port, "targetPort": "api"} | port],
                },
            }
        )
        ingress.append({"ports": [{"port": cfg.api_port} | port]})
    docs.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name} | meta,
            "spec": {
                "podSelector": {"matchLabels": labels},
                "policyTypes": ["Ingress"],
                "ingress": ingress,
            },
        }
    )
    return docs


def write_k8s(
    org_dir: Path,
    *,
    image: str = IMAGE,
    namespace: str = "default",
    peer_cidrs: list[str] | None = None,
) -> tuple[Path, list[str]]:
    """Write ``org_dir/k8s.yaml``; (its path, validators the NetworkPolicy could not name:
    their genesis address is a host name, so give their CIDRs with --peer-cidr)."""
    node = load_org(org_dir)
    docs = k8s_manifests(node, image=image, namespace=namespace, peer_cidrs=peer_cidrs)
    _, named = _peer_blocks(node, peer_cidrs or [])
    path = org_dir / K8S_FILE
    header = (
        f"# chainnode node of {node.card.name}: `chainnode deploy k8s --dir {org_dir}`.\n"
        "# Holds the node key (a Secret): apply it, then keep this file as secret as node.pem.\n"
    )
    path.write_text(header + yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
    return path, named if not peer_cidrs else []


def write_org_compose(org_dir: Path, *, image: str = IMAGE) -> Path:
    """Write ``org_dir/container.toml`` and ``org_dir/docker-compose.yml`` for this node alone;
    the API port is published on the host's loopback unless the API is behind TLS."""
    node = load_org(org_dir)
    cfg, ccfg = node.cfg, container_config(node)
    (org_dir / CONTAINER_CONFIG).write_text(ccfg.to_toml(), encoding="utf-8")

    def rel(p: Path) -> str:
        return _relpath(p, org_dir)

    volumes = [
        f"./{CONTAINER_CONFIG}:{ETC}/config/config.toml:ro",
        f"{_relpath(cfg.genesis, org_dir)}:{ETC}/genesis.json:ro",
        f"{rel(cfg.node_key)}:{ETC}/keys/node.pem:ro",
        f"{node.name}-data:{DATA}",
    ]
    if cfg.node_key_password_file is not None:
        volumes.append(f"{cfg.node_key_password_file}:{ETC}/password/password:ro")
    if node.tls:
        assert cfg.api_tls_cert is not None and cfg.api_tls_key is not None
        volumes += [
            f"{rel(cfg.api_tls_cert)}:{ETC}/tls/server.pem:ro",
            f"{rel(cfg.api_tls_key)}:{ETC}/tls/server-key.pem:ro",
        ]
        if cfg.api_client_ca is not None:
            volumes.append(f"{rel(cfg.api_client_ca)}:{ETC}/tls/ca.pem:ro")
    service: dict[str, Any] = {
        "image": image,
        "command": ["start", "--config", f"{ETC}/config/config.toml"],
        "environment": {"CHAINNODE_LOG_JSON": "true"},
        "volumes": volumes,
        "restart": "unless-stopped",
        "stop_grace_period": f"{int(cfg.shutdown_timeout) + 5}s",
    }
    if node.tls:
        service["hostname"] = node.name
        service["ports"] = [f"{cfg.api_port}:{cfg.api_port}", f"{cfg.p2p_port}:{cfg.p2p_port}"]
    else:  # the API on loopback only: the host's (host networking), never published
        service["network_mode"] = "host"
    doc = {"services": {node.name: service}, "volumes": {f"{node.name}-data": {}}}
    path = org_dir / COMPOSE_FILE
    header = (
        f"# chainnode node of {node.card.name}: `chainnode deploy compose --dir {org_dir}`.\n"
        "# Build the image first: docker build -t chainnode:latest <chainnode checkout>\n"
    )
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _relpath(p: Path, base: Path) -> str:
    return "./" + os.path.relpath(Path(p).resolve(), base.resolve())
