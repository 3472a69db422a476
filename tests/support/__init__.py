"""Local stand-ins for external parties (real HTTP servers on loopback, started by tests)."""
