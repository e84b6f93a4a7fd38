"""Real time: the WebSocket transport. Like routes, it only decodes frames, calls the
same service functions, and encodes answers; docs/realtime.md is its protocol."""
