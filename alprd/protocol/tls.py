"""Mutual TLS to the broker, as car and HQ both open it: the fleet CA alone trusted, TLS 1.2 at
least, and an error that names the setting and the file at fault (not "[Errno 2]")."""

from __future__ import annotations

import ssl

TlsFile = tuple[str, str]  # (the setting or flag that names it, its path)


def client_context(ca: TlsFile, cert: TlsFile, key: TlsFile) -> ssl.SSLContext:
    """The context; ValueError naming which file and why when one is unusable."""
    for label, path in (ca, cert, key):
        if not path:
            raise ValueError(f"{label} is not set")
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as exc:
            raise ValueError(f"{label} = {path}: {exc.strerror or exc}") from exc
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca[1])
    except ssl.SSLError as exc:
        raise ValueError(f"{ca[0]} = {ca[1]}: not a PEM CA certificate ({exc.reason})") from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert[1], key[1])
    except ssl.SSLError as exc:
        raise ValueError(
            f"{cert[0]} = {cert[1]} with {key[0]} = {key[1]}: not a PEM certificate and its "
            f"private key, or they do not belong together ({exc.reason})"
        ) from exc
    return ctx
