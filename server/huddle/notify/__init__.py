"""Patient notifications: an outbox of "a secure message is waiting" e-mails (no PHI),
the one-time secure links they carry, and the short link sessions those links open."""
