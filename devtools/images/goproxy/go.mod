module gobuild.dev/devtools/images/goproxy

go 1.26
