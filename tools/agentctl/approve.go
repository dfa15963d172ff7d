package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unicode"

	"golang.org/x/term"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
)

// Exit codes of agentctl approve, beyond 0 (done), 1 (agentd failed or
// refused) and 2 (usage).
const (
	exitNoRequest = 3 // no pending request with that id (or not yours)
	exitResolved  = 4 // the request was already answered, timed out or withdrawn
)

const approveAbout = `Answer the approval requests of sandboxes whose policy says on_unknown = "ask":
their connections to destinations the policy does not name wait until someone
answers here, or are denied when the policy's ask_timeout passes.

  agentctl approve                      on a terminal: show the requests as they
                                        come; keys: up/down (or j/k) select,
                                        d deny, o allow once, s allow for the
                                        sandbox, p allow permanently, q quit
  agentctl approve --list [--json]      print the pending requests and exit
  agentctl approve --follow [--json]    print requests and their outcomes as
                                        they come, without answering
  agentctl approve ID --deny|--once|--sandbox|--permanent
                                        answer one request

  deny        refuse this request's connections
  once        let this request's connections through; the next one asks again
  sandbox     allow the destination for the rest of the sandbox's life
  permanent   allow it for the owner's sandboxes of this policy, running and
              later ones, by writing it to their policy overlay (see
              policyc overlay show)

You see and answer the requests of your own sandboxes; root those of all.
Exit status: 0 done; 1 agentd failed or refused; 2 usage; 3 no pending
request with that id; 4 the request was already resolved.
`

