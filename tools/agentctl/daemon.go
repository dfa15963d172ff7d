package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
)

const defaultSocket = "/run/paddock/agentd.sock"

// dial connects to agentd's unix socket. The daemon learns who we are from
// the kernel, so there is nothing to present.
func dial(socket string) (*grpc.ClientConn, error) {
	if _, err := os.Stat(socket); err != nil {
		return nil, fmt.Errorf("agentd is not running (no socket at %s)", socket)
	}
	return grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

func socketFlag(fs interface {
	StringVar(*string, string, string, string)
}) *string {
	s := defaultSocket
	if v := os.Getenv("PADDOCK_SOCKET"); v != "" {
		s = v
	}
	fs.StringVar(&s, "socket", s, "agentd's socket (env PADDOCK_SOCKET)")
	return &s
}

var pj = protojson.MarshalOptions{UseProtoNames: true}

func printJSON(w io.Writer, m proto.Message) {
	b, _ := pj.Marshal(m)
	w.Write(append(b, '\n'))
}

func cmdInfo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("info", "[flags]", "Show what agentd enforces on this host and what is degraded.", stdout)
	sock := socketFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if code, done := parse(fs, args, stdout, stderr); done {
		return code
	}
	cc, err := dial(*sock)
	if err != nil {
		fmt.Fprintln(stderr, "agentctl info:", err)
		return 1
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := apiv1.NewEventsClient(cc).Info(ctx, &apiv1.InfoRequest{})
	if err != nil {
		fmt.Fprintln(stderr, "agentctl info:", err)
		return 1
	}
	if *asJSON {
		printJSON(stdout, info)
		return 0
	}
	fmt.Fprintf(stdout, "agentd %s on %s, kernel %s, Landlock ABI %d\n", info.Version, info.Host, info.Kernel, info.LandlockAbi)
	fmt.Fprintf(stdout, "sandboxes: %d; events logged up to #%d\n", info.Sandboxes, info.LastSeq)
	for _, l := range info.Enforced {
		fmt.Fprintf(stdout, "  enforced  %s\n", layerName(l))
	}
	for _, dg := range info.Degraded {
		fmt.Fprintf(stdout, "  degraded  %s: %s\n", layerName(dg.Layer), dg.Reason)
	}
	return 0
}

func layerName(l apiv1.Layer) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(l.String(), "LAYER_")), "_", "-")
}

func actionName(a apiv1.Action) string {
	return strings.ToLower(strings.TrimPrefix(a.String(), "ACTION_"))
}

func cmdEvents(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("events", "[flags]", "Show agentd's event log: the history, then live events with --follow.", stdout)
	sock := socketFlag(fs)
	follow := fs.Bool("follow", false, "keep streaming new events")
	since := fs.Uint64("since", 0, "start after this sequence number (0: the oldest kept)")
	sandbox := fs.String("sandbox", "", "only this sandbox's events")
	asJSON := fs.Bool("json", false, "print JSON lines")
	drop := fs.Bool("drop", false, "never slow the stream down: skip events when behind, reported as gaps")
	if code, done := parse(fs, args, stdout, stderr); done {
		return code
	}
	cc, err := dial(*sock)
	if err != nil {
		fmt.Fprintln(stderr, "agentctl events:", err)
		return 1
	}
	defer cc.Close()
	req := &apiv1.SubscribeRequest{SinceSeq: *since, Follow: *follow, Mode: apiv1.Mode_MODE_BLOCK}
	if *drop {
		req.Mode = apiv1.Mode_MODE_DROP
	}
	if *sandbox != "" {
		req.Filter = &apiv1.Filter{SandboxIds: []string{*sandbox}}
	}
	stream, err := apiv1.NewEventsClient(cc).Subscribe(context.Background(), req)
	if err != nil {
		fmt.Fprintln(stderr, "agentctl events:", err)
		return 1
	}
	color := false
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("NO_COLOR") == "" {
		color = true
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil {
			fmt.Fprintln(stderr, "agentctl events:", err)
			return 1
		}
		if *asJSON {
			printJSON(stdout, ev)
			continue
		}
		fmt.Fprintln(stdout, eventLine(ev, color))
	}
}

