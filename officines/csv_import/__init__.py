"""CSV import of officines: decode, parse, check every row, then write everything in one transaction.

The file is judged as a whole before anything is written: a file with errors imports
nothing, unless the user explicitly asks for the valid rows only. Modules, lowest first:
`reading` (bytes to rows, shared with the pharmacists import), `columns` (header spellings,
labels, template), `plan` (checking rows, writing nothing), `write` (bulk create and update,
audit), `report` (what a stored import keeps for its page), `stored` (upload, check,
confirm and apply, in the request or the worker).
"""