// approveArgs splits flags from the request id, wherever the id comes.
func approveArgs(args []string, valued map[string]bool) (flags, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(pos, args[i+1:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		if name := strings.TrimLeft(a, "-"); valued[name] && !strings.Contains(name, "=") && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return flags, pos
}

func cmdApprove(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("approve", "[flags] [ID --deny|--once|--sandbox|--permanent]", approveAbout, stdout)
	sock := socketFlag(fs)
	list := fs.Bool("list", false, "print the pending requests and exit")
	follow := fs.Bool("follow", false, "print requests and their outcomes as they come, without answering")
	asJSON := fs.Bool("json", false, "print JSON: one request per line (--list, --follow), or the resolved request")
	only := fs.String("sandbox-id", "", "only the requests of this sandbox")
	decisions := map[apiv1.Decision]*bool{
		apiv1.Decision_DECISION_DENY:            fs.Bool("deny", false, "deny request ID"),
		apiv1.Decision_DECISION_ALLOW_ONCE:      fs.Bool("once", false, "allow request ID once"),
		apiv1.Decision_DECISION_ALLOW_SANDBOX:   fs.Bool("sandbox", false, "allow request ID's destination for its sandbox"),
		apiv1.Decision_DECISION_ALLOW_PERMANENT: fs.Bool("permanent", false, "allow request ID's destination permanently for its policy"),
	}
	flags, pos := approveArgs(args, map[string]bool{"socket": true, "sandbox-id": true})
	if code, done := parse(fs, append(flags, append([]string{"--"}, pos...)...), stdout, stderr); done {
		return code
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "agentctl approve: %s (see agentctl approve --help)\n", msg)
		return exitUsage
	}
	var dec apiv1.Decision
	for d, set := range decisions {
		if *set {
			if dec != apiv1.Decision_DECISION_UNSPECIFIED {
				return usage("give one of --deny, --once, --sandbox, --permanent")
			}
			dec = d
		}
	}
	var filter []string
	if *only != "" {
		filter = []string{*only}
	}
	switch {
	case fs.NArg() > 1:
		return usage("answer one request at a time")
	case fs.NArg() == 1 && (*list || *follow):
		return usage("--list and --follow take no request id")
	case fs.NArg() == 1 && dec == apiv1.Decision_DECISION_UNSPECIFIED:
		return usage("say what to answer: --deny, --once, --sandbox or --permanent")
	case fs.NArg() == 0 && dec != apiv1.Decision_DECISION_UNSPECIFIED:
		return usage("name the request to answer (agentctl approve --list shows them)")
	case *list && *follow:
		return usage("--list or --follow, not both")
	}
	interactive := fs.NArg() == 0 && !*list && !*follow
	if interactive && !(isTerminal(os.Stdin) && isTerminal(stdout)) {
		return usage("not on a terminal: use --list, --follow, or ID with --deny, --once, --sandbox or --permanent")
	}
	cc, err := dial(*sock)
	if err != nil {
		fmt.Fprintln(stderr, "agentctl approve:", err)
		return 1
	}
	defer cc.Close()
	c := apiv1.NewApprovalsClient(cc)
	switch {
	case fs.NArg() == 1:
		return answerOne(c, fs.Arg(0), dec, *asJSON, stdout, stderr)
	case *list || *follow:
		return watchApprovals(c, filter, *follow, *asJSON, stdout, stderr)
	}
	return approveInteractive(c, filter, stdout.(*os.File), stderr)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func answerOne(c apiv1.ApprovalsClient, id string, dec apiv1.Decision, asJSON bool, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Answer(ctx, &apiv1.AnswerApprovalRequest{Id: id, Decision: dec})
	if err != nil {
		fmt.Fprintln(stderr, "agentctl approve:", status.Convert(err).Message())
		switch status.Code(err) {
		case codes.NotFound:
			return exitNoRequest
		case codes.FailedPrecondition:
			return exitResolved
		case codes.InvalidArgument:
			return exitUsage
		}
		return 1
	}
	if asJSON {
		printJSON(stdout, resp.Approval)
		return 0
	}
	fmt.Fprintln(stdout, approvalLine(resp.Approval, time.Now()))
	return 0
}

func watchApprovals(c apiv1.ApprovalsClient, filter []string, follow, asJSON bool, stdout, stderr io.Writer) int {
	st, err := c.Watch(context.Background(), &apiv1.WatchApprovalsRequest{SandboxIds: filter, Follow: follow})
	if err != nil {
		fmt.Fprintln(stderr, "agentctl approve:", err)
		return 1
	}
	for {
		a, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil {
			fmt.Fprintln(stderr, "agentctl approve:", status.Convert(err).Message())
			return 1
		}
		if asJSON {
			printJSON(stdout, a)
			continue
		}
		fmt.Fprintln(stdout, approvalLine(a, time.Now()))
	}
}

// safe drops what could rewrite a terminal from text agentd relays.
func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}

// destination is host:port, with brackets for an IPv6 address.
func destination(a *apiv1.Approval) string {
	if strings.Contains(a.Host, ":") {
		return fmt.Sprintf("[%s]:%d", safe(a.Host), a.Port)
	}
	return fmt.Sprintf("%s:%d", safe(a.Host), a.Port)
}

func decisionName(d apiv1.Decision) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(d.String(), "DECISION_")), "_", " ")
}

func stateName(s apiv1.ApprovalState) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "APPROVAL_STATE_")), "_", " ")
}

func processText(p *apiv1.Process) string {
	if p == nil || p.Pid == 0 {
		return "process unknown"
	}
	s := fmt.Sprintf("%s[%d]", safe(p.Comm), p.Pid)
	if p.Exe != "" {
		s += " " + safe(p.Exe)
	}
	return s
}

func sandboxText(a *apiv1.Approval) string {
	s := safe(a.SandboxId)
	if a.SandboxName != "" {
		s += " (" + safe(a.SandboxName) + ")"
	}
	return s
}

func timeLeft(a *apiv1.Approval, now time.Time) string {
	left := a.Deadline.AsTime().Sub(now).Round(time.Second)
	if left < 0 {
		left = 0
	}
	return left.String() + " left"
}