// eventLine renders one event for a person: sequence, time, sandbox,
// layer, action, then what and why.
func eventLine(ev *apiv1.Event, color bool) string {
	t := ev.Time.AsTime().Local().Format("15:04:05.000")
	act := actionName(ev.Action)
	if color {
		switch ev.Action {
		case apiv1.Action_ACTION_DENY, apiv1.Action_ACTION_KILL:
			act = "\x1b[31m" + act + "\x1b[0m"
		case apiv1.Action_ACTION_ALLOW:
			act = "\x1b[32m" + act + "\x1b[0m"
		}
	}
	var what string
	switch o := ev.Object.(type) {
	case *apiv1.Event_Network:
		n := o.Network
		dst := n.Host
		if dst == "" {
			dst = n.Orig
		}
		if n.UnixPath != "" {
			dst = n.UnixPath
		}
		what = fmt.Sprintf("%s %s %s", n.Op, n.Proto, dst)
	case *apiv1.Event_Gap:
		what = fmt.Sprintf("GAP: %d events lost (%s), #%d-#%d", o.Gap.Count, o.Gap.Cause, o.Gap.FromSeq, o.Gap.ToSeq)
		if color {
			what = "\x1b[33m" + what + "\x1b[0m"
		}
	case *apiv1.Event_Lifecycle:
		what = o.Lifecycle.Phase + " " + o.Lifecycle.Detail
	case *apiv1.Event_File:
		what = fmt.Sprintf("%s %s", o.File.Operation, o.File.Path)
	case *apiv1.Event_Syscall:
		what = fmt.Sprintf("syscall %s", o.Syscall.Name)
	case *apiv1.Event_Exec:
		what = "exec " + o.Exec.Exe
		if len(o.Exec.Argv) > 1 {
			what += " " + strings.Join(o.Exec.Argv[1:], " ")
		}
	case *apiv1.Event_Approval:
		a := o.Approval
		what = fmt.Sprintf("approval %s %s %s", a.Id, stateName(a.State), destination(a))
		if a.State == apiv1.ApprovalState_APPROVAL_STATE_ANSWERED {
			what = fmt.Sprintf("approval %s %s %s by %s", a.Id, decisionName(a.Decision), destination(a), safe(a.AnsweredBy))
		}
	case *apiv1.Event_Exit:
		what = fmt.Sprintf("exit %d", o.Exit.Code)
		if o.Exit.Signal != 0 {
			what = fmt.Sprintf("exit by signal %d", o.Exit.Signal)
		}
	}
	sb := ev.SandboxId
	if sb == "" {
		sb = "-"
	}
	line := fmt.Sprintf("#%d %s %s %s %s %s", ev.Seq, t, sb, layerName(ev.Layer), act, what)
	if ev.Process != nil && ev.Process.Pid != 0 {
		line += fmt.Sprintf(" [%s %d]", ev.Process.Comm, ev.Process.Pid)
	}
	if ev.Rule != nil {
		line += " rule " + ev.Rule.Field
		if ev.Rule.File != "" {
			line += fmt.Sprintf(" (%s:%d)", ev.Rule.File, ev.Rule.Line)
		}
	} else if ev.Reason != "" && ev.GetGap() == nil && ev.GetLifecycle() == nil {
		line += " (" + ev.Reason + ")"
	}
	return line
}

func cmdSandbox(args []string, stdout, stderr io.Writer) int {
	const help = `Usage: agentctl sandbox list [--json]
       agentctl sandbox inspect ID
       agentctl sandbox destroy ID
`
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprint(stdout, help)
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	fs := newFlags("sandbox "+args[0], "[flags]", "Manage sandboxes through agentd.", stdout)
	sock := socketFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if code, done := parse(fs, args[1:], stdout, stderr); done {
		return code
	}
	cc, err := dial(*sock)
	if err != nil {
		fmt.Fprintln(stderr, "agentctl sandbox:", err)
		return 1
	}
	defer cc.Close()
	c := apiv1.NewSandboxesClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch args[0] {
	case "list":
		resp, err := c.List(ctx, &apiv1.ListSandboxesRequest{})
		if err != nil {
			fmt.Fprintln(stderr, "agentctl sandbox list:", err)
			return 1
		}
		if *asJSON {
			printJSON(stdout, resp)
			return 0
		}
		for _, s := range resp.Sandboxes {
			fmt.Fprintf(stdout, "%s  %-10s  %-12s  uid %d  %d processes\n", s.Id, strings.ToLower(strings.TrimPrefix(s.State.String(), "STATE_")), s.PolicyName, s.OwnerUid, len(s.Pids))
		}
		return 0
	case "inspect", "destroy":
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, help)
			return exitUsage
		}
		if args[0] == "destroy" {
			if _, err := c.Destroy(ctx, &apiv1.DestroySandboxRequest{Id: fs.Arg(0)}); err != nil {
				fmt.Fprintln(stderr, "agentctl sandbox destroy:", err)
				return 1
			}
			return 0
		}
		s, err := c.Get(ctx, &apiv1.GetSandboxRequest{Id: fs.Arg(0)})
		if err != nil {
			fmt.Fprintln(stderr, "agentctl sandbox inspect:", err)
			return 1
		}
		b, _ := json.MarshalIndent(json.RawMessage(must(pj.Marshal(s))), "", "  ")
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	fmt.Fprintf(stderr, "agentctl sandbox: unknown command %q\n\n%s", args[0], help)
	return exitUsage
}

func must(b []byte, _ error) []byte { return b }
