// Command consumer needs real public modules from a GOPROXY: two direct requirements with no
// dependencies and rsc.io/quote/v3, whose requirements (rsc.io/sampler, golang.org/x/text) come
// along transitively. The e2e tests download and build it inside mutated Pods.
package main

import (
	"fmt"

	"github.com/google/uuid"
	"golang.org/x/mod/semver"
	quote "rsc.io/quote/v3"
)

func main() {
	fmt.Println(quote.HelloV3())
	fmt.Println(semver.Max("v1.0.0", "v1.2.0"))
	fmt.Println(uuid.NewSHA1(uuid.NameSpaceURL, []byte("gobuild.dev")))
}
