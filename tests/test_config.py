import subprocess
import sys

import pytest

from alprd.config import ConfigError, key_lines, load

GOOD = """
[vehicle]
unit_id = "CAR-7"

[[capture.cameras]]
id = "rear"
source = "/dev/video0"

[[capture.cameras]]
id = "left"
source = "rtsp://127.0.0.1/x"

[uplink]
broker = "mqtt://127.0.0.1:1883"
"""


def write(tmp_path, text):
    p = tmp_path / "alprd.toml"
    p.write_text(text)
    return p


def test_good_file_loads(tmp_path):
    cfg = load(write(tmp_path, GOOD), environ={})
    assert cfg.vehicle.unit_id == "CAR-7"
    assert [c.id for c in cfg.capture.cameras] == ["rear", "left"]
    assert cfg.uplink.broker == "mqtt://127.0.0.1:1883"


def test_misspelt_key_names_path_and_line(tmp_path):
    text = GOOD.replace('unit_id = "CAR-7"', 'unit_idd = "CAR-7"')
    with pytest.raises(ConfigError) as exc:
        load(write(tmp_path, text), environ={})
    assert "unknown key 'vehicle.unit_idd'" in str(exc.value)
    assert "line 3" in str(exc.value)


def test_misspelt_key_in_array_of_tables(tmp_path):
    text = GOOD.replace('source = "rtsp://127.0.0.1/x"', 'sorce = "rtsp://127.0.0.1/x"')
    with pytest.raises(ConfigError) as exc:
        load(write(tmp_path, text), environ={})
    msg = str(exc.value)
    assert "capture.cameras.1.sorce" in msg and "line 11" in msg


def test_mistyped_value_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"'gps.baud'.*line 2"):
        load(write(tmp_path, '[gps]\nbaud = "fast"\n'), environ={})


def test_unknown_section_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'camera'"):
        load(write(tmp_path, '[camera]\nid = "x"\n'), environ={})


def test_env_overrides_any_key(tmp_path):
    cfg = load(
        write(tmp_path, GOOD),
        environ={
            "ALPRD_UPLINK__BROKER": "mqtts://hq.example:8883",
            "ALPRD_GPS__BAUD": "4800",
            "ALPRD_VEHICLE__UNIT_ID": "CAR-9",
        },
    )
    assert cfg.uplink.broker == "mqtts://hq.example:8883"
    assert cfg.gps.baud == 4800
    assert cfg.vehicle.unit_id == "CAR-9"


def test_bad_env_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="ALPRD_GPS__BAUD"):
        load(write(tmp_path, GOOD), environ={"ALPRD_GPS__BAUD": "1"})


def test_unknown_env_key_is_an_error():
    with pytest.raises(ConfigError, match="unknown key 'gps.speed'"):
        load(None, environ={"ALPRD_GPS__SPEED": "1"})


def test_duplicate_camera_ids(tmp_path):
    with pytest.raises(ConfigError, match="repeated: rear"):
        load(write(tmp_path, GOOD.replace('"left"', '"rear"')), environ={})


def test_bad_broker_url(tmp_path):
    with pytest.raises(ConfigError, match="uplink.broker"):
        load(write(tmp_path, '[uplink]\nbroker = "http://x"\n'), environ={})


def test_invalid_toml_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[vehicle\n"), environ={})


def test_key_lines_maps_tables_and_arrays():
    lines = key_lines(GOOD)
    assert lines[("vehicle", "unit_id")] == 3
    assert lines[("capture", "cameras", 1, "source")] == 11


def test_example_config_is_valid():
    from pathlib import Path

    load(Path(__file__).parent.parent / "config" / "alprd.toml", environ={})


def test_config_check_command_exit_codes(tmp_path):
    from alprd.store.crypto import make_key

    make_key(tmp_path / "data.key")
    good = write(tmp_path, GOOD + f'[store]\nkey_file = "{tmp_path / "data.key"}"\n')
    ok = subprocess.run(
        [sys.executable, "-m", "alprd", "config", "check", "-c", str(good)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("[uplink]\nbroker", "[uplink]\nbrokr"))
    res = subprocess.run(
        [sys.executable, "-m", "alprd", "config", "check", "-c", str(bad)],
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0
    assert "uplink.brokr" in res.stderr and "line 14" in res.stderr


def test_config_check_names_a_missing_file_and_only_warns_of_an_absent_device(tmp_path):
    """#36 finding 10: `config check` said OK with a missing model file (the daemon then
    failed at start). A device (/dev/video0 or the GPS unplugged at boot) only warns: the
    daemon waits for it, and systemd's ExecStartPre must not keep the service down."""
    from alprd.store.crypto import make_key

    make_key(tmp_path / "data.key")
    text = GOOD + f'[store]\nkey_file = "{tmp_path / "data.key"}"\n'
    cfg = write(tmp_path, text + f'[recognize]\ndetector = "{tmp_path / "gone.tflite"}"\n')
    res = subprocess.run(
        [sys.executable, "-m", "alprd", "config", "check", "-c", str(cfg)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert f"recognize.detector = {tmp_path / 'gone.tflite'}: no such file" in res.stderr
    assert "capture.cameras[rear].source = /dev/video0" in res.stderr  # here: no camera
    assert "warning" in res.stderr.split("/dev/video0")[0].splitlines()[-1]


@pytest.mark.policy("POL-16")
@pytest.mark.policy("POL-08")
def test_safeguards_cannot_be_configured_away(tmp_path):
    # HQ off this machine only over TLS
    with pytest.raises(ConfigError, match="mutual TLS"):
        load(write(tmp_path, '[uplink]\nbroker = "mqtt://hq.example.org:1883"\n'), environ={})
    with pytest.raises(ConfigError, match="mutual TLS"):
        load(None, environ={"ALPRD_UPLINK__BROKER": "mqtt://10.0.0.5"})
    assert load(None, environ={"ALPRD_UPLINK__BROKER": "mqtts://hq.example.org"})
    # there is no key that turns off encryption, retention or no-capture zones
    from alprd.config import describe_keys

    keys = " ".join(describe_keys()).lower()
    for forbidden in ("encrypt", "plaintext", "disable", "retention_off", "insecure"):
        assert forbidden not in keys.split(":")[0]
    for attempt in (
        "[store]\nencrypt = false\n",
        "[uplink]\ninsecure = true\n",
        "[store]\nlocal_cap_days = 3650\n",
    ):
        with pytest.raises(ConfigError):
            load(write(tmp_path, attempt), environ={})


@pytest.mark.policy("POL-13")
def test_the_page_off_loopback_needs_https(tmp_path):
    text = GOOD + '\n[ui]\nlisten = "0.0.0.0:8443"\n'
    with pytest.raises(ConfigError, match="tls_cert"):
        load(write(tmp_path, text), environ={})
    with pytest.raises(ConfigError, match="both"):
        load(write(tmp_path, text + 'tls_cert = "/etc/alprd/keys/page.crt"\n'), environ={})
    ok = text + 'tls_cert = "/etc/alprd/keys/page.crt"\ntls_key = "/etc/alprd/keys/page.key"\n'
    assert load(write(tmp_path, ok), environ={}).ui.listen == "0.0.0.0:8443"
