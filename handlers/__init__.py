"""Deskflow's handlers: the Python behind the process's service tasks.

Importing this package registers every operator; the engine dispatches through
`handlers.registry.call(name, params, incident)`.
"""

from handlers import categorize, closure, escalate, faq, notify, registry, sla

__all__ = ["categorize", "closure", "escalate", "faq", "notify", "registry", "sla"]
