package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

// relayEnv, when set, makes this binary the Go relay instead of the
// benchmark: its value is the origin, and its one argument the loopback
// address to listen on. The relay is a yardstick, the least a userspace
// proxy in Go can do: no policy, no parsing, bytes copied both ways.
const relayEnv = "PADDOCK_BENCH_RELAY_CHILD"

// serveRelay forwards every connection accepted on the address in args
// to origin until it is killed (the benchmark stops it with SIGTERM).
func serveRelay(args []string, origin string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "relay: want one argument, the address to listen on")
		return 2
	}
	l, err := net.Listen("tcp4", args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 1
	}
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			return 1
		}
		go relay(c.(*net.TCPConn), origin)
	}
}

// relay copies c to a new connection to origin and back. Each direction
// passes its end of stream on as a half close, so that whichever side
// closes first (wrk at the end of a run, nginx after its keep-alive
// limit) closes the other.
func relay(c *net.TCPConn, origin string) {
	defer c.Close()
	oc, err := net.Dial("tcp4", origin)
	if err != nil {
		return
	}
	o := oc.(*net.TCPConn)
	defer o.Close()
	up := make(chan struct{})
	go func() {
		io.Copy(o, c)
		o.CloseWrite()
		close(up)
	}()
	io.Copy(c, o)
	c.CloseWrite()
	<-up
}
