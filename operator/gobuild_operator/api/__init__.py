"""The GoBuildConfig API (SPEC "GoBuildConfig spec" and "status"): the one source of its schema.

The pydantic models here are what `kubectl explain` shows and what the API server enforces:
crd/schema.py generates the CRD's openAPIV3Schema from them (names, types, defaults, enums, bounds,
descriptions, and the CEL rules and list semantics given with fields/markers.py), `make generate`
writes crds/ and the generated docs tables, and a test fails when the committed files differ.
Changing a default or adding a field is an edit here.

- spec/: the spec and its parse (`model`: `parse_spec`, whose `SpecError` names the field), its blocks
  (`blocks`) and its module cache block (`cache`), and what a spec may set at all (`policy`: the
  admin's allow lists);
- fields/: single values (URLs, names, flags, paths) with their validator and CEL rule (`values`),
  and the CEL rules and schema keywords put on fields (`markers`);
- status/: what the operator writes (`model`), and the names of download failure reasons, a
  public contract (`reasons`);
- crd/: the whole object (`resource`) and the CRD generated from it (`schema`).

Nothing here imports the core: the API is the floor the rest of the operator stands on.
"""
