// Command grpcfloor is bench/launch's yardstick for the cost of a Go
// client of agentd: it starts, dials PADDOCK_SOCKET as agentctl does, makes
// one Events.Info call and exits. No launch needs less than this and the
// workload's own exec, so it is the floor of `agentctl run` through agentd
// whatever the launcher does.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
)

func main() {
	sock := os.Getenv("PADDOCK_SOCKET")
	if sock == "" {
		fmt.Fprintln(os.Stderr, "grpcfloor: PADDOCK_SOCKET is not set")
		os.Exit(2)
	}
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = apiv1.NewEventsClient(cc).Info(ctx, &apiv1.InfoRequest{})
		cancel()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpcfloor:", err)
		os.Exit(1)
	}
}
