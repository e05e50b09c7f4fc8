"""Start Debian's mosquitto on a free loopback port, for the demo and the tests."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from alprd.protocol.acl import broker_acl, certificate_cn, dynsec_config, mosquitto_tls_conf


class BrokerError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str:
    path = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if Path(p).exists()), None
    )
    if not path:
        raise BrokerError("mosquitto not found: sudo apt-get install mosquitto")
    return path


class Mosquitto:
    """A private broker; extra_conf lines are appended (TLS listeners, for example)."""

    def __init__(
        self,
        port: int | None = None,
        extra_conf: str = "",
        tls: tuple[Path, Path, Path] | None = None,
        prefix: str = "alprd/v1",
        acl: bool = True,
        crl: Path | None = None,
        cars: list[str] | None = None,
    ) -> None:
        """tls = (ca.crt, hq.crt, hq.key): a mutual-TLS listener (TLS 1.2+, client
        certificates from that CA required) instead of plain MQTT; with acl, each client
        is its certificate's CN and may use only its own topics (alprd.protocol.acl), HQ
        being the holder of hq.crt's CN. crl: the CA's revocation list (`alprd provision
        --revoke`), read when the broker starts (restart() after a revocation). cars: the
        fleet's unit ids: the rules are then enforced by the dynamic-security plugin, which
        also refuses a subscription outside a car's own topics (as broker-config makes it)."""
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self.tls = tls
        self.prefix, self.acl, self.crl, self.cars = prefix, acl, crl, cars
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="alprd-mosquitto-")

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def _tls_conf(self) -> str:
        if not self.tls:
            return "allow_anonymous true\n"
        # mosquitto started as root reads these as the 'mosquitto' user: private copies,
        # readable by it, in this broker's own folder (test and demo keys only)
        names = []
        for src, name in zip(self.tls, ("ca.crt", "server.crt", "server.key")):
            dst = Path(self._dir.name) / name
            shutil.copyfile(src, dst)
            dst.chmod(0o644)
            names.append(dst)
        ca, crt, key = names
        crl = acl = dynsec = None
        if self.crl:
            crl = Path(self._dir.name) / "ca.crl"
            shutil.copyfile(self.crl, crl)
            crl.chmod(0o644)
        hq_cn = certificate_cn(Path(crt).read_bytes())
        if self.cars is not None:
            dynsec = Path(self._dir.name) / "dynamic-security.json"
            dynsec.write_text(json.dumps(dynsec_config(self.prefix, hq_cn, self.cars)))
            dynsec.chmod(0o666)  # the plugin saves its state there, as the 'mosquitto' user
        elif self.acl:
            acl = Path(self._dir.name) / "acl"
            acl.write_text(broker_acl(self.prefix, hq_cn))
            acl.chmod(0o644)
        conf = mosquitto_tls_conf(
            str(ca),
            str(crt),
            str(key),
            str(acl) if acl else None,
            str(crl) if crl else None,
            str(dynsec) if dynsec else None,
        )
        return conf

    def start(self, timeout: float = 10.0) -> "Mosquitto":
        conf = Path(self._dir.name) / "mosquitto.conf"
        Path(self._dir.name).chmod(0o755)
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n{self._tls_conf()}"
            f"persistence false\nlog_dest stderr\nlog_type error\n"
            f"log_type warning\n{self.extra_conf}"
        )
        conf.chmod(0o644)
        self.log = open(Path(self._dir.name) / "mosquitto.log", "wb")
        self.proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(conf)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError("mosquitto exited: " + self.log_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def log_text(self) -> str:
        try:
            return (Path(self._dir.name) / "mosquitto.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def restart(self, timeout: float = 10.0) -> "Mosquitto":
        """Stop and start again on the same port, its files read afresh (a new CRL)."""
        self._end()
        return self.start(timeout)

    def _end(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def stop(self) -> None:
        self._end()
        self._dir.cleanup()

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
