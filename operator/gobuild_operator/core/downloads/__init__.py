"""What the builds did, as a GoBuildConfig's status counts it: `observe` turns a finished injected Pod
into an observation (succeeded, failed with a diagnosis, or missed: admitted without the injection it
asked for, which `missed` decides); `counting` folds observations into `status.downloads` exactly
once, restarts included; `events` says which Events a batch of observations and condition changes is
worth; `preflight` reads a finished preflight Pod (not a build, never counted) as
`status.lastPreflight`. It stands on core/status/ (conditions, and what the probes mean for
DownloadsHealthy). No I/O: reporting/ feeds it and the reconciler writes what it returns.
"""
