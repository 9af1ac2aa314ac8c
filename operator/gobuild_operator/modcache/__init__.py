"""The in-cluster module cache: a GOPROXY that builds only read, run by the operator per GoBuildConfig.

A build's GOPROXY starts with this cache; each build downloads into its own empty GOMODCACHE, so go
checks every file against go.sum and the checksum database as it arrives, and no build can change
what the next one reads. The cache itself keeps what it fetched from the config's own upstreams
(through its proxies, CA and credentials) on one ReadWriteOnce volume, and checks zips against the
checksum database before keeping them. The rules are in gobuild_operator.core.modcache; this
package is their I/O: storage, upstream client, server. It imports neither kopf nor an API client.

Run it: `python -m gobuild_operator.modcache --help`.
"""
