"""The HTTP benchmark: Deskflow's web UI served by gunicorn, measured from a client.

`python -m bench.http` (see `__main__`): `seed` fills a database (templates driven
through the runtime, `clone`d in bulk with `rewrite`), `server` serves it, `measure`
times the pages and the task completions with `client`, `report` prints and saves.
"""
