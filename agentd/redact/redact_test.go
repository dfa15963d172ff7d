package redact

import (
	"slices"
	"strings"
	"testing"
)

const R = Redacted

func TestArgv(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{[]string{"claude", "--token", "abc123"}, []string{"claude", "--token", R}},
		{[]string{"tool", "--token=abc123"}, []string{"tool", "--token=" + R}},
		{[]string{"tool", "--password", "hunter2", "--verbose"}, []string{"tool", "--password", R, "--verbose"}},
		{[]string{"tool", "--api-key", "k", "--secret=s", "--client-secret", "c", "--API_KEY=x"}, []string{"tool", "--api-key", R, "--secret=" + R, "--client-secret", R, "--API_KEY=" + R}},
		{[]string{"tool", "-token", "abc"}, []string{"tool", "-token", R}},
		{[]string{"gh", "auth", "login", "--with-token"}, []string{"gh", "auth", "login", "--with-token"}},
		// Flags that name where a secret is stay.
		{[]string{"tool", "--token-file", "/run/t", "--password-stdin", "reg.example"}, []string{"tool", "--token-file", "/run/t", "--password-stdin", "reg.example"}},
		{[]string{"git", "commit", "--author", "A <a@example.com>", "-m", "fix token refresh"}, []string{"git", "commit", "--author", "A <a@example.com>", "-m", "fix token refresh"}},
		// -p belongs to the program.
		{[]string{"mkdir", "-p", "/tmp/x"}, []string{"mkdir", "-p", "/tmp/x"}},
		{[]string{"ssh", "-p", "2222", "host"}, []string{"ssh", "-p", "2222", "host"}},
		{[]string{"/usr/bin/mysql", "-uroot", "-phunter2", "db"}, []string{"/usr/bin/mysql", "-uroot", "-p" + R, "db"}},
		{[]string{"mysql", "-p", "db"}, []string{"mysql", "-p", "db"}},
		{[]string{"sshpass", "-p", "hunter2", "ssh", "host"}, []string{"sshpass", "-p", R, "ssh", "host"}},
		{[]string{"sudo", "-u", "root", "mysql", "-phunter2"}, []string{"sudo", "-u", "root", "mysql", "-p" + R}},
		{[]string{"docker", "login", "-u", "me", "-p", "hunter2", "reg.example"}, []string{"docker", "login", "-u", "me", "-p", R, "reg.example"}},
		{[]string{"docker", "run", "-p", "8080:80", "img"}, []string{"docker", "run", "-p", "8080:80", "img"}},
		{[]string{"redis-cli", "-a", "hunter2", "ping"}, []string{"redis-cli", "-a", R, "ping"}},
		{[]string{"curl", "-u", "me:hunter2", "https://example.com/"}, []string{"curl", "-u", "me:" + R, "https://example.com/"}},
		{[]string{"curl", "-ume:hunter2", "--user=me:pw", "x"}, []string{"curl", "-ume:" + R, "--user=me:" + R, "x"}},
		{[]string{"openssl", "enc", "-pass", "pass:hunter2"}, []string{"openssl", "enc", "-pass", R}},
		{[]string{"openssl", "enc", "-passin", "pass:hunter2"}, []string{"openssl", "enc", "-passin", "pass:" + R}},
		// Assignments.
		{[]string{"env", "GITHUB_TOKEN=ghx", "AWS_SECRET_ACCESS_KEY=a b", "PATH=/bin", "make"}, []string{"env", "GITHUB_TOKEN=" + R, "AWS_SECRET_ACCESS_KEY=" + R, "PATH=/bin", "make"}},
		{[]string{"env", "SSHPASS=a", "MYSQL_PWD=b", "STRIPE_KEY=c", "PWD=/w", "OLDPWD=/v", "sshpass", "-e", "ssh"}, []string{"env", "SSHPASS=" + R, "MYSQL_PWD=" + R, "STRIPE_KEY=" + R, "PWD=/w", "OLDPWD=/v", "sshpass", "-e", "ssh"}},
		{[]string{"env", "GIT_AUTHOR_NAME=Ann", "HTTP_AUTHORIZATION=x", "OAUTH_CLIENT=y", "DB_PASSWD=z"}, []string{"env", "GIT_AUTHOR_NAME=Ann", "HTTP_AUTHORIZATION=" + R, "OAUTH_CLIENT=" + R, "DB_PASSWD=" + R}},
		// Headers.
		{[]string{"curl", "-H", "Authorization: Bearer abc.def", "-H", "X-Api-Key: k1", "-H", "Accept: */*"}, []string{"curl", "-H", "Authorization: " + R, "-H", "X-Api-Key: " + R, "-H", "Accept: */*"}},
		{[]string{"curl", "-H", "Authorization: Basic dXNlcjpwYXNz"}, []string{"curl", "-H", "Authorization: " + R}},
		{[]string{"curl", "-H", "Cookie: session=abc; other=def"}, []string{"curl", "-H", "Cookie: " + R}},
		// URLs.
		{[]string{"git", "clone", "https://me:hunter2@github.com/o/r.git"}, []string{"git", "clone", "https://me:" + R + "@github.com/o/r.git"}},
		{[]string{"git", "clone", "https://x:p@ss@host/r", "https://host/a:b@c"}, []string{"git", "clone", "https://x:" + R + "@host/r", "https://host/a:b@c"}},
		// Token shapes, anywhere.
		{[]string{"tool", "sk-ant-api03-abcdefghijklmnop"}, []string{"tool", R}},
		{[]string{"tool", "key=sk-proj-abcdefghijklmnopqrstuv"}, []string{"tool", "key=" + R}},
		{[]string{"git", "push", "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r"}, []string{"git", "push", "https://" + R + "@github.com/o/r"}},
		{[]string{"x", "AKIAIOSFODNN7EXAMPLE", "xoxb-1234567890-abcdef", "glpat-abcdefghijklmnopqrst", "github_pat_11ABCDEFG0123456789_abcdefghij"}, []string{"x", R, R, R, R}},
		{[]string{"x", "sk_live_abcdefghijklmnop0123"}, []string{"x", R}},
		{[]string{"x", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"}, []string{"x", R}},
		// Nothing secret.
		{[]string{"ls", "-la", "/home/me/task-management"}, []string{"ls", "-la", "/home/me/task-management"}},
		{[]string{"sh", "-c", "exit 7"}, []string{"sh", "-c", "exit 7"}},
		{[]string{"x", "ghp_abcdefghijklmnopqrstuvwxyz_TOKEN=1"}, []string{"x", R + "_TOKEN=" + R}},
		{nil, nil},
	} {
		if got := Argv(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Argv(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mysql -uroot -phunter2 db && echo done", "mysql -uroot -p" + R + " db && echo done"},
		{"curl --token abc https://x; mysql -pq", "curl --token " + R + " https://x; mysql -p" + R},
		{`tool --password "a b c" next`, `tool --password ` + R + ` next`},
		{`tool --password="a b c" next`, `tool --password=` + R + ` next`},
		{"export GITHUB_TOKEN=abc; make", "export GITHUB_TOKEN=" + R + "; make"},
		{`API_KEY="x y" run`, `API_KEY=` + R + ` run`},
		{`{"api_key": "v1", "name": "n", "password":"p"}`, `{"api_key": ` + R + `, "name": "n", "password":` + R + `}`},
		{"token: abc123\nuser: me", "token: " + R + "\nuser: me"},
		{"curl -H 'Authorization: token abc' https://api", "curl -H 'Authorization: " + R + "' https://api"},
		{"use Bearer eyJabc then", "use Bearer " + R + " then"},
		{"see https://u:p@h and ftp://a@b", "see https://u:" + R + "@h and ftp://a@b"},
		{"if token == x", "if token == x"},
		{"-v /secrets:/secrets", "-v /secrets:/secrets"},
		{"git commit -m 'rotate the token'", "git commit -m 'rotate the token'"},
		{"a sk-ant-abcdefgh b", "a " + R + " b"},
		{"", ""},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// tokenShape makes a token of one of the well-known shapes from arbitrary
// bytes.
func tokenShape(kind uint8, body string) string {
	alnum := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upper := "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	fill := func(set string, n int) string {
		var b strings.Builder
		for i := 0; i < len(body) || b.Len() < n; i++ {
			c := byte(i * 7)
			if i < len(body) {
				c = body[i]
			}
			b.WriteByte(set[int(c)%len(set)])
		}
		return b.String()
	}
	switch kind % 11 {
	case 0:
		return "sk-ant-" + fill(alnum+"-_", 8)
	case 1:
		return "sk-" + fill(alnum+"-_", 20)
	case 2:
		return "ghp_" + fill(alnum, 20)
	case 3:
		return "ghs_" + fill(alnum, 36)
	case 4:
		return "github_pat_" + fill(alnum+"_", 22)
	case 5:
		return "xoxb-" + fill(alnum+"-", 10)
	case 6:
		return "AKIA" + fill(upper, 16)[:16]
	case 7:
		return "glpat-" + fill(alnum+"-_", 20)
	case 9:
		return "sk_live_" + fill(alnum, 16)
	case 8:
		return "eyJ" + fill(alnum, 4) + ".eyJ" + fill(alnum+"_-", 6) + "." + fill(alnum, 0)
	default:
		return "ASIA" + fill(upper, 16)[:16]
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("curl -H 'x", "--token", uint8(0), "abc", "tail")
	f.Add("https://u:", "", uint8(8), "eyJ", "@host")
	f.Add("", "KEY=", uint8(6), "", "")
	f.Add("sh -c \"", "-p", uint8(3), "\x00\xff", "\"")
	f.Fuzz(func(t *testing.T, prefix, flag string, kind uint8, body, suffix string) {
		secret := tokenShape(kind, body)
		// Text: the token between spaces, in any surroundings.
		in := prefix + " " + secret + " " + suffix
		if out := String(in); strings.Contains(out, secret) {
			t.Fatalf("String(%q) = %q keeps %q", in, out, secret)
		}
		// Argv: the token alone, after a flag, or inside an argument.
		for _, argv := range [][]string{
			{prefix, flag, secret, suffix},
			{prefix, flag + "=" + secret, suffix},
			{prefix, flag, in},
		} {
			out := Argv(argv)
			if len(out) != len(argv) {
				t.Fatalf("Argv(%q) = %q: length changed", argv, out)
			}
			if slices.ContainsFunc(out, func(s string) bool { return strings.Contains(s, secret) }) {
				t.Fatalf("Argv(%q) = %q keeps %q", argv, out, secret)
			}
		}
		// Any value after a secret flag is hidden, whatever it is.
		if out := Argv([]string{"tool", "--token", body}); out[2] != Redacted {
			t.Fatalf("Argv(--token %q) = %q", body, out)
		}
		String(prefix + flag + body + suffix) // no panic
	})
}
