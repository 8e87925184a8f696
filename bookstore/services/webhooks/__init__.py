"""Webhook delivery: URL safety, signing, the delivery queue and the worker.

Events enter through :mod:`bookstore.services.outbox`; this package sends them.
"""
