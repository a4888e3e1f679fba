"""Revocation learnt from IGC Santé itself: CRLs (beat task) and OCSP (on demand, fallback).

Pure parts (no Django): `points` (where a certificate says to ask), `fetch` (HTTP with
conditional GET, timeouts, size limit, proxy), `crl` and `ocsp` (parse and verify). The
Django side: `models` (what was learnt), `sources` (which CA, which URL), `recording` (a
revocation learnt), `ocsp_check` (one certificate's OCSP question), `services` (the CRL pass
and on-demand checks), `selectors` (what pages show), `tasks` (beat and on-demand checks).
"""
