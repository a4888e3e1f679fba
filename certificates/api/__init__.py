"""REST API of certificates, certificate requests and campaigns, one module per resource.

Their OpenAPI annotations live in `schema`, the HTTP plumbing they share in `transport`.
"""
