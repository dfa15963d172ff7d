package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one variant's running loop.
type proc struct {
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string // its stdout, line by line; closed at its end
	stderr *bytes.Buffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// How long a loop may take to start (a sandbox's set-up) and to answer a
// block.
const (
	startTimeout = time.Minute
	blockTimeout = 30 * time.Second
)

// start runs v's loop and reads what it prints up to "ready".
func (b *bench) start(v *variant) (*proc, error) {
	argv := b.argv(v)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = v.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	p := &proc{name: v.name, cmd: cmd, lines: make(chan string, 64), stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	var err error
	if p.in, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	var head strings.Builder
	for {
		line, err := p.next(b.ctx, startTimeout)
		if err != nil {
			p.kill()
			return nil, fmt.Errorf("%s: %w%s", v.name, err, tailOf(head.String()))
		}
		if line == "ready" {
			break
		}
		head.WriteString(line + "\n")
	}
	r, err := parseOutput(head.String())
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	v.status, v.probes = r.status, r.probes
	return p, nil
}

// next is the loop's next line of output.
func (p *proc) next(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line, ok := <-p.lines:
		if ok {
			return line, nil
		}
		<-p.exited
		return "", fmt.Errorf("exited (%v): %s", p.err, strings.TrimSpace(p.stderr.String()))
	case <-t.C:
		return "", fmt.Errorf("no answer within %s", timeout)
	case <-ctx.Done():
		return "", errors.New("interrupted")
	}
}

// block asks for one block of the k-th call and returns its ns per call;
// an untimed block returns 0.
func (p *proc) block(ctx context.Context, k int, untimed bool) (float64, error) {
	cmd := "b"
	if untimed {
		cmd = "w"
	}
	if _, err := fmt.Fprintf(p.in, "%s %d\n", cmd, k); err != nil {
		return 0, err
	}
	line, err := p.next(ctx, blockTimeout)
	if err != nil {
		return 0, err
	}
	if untimed {
		if line != "ok" {
			return 0, fmt.Errorf("unexpected answer %q", line)
		}
		return 0, nil
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ns" {
		return 0, fmt.Errorf("unexpected answer %q", line)
	}
	v, err := strconv.ParseFloat(f[2], 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad figure in %q", line)
	}
	return v, nil
}

// stop ends the loop by closing its input and waits for it.
func (p *proc) stop() error {
	p.in.Close()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.kill()
		return errors.New("did not exit within 30s of the end of its input; killed")
	}
	for range p.lines {
	}
	if p.err != nil {
		return fmt.Errorf("exit: %v: %s", p.err, strings.TrimSpace(p.stderr.String()))
	}
	return nil
}

// kill ends the loop's process group (a sandbox's whole tree).
func (p *proc) kill() {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// stopAll ends every loop still running (after an error): it closes
// their input, so each exits and a sandbox's launcher cleans up after it
// (agentctl removes its private temporary directory), and kills what is
// still there 10 seconds later.
func (b *bench) stopAll() error {
	var running []*proc
	for _, v := range b.variants {
		if v.proc == nil {
			continue
		}
		select {
		case <-v.proc.exited:
		default:
			v.proc.in.Close()
			running = append(running, v.proc)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range running {
		select {
		case <-p.exited:
		case <-time.After(time.Until(deadline)):
			p.kill()
		}
	}
	return nil
}

func tailOf(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return ""
	}
	return " (its output: " + strings.ReplaceAll(s, "\n", "; ") + ")"
}
