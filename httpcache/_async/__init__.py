"""Async source of the transports, clients and storages; ``_sync`` is generated from it."""
