"""The GoBuildConfig object and its CustomResourceDefinition: `resource` joins the spec and the status
into the whole object, the root of the schema, and `schema` generates the CRD from it (what
controller-gen does for Go operators), which `make generate` writes to crds/.
"""
