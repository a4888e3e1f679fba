"""Import issued certificates: what an administrator brings back from ANS or finds on a server.

One service for every entry point (wizard upload, REST API, `import_certificates` command):
PEM (one or several), DER, PKCS#7, PKCS#12 with its passphrase, a file with its chain.
A file is read (`reading`), its certificates checked and planned (`analyse`), then written
(`write`) with its trail (`audit`); `services` runs files by batches sharing one `context`,
and `outcomes` is what the caller gets back.

Rules worth knowing before reading the code:

* All or nothing per file. Every certificate of a file is checked first (profile, chain,
  officine, request) without writing anything; only when all pass are they written, in one
  transaction. A file with one bad certificate changes nothing.
* The officine is found from the OU (`1` + FINESS) among the importing editor's officines
  only: a FINESS of another editor is reported exactly like an unknown one.
* Chains are validated offline against `certificates.trust.trust_store()`. Trusted production
  or test chains are imported; a PERSONNES chain is refused (`not_organisation`); a chain
  ending at a foreign root is refused (`untrusted_chain`) unless `allow_untrusted` (staff
  tooling). An *incomplete* chain (issuer not found) is imported with a warning when the
  issuer looks like IGC Santé (a CA file missing from the trust directory); a leaf from an
  unknown authority without its chain is treated as untrusted, so "a certificate from
  another CA" is refused whether or not its chain comes with it.
* A duplicate (same fingerprint in this editor) is reported, not an error. The fingerprint is
  unique per editor only: two vendors may hold the same officine's certificate during a
  change of LGO, and nothing another editor imported is looked at or told.
* Renewal: the new certificate replaces the live certificate of the same officine, profile,
  CN and environment that expires before it (or the one its request `renews`); the old one is
  marked superseded. Importing an older certificate after a newer one marks the older one
  superseded at once, so onboarding a folder in any order gives the same result.
* Services: those of the matching request; else inferred (INSI-AUTO/INSI-MANU AUTH_CLI ->
  INSi, ORG SIGN -> DMP) plus the caller's `services`.
* Bulk (`certificates_import_files`): same checks; files are looked up by batches and the
  ones that only insert are inserted together, everything else is written file by file.

Convention: code outside this package imports the public names below from the package
(`from certificates.importing import certificate_import`); the modules inside import from
one another. Private helpers (and what tests patch, such as `services.BATCH_SIZE`) stay
reached through their own module.
"""

from certificates.importing.analyse import department_from_state, infer_services
from certificates.importing.outcomes import ImportReport, ImportResult
from certificates.importing.services import certificate_import, certificates_import_files

__all__ = [
    "ImportReport",
    "ImportResult",
    "certificate_import",
    "certificates_import_files",
    "department_from_state",
    "infer_services",
]
