package dns

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

const (
	resolvConfPath = "/etc/resolv.conf"
	// maxResolvConf bounds how much of resolv.conf is read.
	maxResolvConf = 64 << 10
	// maxNameservers is how many nameservers the C library uses (MAXNS).
	maxNameservers = 3
)

func readResolvConf(path string) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxResolvConf))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return parseResolvConf(data), nil
}

// parseResolvConf returns the first maxNameservers "nameserver" addresses
// of a resolv.conf, on port 53. Lines starting with '#' or ';' are
// comments; anything after the address is ignored, as the C library does;
// entries that are not IP addresses are skipped.
func parseResolvConf(data []byte) []netip.AddrPort {
	var servers []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), maxResolvConf)
	for sc.Scan() && len(servers) < maxNameservers {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		servers = append(servers, netip.AddrPortFrom(a.Unmap(), 53))
	}
	return servers
}
