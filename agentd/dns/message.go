package dns

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/paddock-sh/paddock/agentd/events"
)

// query is what the stub keeps of a client's message.
type query struct {
	header      dnsmessage.Header
	question    dnsmessage.Question
	hasQuestion bool // exactly one question was parsed; it is echoed
	edns        bool // the query carried an OPT record
	udpSize     int  // its advertised UDP payload size
}

// reply is what the stub answers, before packing.
type reply struct {
	rcode   dnsmessage.RCode
	targets []dnsmessage.Name // the CNAME chain from the question name
	addrs   []netip.Addr      // A or AAAA records of the chain's last name
	ttl     uint32
}

// parseQuery reads a client's message. It returns a non-nil outcome when
// the message is answered without looking at its question: dropped,
// FORMERR or NOTIMP.
func parseQuery(msg []byte) (query, *outcome) {
	var q query
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return q, &outcome{drop: true, action: events.ActionDeny, reason: fmt.Sprintf("%d bytes are not a DNS message; dropped", len(msg))}
	}
	q.header = h
	if h.Response {
		return q, &outcome{drop: true, action: events.ActionDeny, reason: "a DNS response (QR=1) sent to the stub; dropped"}
	}
	if h.OpCode != 0 {
		return q, &outcome{reply: reply{rcode: dnsmessage.RCodeNotImplemented}, action: events.ActionDeny,
			reason: fmt.Sprintf("opcode %d is not served; answered NOTIMP", h.OpCode)}
	}
	formErr := func(why string) (query, *outcome) {
		q.hasQuestion = false
		return q, &outcome{reply: reply{rcode: dnsmessage.RCodeFormatError}, action: events.ActionDeny, reason: why + "; answered FORMERR"}
	}
	q.question, err = p.Question()
	if errors.Is(err, dnsmessage.ErrSectionDone) {
		return formErr("the query has no question")
	}
	if err != nil {
		return formErr("the question does not parse")
	}
	if _, err := p.Question(); !errors.Is(err, dnsmessage.ErrSectionDone) {
		return formErr("the query has more than one question")
	}
	q.hasQuestion = true
	if err := p.SkipAllAnswers(); err != nil {
		return formErr("the answer section does not parse")
	}
	if err := p.SkipAllAuthorities(); err != nil {
		return formErr("the authority section does not parse")
	}
	for {
		rh, err := p.AdditionalHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return formErr("the additional section does not parse")
		}
		if rh.Type == dnsmessage.TypeOPT {
			if q.edns {
				return formErr("the query has more than one OPT record")
			}
			q.edns, q.udpSize = true, int(rh.Class)
		}
		if err := p.SkipAdditional(); err != nil {
			return formErr("the additional section does not parse")
		}
	}
	return q, nil
}

// udpLimit is the largest UDP reply the client accepts.
func (q *query) udpLimit() int {
	if !q.edns {
		return minUDPReply
	}
	return min(max(q.udpSize, minUDPReply), maxUDPReply)
}

// pack builds the reply message. When it exceeds limit it is sent
// truncated instead: TC set and no records, so the client retries over TCP.
func (q *query) pack(r *reply, limit int) []byte {
	msg, err := q.build(r, false)
	if err == nil && len(msg) <= limit {
		return msg
	}
	if msg, err = q.build(r, true); err == nil && len(msg) <= limit {
		return msg
	}
	// Cannot happen for a question that parsed: header, one name of at
	// most 255 bytes and an OPT record fit in 512 bytes. Send the bare
	// header rather than nothing.
	h := q.replyHeader(dnsmessage.RCodeServerFailure, false)
	b := dnsmessage.NewBuilder(nil, h)
	msg, _ = b.Finish()
	return msg
}

func (q *query) replyHeader(rcode dnsmessage.RCode, truncated bool) dnsmessage.Header {
	return dnsmessage.Header{
		ID:                 q.header.ID,
		Response:           true,
		OpCode:             q.header.OpCode,
		Truncated:          truncated,
		RecursionDesired:   q.header.RecursionDesired,
		RecursionAvailable: true,
		RCode:              rcode,
	}
}

func (q *query) build(r *reply, truncated bool) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, minUDPReply), q.replyHeader(r.rcode, truncated))
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if q.hasQuestion {
		if err := b.Question(q.question); err != nil {
			return nil, err
		}
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if q.hasQuestion && !truncated {
		owner := q.question.Name
		hdr := func(typ dnsmessage.Type) dnsmessage.ResourceHeader {
			return dnsmessage.ResourceHeader{Name: owner, Type: typ, Class: dnsmessage.ClassINET, TTL: r.ttl}
		}
		for _, t := range r.targets {
			if err := b.CNAMEResource(hdr(dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: t}); err != nil {
				return nil, err
			}
			owner = t
		}
		for _, a := range r.addrs {
			var err error
			if q.question.Type == dnsmessage.TypeA && a.Is4() {
				err = b.AResource(hdr(dnsmessage.TypeA), dnsmessage.AResource{A: a.As4()})
			} else if q.question.Type == dnsmessage.TypeAAAA {
				err = b.AAAAResource(hdr(dnsmessage.TypeAAAA), dnsmessage.AAAAResource{AAAA: a.As16()})
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if q.edns {
		if err := b.StartAdditionals(); err != nil {
			return nil, err
		}
		var opt dnsmessage.ResourceHeader
		if err := opt.SetEDNS0(maxUDPReply, dnsmessage.RCodeSuccess, false); err != nil {
			return nil, err
		}
		if err := b.OPTResource(opt, dnsmessage.OPTResource{}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
