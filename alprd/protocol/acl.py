"""The broker's side of the contract: who may publish and subscribe where (mosquitto's
acl_file syntax). Every client is known by its certificate's CN (use_identity_as_username):
a car by its unit id (`alprd provision` puts it in the CN), HQ by its own certificate's CN.

A car publishes only to its own up topic and reads only its own ack and command topics and
the shared hotlist and roster. Only HQ reads the cars' up topics and publishes acks,
commands, the hotlist and the roster. So a stolen car certificate gives that car's data
alone: it cannot read another car's acks (which name its records), empty another car's
outbox with forged acks, upload as another car, or overwrite the retained hotlist or roster.
"""
from __future__ import annotations

import re

MAX_PACKET_BYTES = 16 * 1024 * 1024 + 64 * 1024  # an up message (16 MiB) and its headers
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")


def broker_acl(prefix: str, hq_identity: str) -> str:
    """The ACL file for a broker serving cars and HQ under topic prefix `prefix`."""
    p = prefix.strip("/")
    if not _SAFE.match(hq_identity):
        raise ValueError(f"HQ's certificate name {hq_identity!r} cannot be used in an ACL")
    return (f"# made by alprd (alprd.protocol.acl): clients are their certificate's CN\n"
            f"# every car (CN = unit id): its own topics, and the shared lists\n"
            f"pattern write {p}/%u/up\n"
            f"pattern read {p}/%u/ack\n"
            f"pattern read {p}/%u/cmd\n"
            f"pattern read {p}/hotlist\n"
            f"pattern read {p}/roster\n"
            f"\n# HQ\n"
            f"user {hq_identity}\n"
            f"topic read {p}/+/up\n"
            f"topic write {p}/+/ack\n"
            f"topic write {p}/+/cmd\n"
            f"topic readwrite {p}/hotlist\n"
            f"topic readwrite {p}/roster\n")


def mosquitto_tls_conf(ca: str, cert: str, key: str, acl: str | None,
                       crl: str | None = None) -> str:
    """The lines of a mosquitto listener for the fleet: mutual TLS 1.2+ with the fleet CA, each
    client known by its certificate's CN, the ACL, the packet cap and, when given, the CA's
    revocation list (`alprd provision --revoke`)."""
    conf = (f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\nrequire_certificate true\n"
            f"use_identity_as_username true\ntls_version tlsv1.2\nallow_anonymous false\n"
            f"max_packet_size {MAX_PACKET_BYTES}\n")
    if crl:
        conf += f"crlfile {crl}\n"
    if acl:
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
