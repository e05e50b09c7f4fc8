"""The access audit trail (POL-17, POL-18): append-only, hash-chained, sealed, uplinked.

The trail itself is alprd.audit.trail.
"""

from alprd.audit.trail import GENESIS, AuditError, AuditLog, Verified, format_report, now_utc

__all__ = ["AuditError", "AuditLog", "GENESIS", "Verified", "format_report", "now_utc"]
