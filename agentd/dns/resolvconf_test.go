package dns

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseResolvConf(t *testing.T) {
	conf := `# generated
; also a comment
domain example.com
search example.com corp.example.com
nameserver 192.0.2.1
#nameserver 192.0.2.99
nameserver   2001:db8::53   # trailing words are ignored
nameserver not-an-address
nameserver ::ffff:192.0.2.2
nameserver 192.0.2.3
options ndots:2
`
	want := []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.1:53"),
		netip.MustParseAddrPort("[2001:db8::53]:53"),
		netip.MustParseAddrPort("192.0.2.2:53"),
	}
	if got := parseResolvConf([]byte(conf)); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := parseResolvConf(nil); len(got) != 0 {
		t.Errorf("empty file: %v", got)
	}
	if got := parseResolvConf([]byte("nameserver fe80::1%eth0\n")); len(got) != 1 || got[0].Addr().Zone() != "eth0" {
		t.Errorf("zoned: %v", got)
	}
}

func TestReadResolvConf(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(path, []byte("nameserver 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readResolvConf(path)
	if err != nil || len(got) != 1 {
		t.Errorf("%v %v", got, err)
	}
	if _, err := readResolvConf(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file was read")
	}
}
