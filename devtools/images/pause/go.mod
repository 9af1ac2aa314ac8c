module gobuild.dev/devtools/images/pause

go 1.26
