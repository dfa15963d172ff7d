// Package redact removes secret values from command lines and other text
// before they leave agentd in an event (DESIGN.md D7: "argv redacted").
//
// It looks for the shapes secrets usually take on a command line: the
// value of a flag named like a secret (--token, --password=..., mysql's
// -pSECRET), NAME=VALUE and "Name: value" where the name says secret,
// Authorization and Bearer credentials, the password of a URL's userinfo,
// and well-known token formats (Anthropic, OpenAI, GitHub, GitLab, Slack,
// AWS access key ids, JWTs). Each value becomes Redacted; everything else
// stays as it was, so the event still says what ran.
//
// It errs towards hiding: a value that only looks secret is hidden too.
// It cannot find a secret that has no recognisable shape and no
// recognisable name (a bare password as a positional argument).
package redact

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces each secret value.
const Redacted = "[REDACTED]"

// Argv returns argv with secret values replaced. argv[0] names the program,
// which decides what some short flags mean (-p is mysql's password but
// mkdir's parents). The result has the same length; argv is not modified.
func Argv(argv []string) []string {
	if len(argv) == 0 {
		return argv
	}
	words := make([]word, len(argv))
	for i, a := range argv {
		words[i] = word{text: a, raw: a, start: 0, end: len(a)}
	}
	cuts := wordCuts(words)
	out := make([]string, len(argv))
	for i, a := range argv {
		if c, ok := cuts[i]; ok {
			out[i] = String(a[:c]) + Redacted
			continue
		}
		// An argument may itself be a command line (sh -c '...') or hold
		// a URL, a header, a token.
		out[i] = String(a)
	}
	return out
}

// String returns s with secret values replaced. s may be a shell command
// line, a header, a URL or free text.
func String(s string) string {
	if s == "" {
		return s
	}
	var spans []span
	// Words first: flags and their values, assignments, the program's
	// own short flags.
	words := split(s)
	for i, c := range wordCuts(words) {
		spans = append(spans, span{words[i].start + c, words[i].end})
	}
	s = apply(s, spans)
	for _, r := range textRules {
		s = r(s)
	}
	return s
}

// span is a byte range of a string to replace.
type span struct{ start, end int }

// apply replaces the spans, given in any order; overlapping spans merge.
func apply(s string, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	pos := 0
	for _, sp := range spans {
		if sp.end <= pos || sp.start >= sp.end {
			continue
		}
		start := max(sp.start, pos)
		b.WriteString(s[pos:start])
		b.WriteString(Redacted)
		pos = sp.end
	}
	b.WriteString(s[pos:])
	return b.String()
}

// word is one word of a command line: its text without quotes (for
// matching) and its byte range in the original, quotes included.
type word struct {
	text, raw  string
	start, end int
	// sep: the word ends a command (;, &&, ||, |, a newline): the next
	// word names a program.
	sep bool
}

