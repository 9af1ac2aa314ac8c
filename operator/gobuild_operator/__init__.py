"""gobuild-operator: makes `go mod download` work for Go builds running in Kubernetes."""

__version__ = "0.1.0"
