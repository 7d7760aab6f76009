"""The Trellis policy pack (Pulumi CrossGuard). Rules live in ``rules.py`` as plain functions;
``__main__.py`` wraps them in a ``PolicyPack`` (which starts a server, so only there)."""
