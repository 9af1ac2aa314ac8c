"""The module cache's rules, apart from its I/O, so each one is a table test.

The cache (gobuild_operator.modcache) speaks the GOPROXY protocol to builds and to its upstreams.
What it may cache and for how long, which request paths exist, how go names and escapes modules,
which upstream answers fall through to the next proxy, which modules the checksum database covers
and how a zip's `h1:` hash and a checksum database proof are computed: all of that is decided here,
over strings and bytes, and ported from the go command and golang.org/x/mod so that the cache and
go never disagree about a name or a hash.
"""
