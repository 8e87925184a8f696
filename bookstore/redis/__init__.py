"""Shared state in Redis: one client and breaker, the limiter, the cache, revocation."""
