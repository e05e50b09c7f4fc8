"""`alprd config firewall`: the systemd drop-in that limits the service's network (POL-08).

alprd.service denies every address (IPAddressDeny=any) but loopback. This drop-in allows, in
addition, HQ's broker (its host name resolved now) and the DNS servers in resolv.conf (to
resolve that name again at each reconnection); with the page on the MDC's network, the
listen address's /24. Time comes from chrony or systemd-timesyncd, units of their own that
this does not touch. Run it again when HQ's address or the DNS servers change.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alprd.config import Config
from urllib.parse import urlparse


class PolicyError(ValueError):
    """The drop-in cannot be made (the broker's name does not resolve)."""


def nameservers(resolv_conf: Path) -> list[str]:
    out: list[str] = []
    try:
        lines = Path(resolv_conf).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                out.append(str(ipaddress.ip_address(parts[1].split("%")[0])))
            except ValueError:
                continue
    return out


def broker_addresses(broker: str) -> list[str]:
    url = urlparse(broker)
    host = url.hostname
    if not host:
        return []
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, url.port or 8883, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise PolicyError(
            f"HQ's broker {host} does not resolve ({exc}): run this where HQ's "
            "name resolves, or set uplink.broker to its address"
        ) from None
    return sorted({str(info[4][0]) for info in infos})


def dropin(cfg: Config, resolv_conf: Path = Path("/etc/resolv.conf")) -> str:
    hq = broker_addresses(cfg.uplink.broker) if cfg.uplink.broker else []
    dns = nameservers(resolv_conf)
    page = []
    host = cfg.ui.listen.rpartition(":")[0].strip("[]")
    try:
        ip = ipaddress.ip_address(host)
        if not ip.is_loopback and not ip.is_unspecified:
            page = [
                str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))
            ]
    except ValueError:
        pass
    lines = [
        "# alprd.service.d/network.conf: made by `alprd config firewall`; install as",
        "# /etc/systemd/system/alprd.service.d/network.conf, then",
        "# systemctl daemon-reload && systemctl restart alprd",
        "[Service]",
    ]
    for what, addrs in (
        ("HQ's broker " + (cfg.uplink.broker or "(none: offline)"), hq),
        ("DNS servers", dns),
        ("the MDC's network (the page)", page),
    ):
        lines.append(f"# {what}")
        if addrs:
            lines.append("IPAddressAllow=" + " ".join(addrs))
    return "\n".join(lines) + "\n"
