package netguard

import (
	"net/netip"
	"strings"
	"testing"
)

func TestIsForbiddenIP(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ip        string
		forbidden bool
	}{
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"172.32.0.1", false},
		{"192.168.1.1", true},
		{"169.254.169.254", true},
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		{"100.128.0.1", false},
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		{"192.0.2.1", true},
		{"198.18.0.1", true},
		{"198.51.100.7", true},
		{"203.0.113.9", true},
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.216.34", false},
		{"::", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:8.8.8.8", true}, // IPv4-mapped (::ffff:0:0/96): not globally reachable in the IANA registry
		{"::ffff:0:1", true},
		{"3fff::1", true}, // documentation (RFC 9637)
		{"3fff:fff:ffff::1", true},
		{"5f00::1", true}, // SRv6 SIDs
		{"5f00:ffff::1", true},
		{"64:ff9b:1::1", true}, // NAT64 local use
		{"2001:2::1", true},    // benchmarking
		{"2001:10::1", true},   // ORCHID
		{"192.31.196.1", true}, // AS112-v4
		{"192.52.193.1", true}, // AMT
		{"192.175.48.1", true}, // AS112 direct delegation
		{"2620:4f:8000::1", true},
		{"2001:4860:4860::8888", false},
		{"::127.0.0.1", true},
		{"64:ff9b::a00:1", true},
		{"2002:7f00:1::", true},
		{"2001::1", true},
		{"2001:db8::1", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"ff02::1", true},
		{"2606:4700:4700::1111", false},
		{"2a00:1450:4001:800::200e", false},
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip)
		if got := IsForbiddenIP(ip); got != c.forbidden {
			t.Errorf("IsForbiddenIP(%s) = %v, want %v", c.ip, got, c.forbidden)
		}
	}
	if !IsForbiddenIP(netip.Addr{}) {
		t.Error("the zero Addr must be forbidden")
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url     string
		dev     bool
		wantErr string // "" = allowed
	}{
		{"https://example.com/hook", false, ""},
		{"https://example.com:8443/a/b?c=d", false, ""},
		{"https://8.8.8.8/x", false, ""},
		{"https://[2606:4700:4700::1111]/x", false, ""},
		{"https://example.com/orders/{{.TransactionalId}}", false, ""},
		{"http://example.com/hook", false, "https://"},
		{"http://example.com/hook", true, ""},
		{"ftp://example.com/x", false, "scheme"},
		{"ftp://example.com/x", true, "scheme"},
		{"/relative/path", false, "absolute"},
		{"example.com/hook", false, "absolute"},
		{"mailto:a@example.com", false, "scheme"},
		{"https:opaque", false, "absolute"},
		{"https:///nohost", false, "host"},
		{"https://example.com:0/", false, "port 0"},
		{"https://example.com:99999/", false, "out of range"},
		{"https://example.com:/", false, "empty port"},
		{" https://example.com", false, "spaces"},
		{"https://exa mple.com/", false, "valid URL"},
		{"https://127.0.0.1/x", false, "special-purpose"},
		{"https://127.0.0.1/x", true, ""},
		{"http://127.0.0.1:8080/x", true, ""},
		{"https://10.0.0.5/", false, "special-purpose"},
		{"https://169.254.169.254/latest/meta-data", false, "special-purpose"},
		{"https://100.64.1.1/", false, "special-purpose"},
		{"https://0.0.0.0/", false, "special-purpose"},
		{"https://[::1]/", false, "special-purpose"},
		{"https://[::]/", false, "special-purpose"},
		{"https://[::ffff:127.0.0.1]/", false, "special-purpose"},
		{"https://[fe80::1%25eth0]/", false, "special-purpose"},
		{"https://224.0.0.1/", false, "special-purpose"},
		{"https://localhost/", false, "local"},
		{"https://LOCALHOST./", false, "local"},
		{"https://api.localhost/", false, "local"},
		{"https://localhost:3000/", true, ""},
		{"https://2130706433/", false, "four decimal"},
		{"https://0x7f000001/", false, "four decimal"},
		{"https://127.1/", false, "four decimal"},
		{"https://{{.Host}}/x", false, "valid URL"},
		{"https://user:pass@example.com/x", false, "user info"},
		{"https://a@evil.invalid/?@example.com/x", false, "user info"},
		{"https://[3fff::1]/", false, "special-purpose"},
		{"https://[5f00::1]/", false, "special-purpose"},
		{"https://[::ffff:8.8.8.8]/", false, "special-purpose"},
	}
	for _, c := range cases {
		err := CheckURL(c.url, c.dev)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("CheckURL(%q, %v) = %v, want nil", c.url, c.dev, err)
		case c.wantErr != "" && err == nil:
			t.Errorf("CheckURL(%q, %v) = nil, want error containing %q", c.url, c.dev, c.wantErr)
		case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
			t.Errorf("CheckURL(%q, %v) = %v, want error containing %q", c.url, c.dev, err, c.wantErr)
		}
	}
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url, want string
		ok        bool
	}{
		{"https://API.example.com/x", "https://api.example.com:443", true},
		{"https://api.example.com:443/y?z", "https://api.example.com:443", true},
		{"http://api.example.com/", "http://api.example.com:80", true},
		{"https://api.example.com:8443/{{.Data.id}}", "https://api.example.com:8443", true},
		{"https://{{.Data.u}}@example.com/x", "", false},
		{"https://u@example.com/x", "", false},
		{"/relative", "", false},
	}
	for _, c := range cases {
		got, ok := Origin(c.url)
		if got != c.want || ok != c.ok {
			t.Errorf("Origin(%q) = %q, %v; want %q, %v", c.url, got, ok, c.want, c.ok)
		}
	}
}
