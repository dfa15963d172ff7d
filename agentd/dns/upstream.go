package dns

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// result is a resolution: the CNAME chain from the question name, the
// addresses of its last name and the smallest TTL involved (at most
// maxTTL). rcode is RCodeSuccess (addresses or none) or RCodeNameError.
type result struct {
	rcode   dnsmessage.RCode
	targets []dnsmessage.Name
	addrs   []netip.Addr
	ttl     uint32
}

// record is one answer record the stub uses: a CNAME or an address.
type record struct {
	owner  string // lower-case, with the trailing dot
	typ    dnsmessage.Type
	ttl    uint32
	target dnsmessage.Name
	addr   netip.Addr
}

// response is an upstream reply that matched its query.
type response struct {
	rcode     dnsmessage.RCode
	truncated bool
	records   []record
}

// maxRecords bounds the answer records read from one upstream reply.
const maxRecords = 128

var (
	errLoop      = errors.New("CNAME loop")
	errLongChain = fmt.Errorf("CNAME chain longer than %d", maxChain)
)

// resolve finds the addresses of type typ for name (canonical, with the
// trailing dot), following CNAMEs: those the upstream included in its
// answer, then, for a chain that stops short of addresses, by asking again
// for its last name.
func (s *Stub) resolve(ctx context.Context, name string, typ dnsmessage.Type) (result, error) {
	key := cacheKey{name: name, typ: typ}
	if res, ok := s.cache.get(key, time.Now()); ok {
		return res, nil
	}
	cur, err := dnsmessage.NewName(name)
	if err != nil {
		return result{}, err
	}
	res := result{ttl: maxTTL}
	seen := map[string]bool{lowerASCII(name): true}
	for {
		resp, err := s.exchange(ctx, cur, typ)
		if err != nil {
			return result{}, err
		}
		advanced := false
		for {
			owner := lowerASCII(cur.String())
			for _, r := range resp.records {
				if r.owner == owner && r.typ == typ && len(res.addrs) < maxAddrs {
					res.addrs = append(res.addrs, r.addr)
					res.ttl = min(res.ttl, r.ttl)
				}
			}
			if len(res.addrs) > 0 {
				res.rcode = dnsmessage.RCodeSuccess
				if res.ttl > 0 {
					s.cache.put(key, res, time.Now())
				}
				return res, nil
			}
			next, ok := cnameOf(resp.records, owner)
			if !ok {
				break
			}
			if len(res.targets) == maxChain {
				return result{}, errLongChain
			}
			k := lowerASCII(next.target.String())
			if seen[k] {
				return result{}, errLoop
			}
			seen[k] = true
			res.targets = append(res.targets, next.target)
			res.ttl = min(res.ttl, next.ttl)
			cur, advanced = next.target, true
		}
		if resp.rcode == dnsmessage.RCodeNameError {
			res.rcode = dnsmessage.RCodeNameError
			return res, nil
		}
		if !advanced {
			res.rcode = dnsmessage.RCodeSuccess // no records of this type
			return res, nil
		}
		// The chain moved to a name this reply holds nothing more for:
		// ask about that name. The chain bound ends this loop.
	}
}

func cnameOf(records []record, owner string) (record, bool) {
	for _, r := range records {
		if r.owner == owner && r.typ == dnsmessage.TypeCNAME {
			return r, true
		}
	}
	return record{}, false
}

// exchange asks the upstream servers in turn about name and typ, until one
// gives an answer (NOERROR or NXDOMAIN) to the question asked.
func (s *Stub) exchange(ctx context.Context, name dnsmessage.Name, typ dnsmessage.Type) (response, error) {
	var last error
	for _, server := range s.upstream {
		resp, err := s.ask(ctx, server, name, typ)
		if err == nil {
			return resp, nil
		}
		last = fmt.Errorf("%s: %w", server, err)
		s.log.Debug("dns: upstream failed", "server", server, "name", name.String(), "err", err)
		if ctx.Err() != nil {
			break
		}
	}
	return response{}, last
}

// ask sends one query to one server: UDP, then TCP when the reply is
// truncated. Each query has a fresh random ID and a fresh socket (so a
// fresh random source port), and the reply must echo the ID and the
// question.
func (s *Stub) ask(ctx context.Context, server netip.AddrPort, name dnsmessage.Name, typ dnsmessage.Type) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	case <-ctx.Done():
		return response{}, fmt.Errorf("waiting for a free upstream slot: %w", ctx.Err())
	}
	id, query, err := newQuery(name, typ)
	if err != nil {
		return response{}, err
	}
	for _, tcp := range []bool{false, true} {
		raw, err := s.roundTrip(ctx, server, query, tcp)
		if err != nil {
			return response{}, err
		}
		resp, err := parseResponse(raw, id, name, typ)
		if err != nil {
			return response{}, err
		}
		if !resp.truncated {
			if resp.rcode != dnsmessage.RCodeSuccess && resp.rcode != dnsmessage.RCodeNameError {
				return response{}, fmt.Errorf("answered %v", resp.rcode)
			}
			return resp, nil
		}
	}
	return response{}, errors.New("reply truncated over TCP")
}

