module gobuild.dev/bench

go 1.26
