"""Compliance: the audit log as a compliance officer reads it (search, export, verify,
review flags, accounting of disclosures) and a patient's own access log."""
