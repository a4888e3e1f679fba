"""HTML pages of certificates, requests, the request wizard and renewal campaigns.

One module per subject; importers import the module they use.
"""
