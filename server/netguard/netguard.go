// Package netguard keeps webhooks away from the server's own network (SSRF): it refuses special-purpose
// addresses when a URL is saved (CheckURL) and again when the sender dials (IsForbiddenIP, after DNS).
package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// forbiddenPrefixes are special-purpose ranges (IANA IPv4/IPv6 special-purpose registries) that are not
// globally reachable, or that embed an IPv4 address which could be one (6to4, Teredo, NAT64).
var forbiddenPrefixes = mustPrefixes(
	// IPv4
	"0.0.0.0/8",       // "this network", unspecified
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // CGNAT shared address space
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local (cloud metadata endpoints)
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation (TEST-NET-1)
	"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation (TEST-NET-2)
	"203.0.113.0/24",  // documentation (TEST-NET-3)
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
	// IPv6
	"::/96",          // unspecified, loopback, IPv4-compatible (deprecated)
	"64:ff9b::/96",   // NAT64 well-known prefix
	"64:ff9b:1::/48", // NAT64 local use
	"100::/64",       // discard-only
	"2001::/32",      // Teredo
	"2001:2::/48",    // benchmarking
	"2001:db8::/32",  // documentation
	"2002::/16",      // 6to4
	"fc00::/7",       // unique local (private)
	"fe80::/10",      // link-local
	"fec0::/10",      // site-local (deprecated)
	"ff00::/8",       // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// IsForbiddenIP reports whether ip is a special-purpose address that webhooks must not reach: loopback,
// private, link-local, CGNAT, multicast, unspecified, documentation, reserved, and the IPv4-mapped or
// translated IPv6 forms of those. An invalid address is forbidden.
func IsForbiddenIP(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// CheckURL checks a webhook target when it is saved: absolute, http(s) with a host, `https://` only and no
// literal special-purpose IP or localhost name unless allowPrivate (the server's --dev mode). Names are
// resolved only at dial time, where IsForbiddenIP is checked again. The error does not name the field.
func CheckURL(raw string, allowPrivate bool) error {
	if strings.TrimSpace(raw) != raw {
		return errors.New("must not start or end with spaces")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("is not a valid URL: %w", err)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowPrivate {
			return errors.New("must use https:// (http:// needs the server's --dev mode)")
		}
	case "":
		return errors.New("must be an absolute URL (https://host/...)")
	default:
		return fmt.Errorf("scheme %q is not allowed: use https://", u.Scheme)
	}
	if u.Opaque != "" {
		return errors.New("must be an absolute URL (https://host/...)")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("must have a host")
	}
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		if err := checkPort(port); err != nil {
			return err
		}
	}
	if allowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if IsForbiddenIP(ip) {
			return fmt.Errorf("host %s is a loopback, private or special-purpose address", host)
		}
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return fmt.Errorf("host %s is local", host)
	}
	if numericHost(name) {
		return fmt.Errorf("host %s: write IPv4 addresses as four decimal numbers (a.b.c.d)", host)
	}
	return nil
}

func checkPort(port string) error {
	if port == "" {
		return errors.New("has an empty port")
	}
	n := 0
	for _, c := range port {
		if c < '0' || c > '9' {
			return fmt.Errorf("port %q is not a number", port)
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return fmt.Errorf("port %s is out of range", port)
		}
	}
	if n == 0 {
		return errors.New("port 0 is not allowed")
	}
	return nil
}

// numericHost reports whether a name that is not a dotted-quad IPv4 address still looks like a number in its
// last label ("2130706433", "0x7f.1", "127.1"): resolvers read such names as IPv4 addresses, and no DNS name
// ends in a numeric label, so they are refused rather than guessed at.
func numericHost(name string) bool {
	last := name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		last = name[i+1:]
	}
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		last = last[2:]
		for _, c := range last {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
