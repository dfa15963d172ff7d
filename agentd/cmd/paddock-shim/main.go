// Command paddock-shim is the first process of every sandbox. agentctl (and
// later agentd) start it with a launch spec on descriptor 3; it applies the
// fence to itself and execs the workload. It is a binary of its own, beside
// agentctl, so a launch pays for a small program's start, not the policy
// compiler's. It is not meant to be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/paddock-sh/paddock/agentd/shim"
)

func main() {
	if len(os.Args) != 1 || os.Args[0] != shim.Arg0 {
		fmt.Fprintln(os.Stderr, "paddock-shim is started by agentctl run, with a launch spec on descriptor 3; it takes no arguments")
		os.Exit(shim.ExitSetup)
	}
	shim.Main()
}