// approvalLine is one request, or its outcome, on one line.
func approvalLine(a *apiv1.Approval, now time.Time) string {
	switch a.State {
	case apiv1.ApprovalState_APPROVAL_STATE_PENDING:
		return fmt.Sprintf("%s  pending  %s  %s  sandbox %s  policy %s  %s  %s",
			a.Id, destination(a), safe(a.Op), sandboxText(a), safe(a.PolicyName), processText(a.Process), timeLeft(a, now))
	case apiv1.ApprovalState_APPROVAL_STATE_ANSWERED:
		line := fmt.Sprintf("%s  %s  %s  sandbox %s  by %s", a.Id, decisionName(a.Decision), destination(a), sandboxText(a), safe(a.AnsweredBy))
		if a.Overlay != "" {
			line += "  written to " + safe(a.Overlay)
		}
		return line
	}
	return fmt.Sprintf("%s  %s  %s  sandbox %s", a.Id, stateName(a.State), destination(a), sandboxText(a))
}

// ---- interactive ----

// approveUI is the interactive view: the pending requests in the order
// they came, one selected, and a status line.
type approveUI struct {
	pending []*apiv1.Approval
	sel     int
	status  string
	confirm *apiv1.Approval // waiting for y/n before allowing permanently
	color   bool
}

// update applies a request or a resolution from the stream.
func (u *approveUI) update(a *apiv1.Approval) {
	i := -1
	for j, p := range u.pending {
		if p.Id == a.Id {
			i = j
		}
	}
	if a.State == apiv1.ApprovalState_APPROVAL_STATE_PENDING {
		if i < 0 {
			u.pending = append(u.pending, a)
			sort.SliceStable(u.pending, func(x, y int) bool {
				return u.pending[x].Created.AsTime().Before(u.pending[y].Created.AsTime())
			})
		}
		return
	}
	if i >= 0 {
		u.pending = append(u.pending[:i], u.pending[i+1:]...)
		if u.sel >= len(u.pending) {
			u.sel = max(0, len(u.pending)-1)
		}
	}
	if u.confirm != nil && u.confirm.Id == a.Id {
		u.confirm = nil
	}
	u.status = approvalLine(a, time.Now())
}

// keyAction is what a key press asks for.
type keyAction int

const (
	keyNone keyAction = iota
	keyQuit
	keyUp
	keyDown
	keyAnswer
	keyYes
	keyNo
)

// parseKey reads one key press (bytes read at once from a raw terminal).
func parseKey(b []byte) (keyAction, apiv1.Decision) {
	switch string(b) {
	case "\x1b[A", "k":
		return keyUp, 0
	case "\x1b[B", "j":
		return keyDown, 0
	case "q", "\x03", "\x04":
		return keyQuit, 0
	case "d":
		return keyAnswer, apiv1.Decision_DECISION_DENY
	case "o":
		return keyAnswer, apiv1.Decision_DECISION_ALLOW_ONCE
	case "s":
		return keyAnswer, apiv1.Decision_DECISION_ALLOW_SANDBOX
	case "p":
		return keyAnswer, apiv1.Decision_DECISION_ALLOW_PERMANENT
	case "y", "Y":
		return keyYes, 0
	case "n", "N", "\x1b":
		return keyNo, 0
	}
	return keyNone, 0
}

