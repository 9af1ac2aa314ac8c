// Command pause is the sandbox ("pause") container of the local node's Pods.
//
// The kubelet starts one per Pod to hold its namespaces. It sleeps, reaps any
// child that is re-parented to it (it is PID 1 when the Pod shares its PID
// namespace), and exits 0 on SIGTERM or SIGINT, which is how the runtime stops
// a sandbox. It is built static (CGO_ENABLED=0) so it runs in a scratch image.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (gobuild-operator devtools)")
		return
	}
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: shutting down on %v\n", sig)
		os.Exit(0)
	}
}

// reap collects every exited child without blocking; one SIGCHLD may stand for several exits.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