// split cuts a command line into words the way a shell would, roughly:
// whitespace and command separators end words, quotes group, backslash
// escapes.
func split(s string) []word {
	var out []word
	i := 0
	for i < len(s) {
		for i < len(s) && isSpace(s[i]) {
			if s[i] == '\n' && len(out) > 0 {
				out[len(out)-1].sep = true
			}
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		if isOp(s[i]) {
			for i < len(s) && isOp(s[i]) {
				i++
			}
			out = append(out, word{text: s[start:i], raw: s[start:i], start: start, end: i, sep: true})
			continue
		}
		var text strings.Builder
	scan:
		for i < len(s) && !isSpace(s[i]) {
			switch c := s[i]; c {
			case ';', '&', '|':
				break scan
			case '\'', '"':
				j := strings.IndexByte(s[i+1:], c)
				if j < 0 {
					text.WriteString(s[i+1:])
					i = len(s)
					continue
				}
				text.WriteString(s[i+1 : i+1+j])
				i += j + 2
			case '\\':
				if i+1 < len(s) {
					text.WriteByte(s[i+1])
					i += 2
				} else {
					i++
				}
			default:
				text.WriteByte(c)
				i++
			}
		}
		out = append(out, word{text: text.String(), raw: s[start:i], start: start, end: i})
	}
	return out
}

// isOp: the bytes of the shell's command separators (;, &&, ||, |, &).
func isOp(c byte) bool { return c == ';' || c == '&' || c == '|' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// wordCuts decides, word by word, what to hide: the result maps a word's
// index to the offset, within the word's range, from which it is hidden
// (0: all of it).
func wordCuts(words []word) map[int]int {
	cuts := map[int]int{}
	prog := ""
	newCmd := true
	login := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		t := w.text
		if newCmd {
			// A leading NAME=VALUE belongs to the command's environment.
			if c, ok := assignment(t); ok {
				cuts[i] = quotedCut(w, c)
				continue
			}
			prog, newCmd, login = progName(t), false, false
			if w.sep {
				newCmd = true
			}
			continue
		}
		if w.sep {
			newCmd = true
		}
		if wrapper(prog) && !strings.HasPrefix(t, "-") && known(progName(t)) {
			// sudo -u root mysql -pSECRET: the wrapped program decides.
			prog = progName(t)
			continue
		}
		if t == "login" {
			login = true
		}
		if c, ok := assignment(t); ok {
			cuts[i] = quotedCut(w, c)
			continue
		}
		if strings.HasPrefix(t, "pass:") && len(t) > len("pass:") { // openssl -passin pass:SECRET
			cuts[i] = quotedCut(w, len("pass:"))
			continue
		}
		if len(t) < 2 || t[0] != '-' || t == "--" {
			continue
		}
		name, value, hasValue := strings.Cut(t, "=")
		if secretFlag(name) {
			if hasValue {
				if value != "" {
					cuts[i] = quotedCut(w, len(name)+1)
				}
			} else if i+1 < len(words) {
				cuts[i+1] = 0
				i++
			}
			continue
		}
		if userFlag(prog, name) {
			// curl -u user:password: the user stays.
			v, at := value, len(name)+1
			if !hasValue {
				if len(name) > 2 && name[1] != '-' { // -uuser:password
					v, at = name[2:], 2
				} else if i+1 < len(words) {
					i++
					v, at = words[i].text, 0
				}
			}
			if c := strings.IndexByte(v, ':'); c >= 0 && c+1 < len(v) {
				cuts[i] = quotedCut(words[i], at+c+1)
			}
			continue
		}
		if f, attached := shortSecret(prog, login, t); f {
			if attached {
				cuts[i] = quotedCut(w, 2)
			} else if len(t) == 2 && i+1 < len(words) {
				cuts[i+1] = 0
				i++
			}
		}
	}
	return cuts
}

// quotedCut maps an offset in a word's unquoted text to its raw text:
// they agree when no quote or escape comes before it (--token="a b");
// otherwise all of the word is hidden.
func quotedCut(w word, c int) int {
	if c <= len(w.raw) && w.raw[:c] == w.text[:c] {
		return c
	}
	return 0
}

// wrapper: programs that run the program named after their own flags.
func wrapper(prog string) bool {
	switch prog {
	case "sudo", "doas", "env", "nice", "nohup", "time", "timeout", "exec", "command", "stdbuf", "ionice", "xargs", "setsid", "chrt", "taskset", "unbuffer":
		return true
	}
	return false
}

// known: the programs whose flags wordCuts knows.
func known(prog string) bool {
	return wrapper(prog) || userFlag(prog, "-u") || userFlag(prog, "-a") || slices.Contains(mysqlFamily, prog) ||
		slices.Contains(loginTools, prog) || prog == "sshpass" || prog == "redis-cli"
}

func progName(t string) string {
	return strings.ToLower(filepath.Base(t))
}

var assignRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]*=`)

// assignment reports whether t is NAME=VALUE with a secret's name, and
// where the value starts.
func assignment(t string) (int, bool) {
	m := assignRe.FindStringIndex(t)
	if m == nil || m[1] == len(t) {
		return 0, false
	}
	return m[1], secretName(t[:m[1]-1])
}

// secretName reports whether a variable, key or header name says it holds
// a secret.
func secretName(name string) bool {
	n := strings.ToUpper(name)
	for _, k := range []string{"TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "API_KEY", "API-KEY", "APIKEY", "CREDENTIAL", "PRIVATE_KEY", "PRIVATE-KEY", "COOKIE"} {
		if strings.Contains(n, k) {
			return true
		}
	}
	// SSHPASS, MYSQL_PWD, STRIPE_KEY; not PWD, the working directory.
	for _, k := range []string{"PASS", "_PWD", "_KEY", "-KEY"} {
		if strings.HasSuffix(n, k) && n != "BYPASS" {
			return true
		}
	}
	// AUTH, but not AUTHOR (GIT_AUTHOR_NAME) unless AUTHORIZATION.
	for i := 0; ; {
		j := strings.Index(n[i:], "AUTH")
		if j < 0 {
			return false
		}
		rest := n[i+j+4:]
		if !strings.HasPrefix(rest, "OR") || strings.HasPrefix(rest, "ORIZ") {
			return true
		}
		i += j + 4
	}
}

// secretFlag reports whether a long or short flag name (dashes included)
// takes a secret value.
func secretFlag(flag string) bool {
	name := strings.ToLower(strings.TrimLeft(flag, "-"))
	name = strings.ReplaceAll(name, "_", "-")
	if name == "" || strings.HasPrefix(name, "no-") {
		return false
	}
	// Flags that name where a secret is, not the secret.
	for _, s := range []string{"-file", "-path", "-stdin", "-env", "-fd", "-type", "-helper", "-command", "-cmd",
		"-url", "-uri", "-endpoint", "-dir", "-id", "-name"} {
		if strings.HasSuffix(name, s) {
			return false
		}
	}
	switch name {
	case "pass", "passphrase", "auth", "key-password":
		return true
	}
	return secretName(name)
}

// userFlag: the flags that take user:password.
func userFlag(prog, flag string) bool {
	switch prog {
	case "curl":
		return flag == "--user" || flag == "--proxy-user" || strings.HasPrefix(flag, "-u") && !strings.HasPrefix(flag, "--")
	case "http", "https", "httpie": // httpie
		return flag == "--auth" || flag == "-a"
	}
	return false
}

var mysqlFamily = []string{"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck", "mysqlpump",
	"mariadb", "mariadb-dump", "mariadb-admin", "mariadb-import", "mariadb-show", "mariadb-check"}

// loginTools take a password as "login -p".
var loginTools = []string{"docker", "podman", "nerdctl", "helm", "oras", "skopeo", "buildah", "crane", "regctl"}

// shortSecret reports whether the short flag t is the program's password
// flag, and whether the password is attached to it (-pSECRET).
func shortSecret(prog string, login bool, t string) (secret, attached bool) {
	if len(t) < 2 || t[0] != '-' || t[1] == '-' {
		return false, false
	}
	f := t[1]
	switch {
	case slices.Contains(mysqlFamily, prog):
		// -p alone prompts; -p VALUE would be a database name.
		return f == 'p' && len(t) > 2, true
	case prog == "sshpass":
		return f == 'p', len(t) > 2
	case prog == "redis-cli":
		return f == 'a', len(t) > 2
	case login && slices.Contains(loginTools, prog):
		return f == 'p', len(t) > 2
	}
	return false, false
}

// textRules find secrets inside any text, each independently of words.
var textRules = []func(string) string{
	urlPasswords,
	groupRule(regexp.MustCompile(`(?i)(?:^|[^A-Za-z0-9])(`+
		`sk-ant-[A-Za-z0-9_\-]{8,}`+
		`|sk-[A-Za-z0-9_\-]{20,}`+
		`|gh[pousr]_[A-Za-z0-9]{20,}`+
		`|github_pat_[A-Za-z0-9_]{20,}`+
		`|xox[abposre]-[A-Za-z0-9\-]{10,}`+
		`|glpat-[A-Za-z0-9_\-]{20,}`+
		`|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}`+
		`|eyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}(?:\.[A-Za-z0-9_\-]*)?`+
		`)`), 1),
	// AWS access key ids are upper case: no (?i).
	groupRule(regexp.MustCompile(`(?:^|[^A-Za-z0-9])((?:AKIA|ASIA)[0-9A-Z]{16})`), 1),
	// Authorization and cookies: the rest of the header.
	groupRule(regexp.MustCompile(`(?i)(?:proxy-)?(?:authorization|cookie)["']?[ \t]*[:=][ \t]*([^\r\n"']+)`), 1),
	groupRule(regexp.MustCompile(`(?i)\bbearer[ \t]+([^\s"']+)`), 1),
	// NAME=VALUE and "name": value, where the name says secret.
	nameRule(regexp.MustCompile(`([A-Za-z0-9_.\-]+)["']?[ \t]*=[ \t]*("[^"]*"?|'[^']*'?|[^\s"';&|=][^\s"';&|]*)`)),
	nameRule(regexp.MustCompile(`(?:^|[\s"'{,(])([A-Za-z0-9_.\-]+)["']?[ \t]*:[ \t]*("[^"]*"?|'[^']*'?|[^\s"',;}]+)`)),
}

