"""The pure core: decisions and transformations over plain dicts and models.

Nothing here performs I/O or imports kopf or kubernetes (an import-linter contract run by
`make lint` enforces it), so every function is unit-testable from tables of data.
"""
