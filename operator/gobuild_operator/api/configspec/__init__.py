"""What a valid GoBuildConfig spec is, and what a spec may set at all. `model` is the spec and its
parse (`parse_spec`, with a `SpecError` naming the field to fix), the one model that the operator
reads every config with and the CRD's spec schema is generated from; `blocks` are its parts
(selector, env, corporate proxy, private modules, CA, reporting, image builds) and `cache` its
module cache block; `policy` is the admin's allow list of env names and GOFLAGS, which a spec that
parses must still pass before it injects anything. It stands on api/fields/ and knows no status.
"""
