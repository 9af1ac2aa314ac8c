// Pins the BuildKit release whose buildkitd and buildctl build the operator's image and run the
// in-cluster image builds of the tests. BuildKit's own go.mod has exclude directives, which only
// apply when it is the main module: so its commands are built inside the downloaded module (see
// localcluster/binaries.py), and this file is only the version pin.
module gobuild.dev/devtools/tools/buildkit

go 1.26.8

require github.com/moby/buildkit v0.34.2
