"""Signals of the FINESS app: apps above it (officines) subscribe from their AppConfig.ready()."""

from django.dispatch import Signal

# Sent after a refresh is committed, with `refresh` (a DONE Refresh).
referential_refreshed = Signal()
