package sender

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/hookd/hookd/internal/netguard"
)

// errForbiddenAddress is returned when a target resolves to an address webhooks must not reach. It never names
// the address: an attempt's error is shown to MEMBERs, and the resolved address of a name would tell them what
// internal names resolve to. The address goes to the server's log only.
var errForbiddenAddress = errors.New("address not allowed")

// httpClient makes attempts: no proxy from the environment, no redirects, and (unless Dev) no connection to a
// forbidden address, checked on the resolved address right before connecting.
type httpClient struct {
	*http.Client
}

func newHTTPClient(cfg Config) *httpClient {
	dial := cfg.DialContextFunc
	if dial == nil {
		d := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
		if !cfg.Dev {
			d.ControlContext = guardAddress
		}
		dial = d.DialContext
		if lookup := cfg.LookupHostFunc; lookup != nil {
			dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				addrs, err := lookup(ctx, host)
				if err != nil {
					return nil, err
				}
				if len(addrs) == 0 {
					return nil, fmt.Errorf("lookup %s: no addresses", host)
				}
				return d.DialContext(ctx, network, net.JoinHostPort(addrs[0], port))
			}
		}
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           4 * cfg.Workers,
		MaxIdleConnsPerHost:    cfg.Workers,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    cfg.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	if cfg.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &httpClient{&http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// guardAddress is the dialer's Control hook: address is the resolved "ip:port" about to be connected.
func guardAddress(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%s: %w", address, errForbiddenAddress)
	}
	if netguard.IsForbiddenIP(ap.Addr()) {
		return fmt.Errorf("%s: %w", ap.Addr().WithZone(""), errForbiddenAddress)
	}
	return nil
}