func (u *approveUI) paint(code, s string) string {
	if !u.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// render draws the view; lines end in \r\n for a raw terminal.
func (u *approveUI) render(now time.Time) string {
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	n := len(u.pending)
	switch n {
	case 0:
		b.WriteString(u.paint("1", "agentctl approve: no request waiting") + "  (q quit)\r\n\r\n")
	default:
		fmt.Fprintf(&b, "%s  (up/down select, d deny, o once, s sandbox, p permanent, q quit)\r\n\r\n",
			u.paint("1", fmt.Sprintf("agentctl approve: %d request%s waiting", n, map[bool]string{true: "", false: "s"}[n == 1])))
	}
	for i, a := range u.pending {
		mark := "  "
		dest := destination(a)
		if i == u.sel {
			mark = u.paint("1", "> ")
			dest = u.paint("1;7", dest)
		}
		left := timeLeft(a, now)
		if a.Deadline.AsTime().Sub(now) < 10*time.Second {
			left = u.paint("33", left)
		}
		fmt.Fprintf(&b, "%s%s  %s  %s  %s\r\n", mark, dest, safe(a.Op), left, a.Id)
		fmt.Fprintf(&b, "    sandbox %s  policy %s  uid %d  %s\r\n", sandboxText(a), safe(a.PolicyName), a.SandboxOwnerUid, processText(a.Process))
	}
	if u.confirm != nil {
		fmt.Fprintf(&b, "\r\n%s\r\n", u.paint("33", fmt.Sprintf("Allow %s permanently for policy %s (written to its overlay)? y/n",
			destination(u.confirm), safe(u.confirm.PolicyName))))
	} else if u.status != "" {
		fmt.Fprintf(&b, "\r\n%s\r\n", u.status)
	}
	return b.String()
}

// selected is the selected request, or nil.
func (u *approveUI) selected() *apiv1.Approval {
	if u.sel < 0 || u.sel >= len(u.pending) {
		return nil
	}
	return u.pending[u.sel]
}

func approveInteractive(c apiv1.ApprovalsClient, filter []string, out *os.File, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := c.Watch(ctx, &apiv1.WatchApprovalsRequest{SandboxIds: filter, Follow: true})
	if err != nil {
		fmt.Fprintln(stderr, "agentctl approve:", err)
		return 1
	}
	old, err := term.MakeRaw(int(os.Stdin.Fd()))
	if err != nil {
		fmt.Fprintln(stderr, "agentctl approve:", err)
		return 1
	}
	restore := func() {
		term.Restore(int(os.Stdin.Fd()), old)
		out.WriteString("\x1b[H\x1b[2J")
	}
	defer restore()
	updates, failed := make(chan *apiv1.Approval), make(chan error, 1)
	go func() {
		for {
			a, err := st.Recv()
			if err != nil {
				failed <- err
				return
			}
			select {
			case updates <- a:
			case <-ctx.Done():
				return
			}
		}
	}()
	keys := make(chan []byte)
	go func() {
		buf := make([]byte, 16)
		for {
			n, err := os.Stdin.Read(buf)
			if err != nil {
				close(keys)
				return
			}
			select {
			case keys <- append([]byte(nil), buf[:n]...):
			case <-ctx.Done():
				return
			}
		}
	}()
	u := &approveUI{color: os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	answer := func(a *apiv1.Approval, dec apiv1.Decision) {
		actx, acancel := context.WithTimeout(ctx, 10*time.Second)
		defer acancel()
		resp, err := c.Answer(actx, &apiv1.AnswerApprovalRequest{Id: a.Id, Decision: dec})
		if err != nil {
			u.status = u.paint("31", "agentctl approve: "+safe(status.Convert(err).Message()))
			return
		}
		u.update(resp.Approval)
	}
	for {
		out.WriteString(u.render(time.Now()))
		select {
		case a := <-updates:
			u.update(a)
		case err := <-failed:
			restore()
			if status.Code(err) == codes.Canceled {
				return 0
			}
			fmt.Fprintln(stderr, "agentctl approve:", status.Convert(err).Message())
			return 1
		case k, ok := <-keys:
			if !ok {
				return 0
			}
			act, dec := parseKey(k)
			if u.confirm != nil {
				a := u.confirm
				u.confirm = nil
				if act == keyYes {
					answer(a, apiv1.Decision_DECISION_ALLOW_PERMANENT)
				} else {
					u.status = "not allowed permanently; still waiting"
				}
				continue
			}
			switch act {
			case keyQuit:
				return 0
			case keyUp:
				u.sel = max(0, u.sel-1)
			case keyDown:
				u.sel = min(max(0, len(u.pending)-1), u.sel+1)
			case keyAnswer:
				a := u.selected()
				switch {
				case a == nil:
				case dec == apiv1.Decision_DECISION_ALLOW_PERMANENT:
					u.confirm = a
				default:
					answer(a, dec)
				}
			}
		case <-tick.C:
		}
	}
}
