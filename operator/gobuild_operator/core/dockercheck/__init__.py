"""`check`: what will make `go mod download` fail in an image build, found in the Dockerfile itself.

The build log says "go: go.mod file not found" or "dial tcp: i/o timeout" long after the cause was
written: go.mod copied after the download, excluded by .dockerignore, a WORKDIR that differs between
stages, a GOPROXY the Dockerfile never declares as ARG (so the value the builder passes is ignored), a
hard-coded ENV GOPROXY that overrides the cluster's, credentials in ARG/ENV, private modules without
an ssh or secret mount, no module cache mount, a go.mod newer than the image's Go. Each finding has a
line, a fixed reason name (findings.REASONS) and the fix.

The checks walk the stages in order and keep, per stage, what a build would have: WORKDIR, ENV, the
ARGs declared in the stage, where go.mod and go.sum are in the image (and which context file they came
from), whether modules are already in the image or in a cache mount. A stage built FROM another stage
starts from that stage's state (ARGs excepted: they end with their stage, as in BuildKit).

What counts as a go command that needs go.mod: build, test, vet, list, get, generate, install and run
(without @version), mod download/tidy/vendor/verify/graph/why, work sync/vendor. Commands that fetch
modules also include install/run PKG@VERSION and mod download MODULE@VERSION, which need no go.mod.
Scripts are read through `;`, `&&`, `||`, pipes, `sh -c '...'`, `env`/`time`/`exec` prefixes, inline
`NAME=value` assignments and `export`; a `cd` (or `go -C`) before the go command makes the working
directory unknown, so only "is there a go.mod at all" is checked then.

Reading the inputs is `dockerfile`, `dockerignore` and `scripts`; `check` walks the instructions
keeping a `build`, whose findings the `rules` add; `findings` holds the reasons, rule codes and the
settings a check runs with. Pure: the caller reads the Dockerfile, .dockerignore, the context's file
list and go.mod texts.
"""
