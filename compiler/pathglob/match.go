package pathglob

import (
	pathpkg "path"
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
	name = pathpkg.Clean(name) // no allocation when already clean
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
		live := p.step(cur, nxt, elem)
		cur, nxt = nxt, cur
		if !live {
			return cur, true // no state left: nothing further can match
		}
		if stopOnAccept && cur.accepts() {
			return cur, true
		}
	}
	return cur, true
}

// A Cursor is a pattern's matching state after the components of a path,
// so that matching the entries of a directory takes one step each instead
// of a walk from the root: the search for denied entries at launch visits
// every entry of the trees it searches, tens of thousands in a repository.
type Cursor struct {
	p   *Pattern
	s   states
	hit bool // the path or an ancestor of it matched
}

// Cursor returns the pattern's state after path; ok is false for a
// relative path.
func (p *Pattern) Cursor(path string) (c Cursor, ok bool) {
	if !strings.HasPrefix(path, "/") {
		return Cursor{}, false
	}
	anc, _ := p.walk(path, true)
	self, _ := p.walk(path, false)
	return Cursor{p: p, s: self, hit: anc.accepts()}, true
}

// Step returns the state after one more component, name: an entry of the
// directory c stands for, so never "", ".", ".." or holding a '/'.
func (c Cursor) Step(name string) Cursor {
	nxt := make(states, len(c.s))
	c.p.step(c.s, nxt, name)
	return Cursor{p: c.p, s: nxt, hit: c.hit || nxt.accepts()}
}

// Accepts reports whether the pattern matches the cursor's path with name
// appended, as Step(name).MatchSelf() does, without making the new state:
// most entries a search visits are files no rule names.
func (c Cursor) Accepts(name string) bool {
	n := len(c.p.comps)
	for j, on := range c.s[:n] {
		if !on {
			continue
		}
		comp := &c.p.comps[j]
		// From j, the name can complete the pattern only as its last
		// component, or as the "**" (or a component) before a tail of
		// "**" only, which matches zero components.
		var k int
		switch {
		case comp.kind == compDoubleStar:
			k = j
		case comp.match(name):
			k = j + 1
		default:
			continue
		}
		for k < n && c.p.comps[k].kind == compDoubleStar {
			k++
		}
		if k == n {
			return true
		}
	}
	return false
}

// MatchSelf is Pattern.MatchSelf for the cursor's path.
func (c Cursor) MatchSelf() bool { return c.s.accepts() }

// MayMatchUnder is Pattern.MayMatchUnder for the cursor's path.
func (c Cursor) MayMatchUnder() bool { return c.hit || c.s.any() }

// step advances the states cur over one component, elem, into nxt, with
// its closure, and reports whether any state is left.
func (p *Pattern) step(cur, nxt states, elem string) bool {
	clear(nxt)
	live := false
	for j, on := range cur[:len(p.comps)] {
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
	if live {
		p.closure(nxt)
	}
	return live
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
