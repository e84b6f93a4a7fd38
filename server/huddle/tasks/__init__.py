"""Tasks: tracked handoffs made from messages or directly (see docs/tasks.md)."""