func newQuery(name dnsmessage.Name, typ dnsmessage.Type) (uint16, []byte, error) {
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		return 0, nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: name, Type: typ, Class: dnsmessage.ClassINET}); err != nil {
		return 0, nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return 0, nil, err
	}
	var opt dnsmessage.ResourceHeader
	if err := opt.SetEDNS0(maxUDPReply, dnsmessage.RCodeSuccess, false); err != nil {
		return 0, nil, err
	}
	if err := b.OPTResource(opt, dnsmessage.OPTResource{}); err != nil {
		return 0, nil, err
	}
	msg, err := b.Finish()
	return id, msg, err
}

// parseResponse checks that raw answers the query (ID, QR, opcode, the one
// question) and reads its CNAME and address records of class IN.
func parseResponse(raw []byte, id uint16, name dnsmessage.Name, typ dnsmessage.Type) (response, error) {
	var p dnsmessage.Parser
	h, err := p.Start(raw)
	if err != nil {
		return response{}, err
	}
	if h.ID != id || !h.Response || h.OpCode != 0 {
		return response{}, errors.New("reply does not match the query")
	}
	q, err := p.Question()
	if err != nil {
		return response{}, fmt.Errorf("reply question: %w", err)
	}
	if lowerASCII(q.Name.String()) != lowerASCII(name.String()) || q.Type != typ || q.Class != dnsmessage.ClassINET {
		return response{}, errors.New("reply is for another question")
	}
	if _, err := p.Question(); !errors.Is(err, dnsmessage.ErrSectionDone) {
		return response{}, errors.New("reply has more than one question")
	}
	resp := response{rcode: h.RCode, truncated: h.Truncated}
	if h.Truncated {
		return resp, nil
	}
	for len(resp.records) < maxRecords {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return response{}, fmt.Errorf("reply answers: %w", err)
		}
		r := record{owner: lowerASCII(rh.Name.String()), typ: rh.Type, ttl: rh.TTL}
		switch {
		case rh.Class != dnsmessage.ClassINET:
			err = p.SkipAnswer()
		case rh.Type == dnsmessage.TypeCNAME:
			var c dnsmessage.CNAMEResource
			if c, err = p.CNAMEResource(); err == nil {
				r.target = c.CNAME
				resp.records = append(resp.records, r)
			}
		case rh.Type == dnsmessage.TypeA:
			var a dnsmessage.AResource
			if a, err = p.AResource(); err == nil {
				r.addr = netip.AddrFrom4(a.A)
				resp.records = append(resp.records, r)
			}
		case rh.Type == dnsmessage.TypeAAAA:
			var a dnsmessage.AAAAResource
			if a, err = p.AAAAResource(); err == nil {
				r.addr = netip.AddrFrom16(a.AAAA)
				resp.records = append(resp.records, r)
			}
		default:
			err = p.SkipAnswer()
		}
		if err != nil {
			return response{}, fmt.Errorf("reply answers: %w", err)
		}
	}
	return resp, nil
}

// netRoundTrip sends query to server and returns the first reply carrying
// the query's ID. The UDP socket is connected, so the kernel delivers only
// datagrams from server's address and port.
func netRoundTrip(ctx context.Context, server netip.AddrPort, query []byte, tcp bool) ([]byte, error) {
	network := "udp"
	if tcp {
		network = "tcp"
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, server.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if tcp {
		return tcpRoundTrip(c, query)
	}
	if _, err := c.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		// A reply with another ID is a stray or a forgery: keep waiting
		// for ours until the deadline.
		if n >= 12 && buf[0] == query[0] && buf[1] == query[1] && buf[2]&0x80 != 0 {
			return buf[:n], nil
		}
	}
}

func tcpRoundTrip(c net.Conn, query []byte) ([]byte, error) {
	out := make([]byte, 2+len(query))
	binary.BigEndian.PutUint16(out, uint16(len(query)))
	copy(out[2:], query)
	if _, err := c.Write(out); err != nil {
		return nil, err
	}
	var lb [2]byte
	if _, err := io.ReadFull(c, lb[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(lb[:]))
	if _, err := io.ReadFull(c, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// cache holds positive answers, keyed by canonical name and type, for at
// most their (capped) TTL. It is shared by every sandbox of a stub; what
// each sandbox may see is decided again on every query.
type cache struct {
	mu      sync.Mutex
	max     int
	entries map[cacheKey]cacheEntry
}

type cacheKey struct {
	name string
	typ  dnsmessage.Type
}

type cacheEntry struct {
	res     result
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, entries: make(map[cacheKey]cacheEntry)}
}

func (c *cache) get(k cacheKey, now time.Time) (result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return result{}, false
	}
	left := e.expires.Sub(now)
	if left <= 0 {
		delete(c.entries, k)
		return result{}, false
	}
	res := e.res
	res.ttl = uint32((left + time.Second - 1) / time.Second)
	return res, true
}

func (c *cache) put(k cacheKey, res result, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		for key, e := range c.entries {
			if !e.expires.After(now) {
				delete(c.entries, key)
			}
		}
		// Still full: evict arbitrary entries (map order) until there is
		// room; they are at most maxTTL seconds from expiring anyway.
		for key := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, key)
		}
	}
	c.entries[k] = cacheEntry{res: res, expires: now.Add(time.Duration(res.ttl) * time.Second)}
}
