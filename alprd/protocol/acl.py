"""The broker's side of the contract: who may publish and subscribe where (mosquitto's
acl_file syntax). Every client is known by its certificate's CN (use_identity_as_username):
a car by its unit id (`alprd provision` puts it in the CN), HQ by its own certificate's CN.

A car publishes only to its own up topic and reads only its own ack, command and model bundle
topics and the shared hotlist and roster. Only HQ reads the cars' up topics and publishes acks,
commands, model bundles, the hotlist and the roster. So a stolen car certificate gives that
car's data alone: it cannot read another car's acks (which name its records), empty another car's
outbox with forged acks, upload as another car, or overwrite the retained hotlist or roster.

Two ways to enforce it. mosquitto's acl_file (broker_acl) checks only what is delivered, never
a subscription: a car certificate could join HQ's shared subscription ($share/alprd-hq/...)
and take its share of other cars' uploads, which the broker then drops (#32 item 10: 10 of 30).
The dynamic-security plugin (dynsec_config, Debian's mosquitto ships it) checks subscriptions
too, so a car is refused anything but its own topics; it names each car (it has no %u), so it
is made from the fleet's list of unit ids. `alprd hq broker-config --cars FILE` writes it.
"""

from __future__ import annotations

import glob
import re
from typing import Any

MAX_PACKET_BYTES = 16 * 1024 * 1024 + 64 * 1024  # an up message (16 MiB) and its headers
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")


def broker_acl(prefix: str, hq_identity: str) -> str:
    """The ACL file for a broker serving cars and HQ under topic prefix `prefix`."""
    p = prefix.strip("/")
    if not _SAFE.match(hq_identity):
        raise ValueError(f"HQ's certificate name {hq_identity!r} cannot be used in an ACL")
    return (
        f"# made by alprd (alprd.protocol.acl): clients are their certificate's CN\n"
        f"# every car (CN = unit id): its own topics, and the shared lists\n"
        f"pattern write {p}/%u/up\n"
        f"pattern read {p}/%u/ack\n"
        f"pattern read {p}/%u/cmd\n"
        f"pattern read {p}/%u/models\n"
        f"pattern read {p}/hotlist\n"
        f"pattern read {p}/roster\n"
        f"\n# HQ\n"
        f"user {hq_identity}\n"
        f"topic read {p}/+/up\n"
        f"topic write {p}/+/ack\n"
        f"topic write {p}/+/cmd\n"
        f"topic write {p}/+/models\n"
        f"topic readwrite {p}/hotlist\n"
        f"topic readwrite {p}/roster\n"
    )


def dynsec_config(prefix: str, hq_identity: str, cars: list[str]) -> dict[str, Any]:
    """The dynamic-security plugin's file: a role per car (its own topics and the shared lists,
    to publish, receive and subscribe), HQ's role, everything else refused."""
    p = prefix.strip("/")
    for name in [hq_identity, *cars]:
        if not _SAFE.match(name) or name in ("+", "#"):
            raise ValueError(f"certificate name {name!r} cannot be used in the broker's ACL")

    def role(name: str, allow: list[tuple[str, str]]) -> dict[str, Any]:
        return {
            "rolename": name,
            "acls": [
                {"acltype": kind, "topic": topic, "priority": 0, "allow": True}
                for kind, topic in allow
            ],
        }

    lists = [
        (kind, f"{p}/{t}")
        for t in ("hotlist", "roster")
        for kind in ("publishClientReceive", "subscribeLiteral")
    ]
    roles = [
        role(
            f"car:{u}",
            [("publishClientSend", f"{p}/{u}/up")]
            + lists
            + [
                (kind, f"{p}/{u}/{t}")
                for t in ("ack", "cmd", "models")
                for kind in ("publishClientReceive", "subscribeLiteral")
            ],
        )
        for u in cars
    ]
    roles.append(
        role(
            "hq",
            lists
            + [
                ("publishClientReceive", f"{p}/+/up"),
                ("subscribePattern", f"{p}/+/up"),
                ("subscribeLiteral", f"$share/alprd-hq/{p}/+/up"),
            ]
            + [
                ("publishClientSend", f"{p}/{t}")
                for t in ("+/ack", "+/cmd", "+/models", "hotlist", "roster")
            ],
        )
    )
    clients = [{"username": u, "roles": [{"rolename": f"car:{u}"}]} for u in cars]
    clients.append({"username": hq_identity, "roles": [{"rolename": "hq"}]})
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": clients,
        "groups": [],
        "roles": roles,
    }


def dynsec_plugin() -> str:
    """Where Debian's (or Raspberry Pi OS's) mosquitto keeps the dynamic-security plugin."""
    for pattern in (
        "/usr/lib/*/mosquitto_dynamic_security.so",
        "/usr/lib/mosquitto_dynamic_security.so",
    ):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    raise FileNotFoundError(
        "mosquitto's dynamic-security plugin is not installed (Debian's mosquitto package ships it)"
    )


def mosquitto_tls_conf(
    ca: str, cert: str, key: str, acl: str | None, crl: str | None = None, dynsec: str | None = None
) -> str:
    """The lines of a mosquitto listener for the fleet: mutual TLS 1.2+ with the fleet CA, each
    client known by its certificate's CN, the packet cap, the access rules (dynsec: the
    dynamic-security plugin's file, which also refuses subscriptions; else acl: an acl_file)
    and, when given, the CA's revocation list (`alprd provision --revoke`)."""
    conf = (
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\nrequire_certificate true\n"
        f"use_identity_as_username true\ntls_version tlsv1.2\nallow_anonymous false\n"
        f"max_packet_size {MAX_PACKET_BYTES}\n"
    )
    if crl:
        conf += f"crlfile {crl}\n"
    if dynsec:
        conf += f"plugin {dynsec_plugin()}\nplugin_opt_config_file {dynsec}\n"
    elif acl:
        conf += f"acl_file {acl}\n"
    return conf


def certificate_cn(pem: bytes) -> str:
    """The CN of a PEM certificate (the name the broker knows its holder by)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(pem)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise ValueError("certificate has no CN")
    return str(names[0].value)
