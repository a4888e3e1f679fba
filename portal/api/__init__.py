"""The REST API for LGOs (/api/v1/): API keys, authentication, limits, errors, idempotency.

Resources live in their apps (`officines/api.py`, `certificates/api.py`); this package holds
what every endpoint shares.
"""
