"""`alprd provision`: the keys and certificates a vehicle (and, for demos and tests, HQ) needs.

Makes, in one folder, only what is missing (idempotent):
- data.key: the AES-256 key for data at rest (mode 0600);
- ca.key / ca.crt: a test certificate authority (for demos and tests; an agency uses its own);
- hq.key / hq.crt: HQ's broker certificate, for the given host names;
- device.key / device.crt: this vehicle's client certificate (CN = unit id);
- hq-hotlist.key / hq-hotlist.key.pub: HQ's hotlist signing key and the public half to pin.
Private keys are written 0600; nothing is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from alprd.store.crypto import make_key

VALID_DAYS = 825
PrivateKey = ec.EllipticCurvePrivateKey  # the CA's, HQ's and each car's (P-256)


def _write_private(path: Path, key: PrivateKey) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def _load_private(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key (made by 'alprd provision')")
    return key


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "alprd"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject_key: PrivateKey,
    subject: x509.Name,
    issuer_key: PrivateKey,
    issuer: x509.Name,
    *,
    ca: bool,
    sans: Sequence[str] = (),
    usage: Sequence[x509.ObjectIdentifier] | None = None,
    days: int = VALID_DAYS,
    not_before: dt.datetime | None = None,
) -> x509.Certificate:
    now = not_before or dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
    if sans:
        alt: list[x509.GeneralName] = []
        for s in sans:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                alt.append(x509.DNSName(s))
        b = b.add_extension(x509.SubjectAlternativeName(alt), False)
    if usage:
        b = b.add_extension(x509.ExtendedKeyUsage(list(usage)), False)
    return b.sign(issuer_key, hashes.SHA256())


def issue(
    folder: Path,
    name: str,
    cn: str,
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    *,
    server: bool,
    sans: Sequence[str] = (),
    days: int = VALID_DAYS,
    not_before: dt.datetime | None = None,
) -> bool:
    """name.key / name.crt signed by the CA, unless they exist; True when made."""
    key_path, crt_path = folder / f"{name}.key", folder / f"{name}.crt"
    if crt_path.exists():
        return False
    key = _load_private(key_path) if key_path.exists() else ec.generate_private_key(ec.SECP256R1())
    if not key_path.exists():
        _write_private(key_path, key)
    # HQ's certificate serves its broker and identifies HQ's own client to it
    usage = (
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        if server
        else [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    cert = _cert(
        key,
        _name(cn),
        ca_key,
        ca_cert.subject,
        ca=False,
        sans=sans,
        usage=usage,
        days=days,
        not_before=not_before,
    )
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return True


def provision(
    folder: Path,
    unit_id: str,
    hq_hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    page_hosts: Sequence[str] = (),
) -> list[str]:
    """Make what is missing; returns the names of the files made."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    made = []
    if make_key(folder / "data.key"):
        made.append("data.key")
    ca_key_path, ca_crt_path = folder / "ca.key", folder / "ca.crt"
    if not ca_crt_path.exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        _write_private(ca_key_path, ca_key)
        ca = _cert(
            ca_key, _name("alprd test CA"), ca_key, _name("alprd test CA"), ca=True, days=3650
        )
        ca_crt_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        made += ["ca.key", "ca.crt"]
    ca_key = _load_private(ca_key_path)
    ca_cert = x509.load_pem_x509_certificate(ca_crt_path.read_bytes())
    if issue(folder, "hq", hq_hosts[0], ca_key, ca_cert, server=True, sans=hq_hosts):
        made += ["hq.key", "hq.crt"]
    if issue(folder, "device", unit_id, ca_key, ca_cert, server=False):
        made += ["device.key", "device.crt"]
    # the in-car page over HTTPS (ui.tls_cert/tls_key), for the MDC's address(es)
    if issue(
        folder,
        "page",
        f"alprd page {unit_id}",
        ca_key,
        ca_cert,
        server=True,
        sans=("127.0.0.1", "localhost", *page_hosts),
    ):
        made += ["page.key", "page.crt"]
    from alprd.hq import signing_key

    if not (folder / "hq-hotlist.key").exists():
        signing_key(folder / "hq-hotlist.key")
        made += ["hq-hotlist.key", "hq-hotlist.key.pub"]
    return made


class ProvisionError(Exception):
    """What a depot's folder lacks to issue a car's files."""


