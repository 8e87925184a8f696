"""Deployment helpers: the nginx configuration, its certificate and the local cluster."""
