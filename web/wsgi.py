"""The app for WSGI servers: `gunicorn -w 4 -b 127.0.0.1:8000 web.wsgi:app`.

The database is the one `DESKFLOW_DATABASE_URL` names (see `engine.store.db`); the
session secret comes from `DESKFLOW_SECRET_KEY` (see `web.security`), which every worker
must share, or a worker would not accept the session cookie another one signed.
"""

from __future__ import annotations

from web import create_app

app = create_app()
