"""The GoBuildConfig API (SPEC "GoBuildConfig spec" and "status"): the one source of its schema.

The pydantic models here are what `kubectl explain` shows and what the API server enforces:
crd.py generates the CRD's openAPIV3Schema from them (names, types, defaults, enums, bounds,
descriptions, and the CEL rules and list semantics given with markers.py), `make generate` writes
crds/ and the generated docs tables, and a test fails when the committed files differ. Changing a
default or adding a field is an edit here.

- fields.py: single values (URLs, names, flags, paths) with their validator and CEL rule;
- blocks.py, spec.py: the spec and its parse (`parse_spec`, `SpecError` naming the field);
- status.py, resource.py: what the operator writes, and the whole object;
- policy.py: what a spec may set at all (the admin's allow lists);
- reasons.py: the names of download failure reasons, a public contract;
- markers.py, crd.py: CEL rules and schema keywords on fields, and the CRD generated from them.

Nothing here imports the core: the API is the floor the rest of the operator stands on.
"""
