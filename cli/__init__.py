"""`deskflow`: set up, deploy, drive and inspect the service desk from a shell.

`main` builds the command group; each command group is one module: `init` (the database,
accounts, API tokens), `process` (deploy, versions, diff, migrate, rollback),
`incidents`, `audit` (verify, anchors, export, replay) and `serve` (the web app, the
worker, the demo). Commands call engine functions: none opens a transaction itself.
"""
