// Command agentctl is Paddock's command line: it runs commands inside a
// policy's fence.
//
//	agentctl run [flags] -- COMMAND [ARGS...]
//
// Exit status: the command's own; 125 when the sandbox could not be set up
// (a bad policy, a layer the kernel lacks); 126 when the command cannot run
// (not executable, or outside the fence); 127 when it is not found; 2 for a
// usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const exitUsage = 2

const usage = `agentctl: run commands inside a Paddock policy's fence.

Usage:
  agentctl run [flags] -- COMMAND [ARGS...]   run COMMAND in a sandbox
  agentctl info [--json]                      what agentd enforces here
  agentctl events [--follow] [--since N] [--sandbox ID] [--json]
                                              agentd's event log
  agentctl sandbox list|inspect|destroy       sandboxes agentd runs
  agentctl approve [--list|--follow|ID --deny|--once|--sandbox|--permanent]
                                              answer the connections a policy
                                              leaves to a person (on_unknown = "ask")
  agentctl version                            print the version
  agentctl help [COMMAND]                     show help

Run 'agentctl run --help' for the run flags, 'agentctl approve --help' for
approvals.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "info":
		return cmdInfo(args[1:], stdout, stderr)
	case "events":
		return cmdEvents(args[1:], stdout, stderr)
	case "sandbox":
		return cmdSandbox(args[1:], stdout, stderr)
	case "approve":
		return cmdApprove(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "agentctl %s\n", version)
		return 0
	case "help", "-h", "--help":
		if len(args) > 1 && args[1] == "run" {
			return cmdRun([]string{"--help"}, stdout, stderr)
		}
		if len(args) > 1 && args[1] == "approve" {
			return cmdApprove([]string{"--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "agentctl: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

func newFlags(name, synopsis, about string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: agentctl %s %s\n\n%s\nFlags:\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags: --help prints usage on stdout and exits 0; a bad flag
// is reported on stderr with exit status 2.
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return 0, true
	case err != nil:
		fmt.Fprintf(stderr, "agentctl %s: %v (see agentctl %s --help)\n", fs.Name(), err, fs.Name())
		return exitUsage, true
	}
	return 0, false
}