def issue_car(ca_dir: Path, out: Path, unit_id: str, page_hosts: Sequence[str] = ()) -> list[str]:
    """`alprd provision --issue UNIT --out CAR_DIR`, at the depot that holds the fleet's CA:
    the car's own files, and no more (the CA's and HQ's private keys stay in ca_dir): its
    client certificate and key (CN = unit id), the in-car page's, a new data key, the CA
    certificate it trusts and HQ's public signing key it pins. Makes what is missing."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", unit_id):
        raise ProvisionError(f"unit id {unit_id!r}: letters, digits, '.', '_' and '-' only")
    ca_key_path, ca_crt_path = Path(ca_dir) / "ca.key", Path(ca_dir) / "ca.crt"
    if not (ca_key_path.exists() and ca_crt_path.exists()):
        raise ProvisionError(f"no CA in {ca_dir} (ca.key, ca.crt): give the depot's CA folder")
    pub = Path(ca_dir) / "hq-hotlist.key.pub"
    if not pub.exists():
        raise ProvisionError(f"no HQ public signing key {pub}: the car could not verify HQ")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    ca_key = _load_private(ca_key_path)
    ca_cert = x509.load_pem_x509_certificate(ca_crt_path.read_bytes())
    made = []
    if make_key(out / "data.key"):
        made.append("data.key")
    if issue(out, "device", unit_id, ca_key, ca_cert, server=False):
        made += ["device.key", "device.crt"]
    page_sans = ("127.0.0.1", "localhost", *page_hosts)
    if issue(out, "page", f"alprd page {unit_id}", ca_key, ca_cert, server=True, sans=page_sans):
        made += ["page.key", "page.crt"]
    for public in (ca_crt_path, pub):
        if not (out / public.name).exists():
            (out / public.name).write_bytes(public.read_bytes())
            made.append(public.name)
    # the depot keeps a copy of what it issued: `--revoke UNIT` finds it there (a stolen car)
    cert = x509.load_pem_x509_certificate((out / "device.crt").read_bytes())
    kept = Path(ca_dir) / "issued" / unit_id / f"device-{cert.serial_number:x}.crt"
    if not kept.exists():
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes((out / "device.crt").read_bytes())
    return made


def revoke(folder: Path, unit_id: str, now: dt.datetime | None = None) -> list[int]:
    """`alprd provision --revoke UNIT`: for a stolen car. Every certificate under `folder`
    that this CA issued with CN = unit_id is listed in folder/revoked.json, and
    folder/ca.crl (the CA's signed revocation list, which the broker's `crlfile` names) is
    written again. Returns the serials newly revoked. The broker reads the list when it
    starts: restart it (docs/hq-operations.md)."""
    import json

    folder = Path(folder)
    ca_key = _load_private(folder / "ca.key")
    ca_cert = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    listed_path = folder / "revoked.json"
    listed = json.loads(listed_path.read_text()) if listed_path.exists() else []
    known = {e["serial"] for e in listed}
    now = now or dt.datetime.now(dt.timezone.utc)
    new = []
    for crt in sorted(folder.rglob("*.crt")):
        try:
            cert = x509.load_pem_x509_certificate(crt.read_bytes())
        except ValueError:
            continue
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if cert.issuer != ca_cert.subject or cert == ca_cert or not cns or cns[0].value != unit_id:
            continue
        serial = str(cert.serial_number)  # JSON cannot hold 159-bit integers exactly
        if serial not in known:
            listed.append(
                {
                    "serial": serial,
                    "cn": unit_id,
                    "file": str(crt.relative_to(folder)),
                    "revoked_utc": now.isoformat(timespec="seconds"),
                }
            )
            known.add(serial)
            new.append(cert.serial_number)
    write_crl(folder, listed, ca_key, ca_cert, now)
    listed_path.write_text(json.dumps(listed, indent=1) + "\n")
    return new


def write_crl(
    folder: Path,
    listed: list[dict[str, Any]],
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    now: dt.datetime,
) -> Path:
    """folder/ca.crl with every listed serial. Its next update is the CA's own expiry: an
    expired list would make the broker refuse every car."""
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(ca_cert.not_valid_after_utc)
    )
    for e in listed:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(e["serial"]))
            .revocation_date(dt.datetime.fromisoformat(e["revoked_utc"]))
            .build()
        )
    path = folder / "ca.crl"
    path.write_bytes(b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)
    return path
