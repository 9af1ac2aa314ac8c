"""What one field of the GoBuildConfig API may hold, said once for both of its readers: `values` are
the single values a spec is made of (URLs, names, flags, paths, quantities), each with its Python
validator and its CEL rule built from the same pattern, with `SpecError` naming the refused field
and `SpecModel`, the base of every block; `markers` are what only the CRD schema says (CEL rules,
list semantics, formats, schema defaults), attached next to a field and read by crd/schema.py. It
knows no spec block and no status: the spec and the status both stand on it.
"""
