"""portail-agent: the pharmacy-side agent of the certificate portal."""

__version__ = "1.0.0"
