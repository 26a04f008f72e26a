"""Stand-ins for systems the contact centre talks to, for demos and tests (never shipped)."""
