package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/paddock-sh/paddock/agentd/events"
)

// denials counts the network decisions that refused something and keeps
// the first few distinct ones for the summary at exit.
type denials struct {
	mu    sync.Mutex
	n     int
	first []string
}

const shownDenials = 3

func (d *denials) Emit(e events.Event) {
	if e.Action != events.ActionDeny {
		return
	}
	what := e.Reason
	if e.Net != nil && e.Net.Host != "" {
		what = fmt.Sprintf("%s:%d: %s", e.Net.Host, e.Net.Port, e.Reason)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	if len(d.first) < shownDenials {
		for _, f := range d.first {
			if f == what {
				return
			}
		}
		d.first = append(d.first, what)
	}
}

func (d *denials) report(w io.Writer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == 0 {
		return
	}
	fmt.Fprintf(w, "agentctl: the network layer denied %d connections or requests:\n", d.n)
	for _, f := range d.first {
		fmt.Fprintf(w, "  %s\n", f)
	}
}

// jsonLines writes each event as one line of JSON.
type jsonLines struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONLines(w io.Writer) *jsonLines { return &jsonLines{enc: json.NewEncoder(w)} }

func (j *jsonLines) Emit(e events.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(e)
}

// tee sends each event to every sink.
type tee []events.Sink

func (t tee) Emit(e events.Event) {
	for _, s := range t {
		s.Emit(e)
	}
}
