"""The module cache's rules, apart from its I/O, so each one is a table test: what the cache may answer,
keep and verify. Which request paths exist and the one file each may touch (`paths`), what is kept
and for how long and which upstream answers fall through to the next proxy (`policy`), which modules
the checksum database covers (`patterns`) and how a zip's `h1:` hash and a checksum database proof
are computed (`dirhash`, `sumdb`): decided here over strings and bytes, ported from the go command
and golang.org/x/mod so that the cache (gobuild_operator.modcache) and go never disagree about a
name or a hash. How a config's cache is set up is core/proxycache/'s.
"""
