package pathglob

import (
	"path"
	"strings"
)

// Matching simulates the pattern as a small automaton over components: state
// j means "components 0..j-1 of the pattern have matched". A "**" at j can
// stay at j while consuming a component or move to j+1 without consuming one.
// All live states advance together, so no input can make matching backtrack
// across components, and a hostile pattern costs at most
// len(pattern components) × len(path components) component tests.

// Match reports whether the pattern matches path or any ancestor of path.
// This is the deny decision: a denied directory denies its subtree. A
// relative path never matches.
func (p *Pattern) Match(path string) bool {
	st, ok := p.walk(path, true)
	return ok && st.accepts()
}

// MatchSelf reports whether the pattern matches path itself, not through an
// ancestor. A relative path never matches.
func (p *Pattern) MatchSelf(path string) bool {
	st, ok := p.walk(path, false)
	return ok && st.accepts()
}

// MayMatchUnder reports whether Match may be true for some path strictly
// below dir. It is for the Landlock complement expansion, which grants a
// directory whole only when no deny rule can reach inside it, so the answer
// errs one way only: false guarantees that no path below dir matches; true
// means one may (a false positive only costs precision, since the caller then
// splits dir into its entries).
//
// It is true when dir itself or an ancestor matches (everything below is then
// denied), and when the pattern, having matched dir's components so far, can
// still be completed by one or more further components. Every remaining
// component is assumed to match some name, which holds for all but contrived
// classes. A relative dir gives true, as nothing can be ruled out.
func (p *Pattern) MayMatchUnder(dir string) bool {
	st, ok := p.walk(dir, true)
	if !ok {
		return true
	}
	// Any live state either accepts (dir is matched) or has components left,
	// each of which a further component of some path below dir can satisfy.
	return st.any()
}

// states is the set of live pattern positions, 0..len(comps).
type states []bool

func (s states) accepts() bool { return s[len(s)-1] }

func (s states) any() bool {
	for _, v := range s {
		if v {
			return true
		}
	}
	return false
}

// walk runs the automaton over the components of path and returns the final
// states. With stopOnAccept, it returns as soon as a prefix of path (an
// ancestor or path itself) is accepted, leaving the accepting state set.
func (p *Pattern) walk(name string, stopOnAccept bool) (states, bool) {
	if !strings.HasPrefix(name, "/") {
		return nil, false
	}
	name = path.Clean(name) // no allocation when already clean
	n := len(p.comps)
	cur := make(states, n+1)
	nxt := make(states, n+1)
	cur[0] = true
	p.closure(cur)
	if stopOnAccept && cur.accepts() {
		return cur, true
	}
	rest := name[1:]
	for rest != "" {
		elem := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			elem, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		clear(nxt)
		live := false
		for j, on := range cur[:n] {
			if !on {
				continue
			}
			c := &p.comps[j]
			if c.kind == compDoubleStar {
				nxt[j] = true
				live = true
			} else if c.match(elem) {
				nxt[j+1] = true
				live = true
			}
		}
		cur, nxt = nxt, cur
		if !live {
			return cur, true // no state left: nothing further can match
		}
		p.closure(cur)
		if stopOnAccept && cur.accepts() {
			return cur, true
		}
	}
	return cur, true
}

// closure lets every live "**" also skip ahead without consuming a component.
func (p *Pattern) closure(s states) {
	for j, c := range p.comps {
		if s[j] && c.kind == compDoubleStar {
			s[j+1] = true
		}
	}
}

func (c *comp) match(name string) bool {
	if c.kind == compLiteral {
		return c.lit == name
	}
	return matchElems(c.elems, name)
}

// matchElems matches one component's elements against name. Every element
// but '*' has a fixed width, so when a later part fails only the most recent
// '*' needs to take one more byte: earlier stars can never do better. That
// keeps the cost at len(elems) × len(name) without recursion.
func matchElems(elems []elem, name string) bool {
	ei, ni := 0, 0
	starE, starN := -1, 0 // element after the last '*', and where its run ends
	for ei < len(elems) || ni < len(name) {
		if ei < len(elems) {
			e := &elems[ei]
			switch e.kind {
			case elemStar:
				ei++
				starE, starN = ei, ni
				continue
			case elemLit:
				if strings.HasPrefix(name[ni:], e.lit) {
					ei++
					ni += len(e.lit)
					continue
				}
			case elemAny:
				if ni < len(name) {
					ei++
					ni++
					continue
				}
			case elemClass:
				if ni < len(name) && e.class.has(name[ni]) {
					ei++
					ni++
					continue
				}
			}
		}
		if starE < 0 || starN >= len(name) {
			return false
		}
		starN++
		ei, ni = starE, starN
	}
	return true
}
