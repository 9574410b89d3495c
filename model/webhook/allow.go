package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	steward "github.com/stewardhq/steward"
)

// AllowList names the private destinations (CIDRs, or host names) a
// subscription may reach although they are loopback, private or link-local:
// STEWARD_WEBHOOK_ALLOW_PRIVATE.
type AllowList struct {
	prefixes []netip.Prefix
	hosts    map[string]bool
}

// ParseAllowList reads comma-separated CIDRs, addresses and host names.
func ParseAllowList(items []string) (*AllowList, error) {
	a := &AllowList{hosts: map[string]bool{}}
	for _, it := range items {
		it = strings.TrimSpace(it)
		switch {
		case it == "":
		case strings.Contains(it, "/"):
			p, err := netip.ParsePrefix(it)
			if err != nil {
				return nil, fmt.Errorf("webhook allow list: %q is not a CIDR", it)
			}
			a.prefixes = append(a.prefixes, p.Masked())
		default:
			if ip, err := netip.ParseAddr(it); err == nil {
				a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			} else {
				a.hosts[strings.ToLower(it)] = true
			}
		}
	}
	return a, nil
}

func (a *AllowList) allows(host string, ip netip.Addr) bool {
	if a == nil {
		return false
	}
	if a.hosts[strings.ToLower(host)] {
		return true
	}
	for _, p := range a.prefixes {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// private reports addresses a webhook must not reach by default: loopback,
// private (RFC 1918, fc00::/7), link-local (cloud metadata lives there),
// unspecified and multicast.
func private(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(ip) // carrier-grade NAT
}

// CheckURL parses raw as an http(s) URL; the error names field.
func CheckURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || len(raw) > 2000 || u.User != nil {
		return nil, steward.Invalid(field, "invalid_url", "url must be an absolute http(s) URL of at most 2000 characters, without credentials")
	}
	return u, nil
}

// Resolve looks host up and returns its addresses when every one may be
// reached; a host with any refused address is refused, so that a DNS answer
// cannot smuggle a private address in beside a public one.
func (a *AllowList) Resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ips = []netip.Addr{ip}
	} else {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, steward.Invalid("url", "unresolvable", "the host %s does not resolve", steward.Echo(host))
		}
		ips = addrs
	}
	for _, ip := range ips {
		if private(ip) && !a.allows(host, ip) {
			return nil, steward.Invalid("url", "private_address",
				"the host %s resolves to %s, a private, loopback or link-local address: list it in STEWARD_WEBHOOK_ALLOW_PRIVATE to allow it",
				steward.Echo(host), ip)
		}
	}
	return ips, nil
}
