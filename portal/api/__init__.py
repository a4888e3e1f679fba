"""The REST API for LGOs (/api/v1/): API keys, authentication, limits, errors, idempotency.

Resources live in their apps (`certificates/api/`...) or, when they read several apps, in
`console/` (`console/officine_api.py`); this package holds
what every endpoint shares.
"""
