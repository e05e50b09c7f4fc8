"""The messages the code sends match the published JSON Schemas (docs/schemas/v1)."""
import base64
import gzip
import json
from pathlib import Path

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alprd.hotlist.sync import SIG_BYTES, entry_to_json, sign
from alprd.store import Store
from alprd.types import HotlistEntry
from tests.helpers import KEY, make_hit, make_read

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas" / "v1"


def schema(name):
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def test_every_schema_is_valid():
    for p in SCHEMAS.glob("*.schema.json"):
        jsonschema.Draft202012Validator.check_schema(json.loads(p.read_text()))


def test_outbox_records_match_their_schemas(tmp_path):
    s = Store(tmp_path / "car.db", KEY)
    r = make_read()
    s.add_read(r, [make_hit(r)])
    s.report_breach("test")
    items = s.pending(10)
    up = {"v": 1, "unit_id": "CAR-1", "sent_utc": "2026-11-28T00:00:00+00:00",
          "records": [{"id": i.id, "kind": i.kind, "body": i.body} for i in items]}
    jsonschema.validate(up, schema("up"))
    for i in items:
        jsonschema.validate(i.body, schema(i.kind))
    assert base64.b64decode(items[-1].body["crop_jpeg_b64"]) == r.crop_jpeg
    jsonschema.validate({"v": 1, "ids": [i.id for i in items]}, schema("ack"))
    s.close()


@pytest.mark.parametrize("kind", ["hotlist-snapshot", "hotlist-delta"])
def test_hotlist_updates_match_their_schemas(kind):
    e = HotlistEntry("8XYZ442", "CA", "stolen_vehicle", "x", case_number="V1")
    body = ({"v": 1, "kind": "hotlist.snapshot", "list_version": 3, "created_utc": "x",
             "entries": [entry_to_json(e)]} if kind == "hotlist-snapshot" else
            {"v": 1, "kind": "hotlist.delta", "from_version": 3, "list_version": 4,
             "add": [entry_to_json(e)], "remove": [["ABC123", None]], "cancellation": True})
    wire = sign(body, Ed25519PrivateKey.generate())
    jsonschema.validate(json.loads(gzip.decompress(wire[SIG_BYTES:])), schema(kind))
