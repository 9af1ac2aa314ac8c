// Command yq runs the command tree of github.com/mikefarah/yq/v4 v4.45.1 (a real program with 22
// module requirements) as yq's own main.go does, less its shortcut that makes `eval` the default
// command. The two-node module cache test downloads its graph from an in-cluster mirror through
// the operator's cache on one node, builds and runs it, then does the same on the other node.
package main

import (
	"os"

	"github.com/mikefarah/yq/v4/cmd"
)

func main() {
	if err := cmd.New().Execute(); err != nil {
		os.Exit(1)
	}
}
