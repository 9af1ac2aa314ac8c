"""The pure core: decisions and transformations over plain dicts and API models, no I/O.

One package per job, each with its own reason to change: plan (what a spec gives every injected
container), injection (whether and how an admitted workload gets it), imagebuilds (what an image
builder's command line gets), diagnosis (why a build failed), status (what the GoBuildConfig's
status says: conditions, probes, checks), downloads (what the builds did, counted once),
dockercheck (what in a Dockerfile will break `go mod download`), modcache (what the module cache
may answer, keep and verify), proxycache (a config's Proxy cache as it is set up); and leadership
(which replica leads). Import contracts in pyproject.toml keep them on their floors: siblings never
import each other, each builds only on the floors below it, and nothing here imports kopf, an API
client or anything that does I/O.
"""