// groupRule hides submatch g of every match of re.
func groupRule(re *regexp.Regexp, g int) func(string) string {
	return func(s string) string {
		var spans []span
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			if m[2*g] >= 0 && !strings.HasPrefix(s[m[2*g]:], Redacted) {
				spans = append(spans, span{m[2*g], m[2*g+1]})
			}
		}
		return apply(s, spans)
	}
}

// nameRule hides the value (submatch 2) of every match of re whose name
// (submatch 1) says secret.
func nameRule(re *regexp.Regexp) func(string) string {
	return func(s string) string {
		var spans []span
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			v := s[m[4]:m[5]]
			if secretName(s[m[2]:m[3]]) && v != Redacted && v != `"`+Redacted+`"` && v != "'"+Redacted+"'" {
				spans = append(spans, span{m[4], m[5]})
			}
		}
		return apply(s, spans)
	}
}

var urlRe = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#"'<>]*`)

// urlPasswords hides the password of scheme://user:password@host. The
// host starts after the last @ of the authority, as URL parsers read it.
func urlPasswords(s string) string {
	var spans []span
	for _, m := range urlRe.FindAllStringIndex(s, -1) {
		auth := s[m[0]:m[1]]
		auth = auth[strings.Index(auth, "://")+3:]
		base := m[1] - len(auth)
		at := strings.LastIndexByte(auth, '@')
		if at < 0 {
			continue
		}
		if c := strings.IndexByte(auth[:at], ':'); c >= 0 && c+1 < at && auth[c+1:at] != Redacted {
			spans = append(spans, span{base + c + 1, base + at})
		}
	}
	return apply(s, spans)
}
