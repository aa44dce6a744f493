package kafka

import (
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// serveGroup hands a group API request to the group coordinator, which
// answers it, possibly after a wait (JoinGroup, SyncGroup). The client id
// and address are what DescribeGroups reports for a member.
func serveGroup(b *Broker, r *request) (kmsg.Response, error) {
	if b.cfg.Groups == nil {
		return nil, fmt.Errorf("%w: %s: this broker has no group coordinator", errMalformed, kmsg.NameForKey(r.header.APIKey))
	}
	host := ""
	if r.conn != nil && r.conn.RemoteAddr != nil {
		host = "/" + hostOf(r.conn.RemoteAddr.String())
	}
	return b.cfg.Groups.Handle(r.ctx, r.header.ClientID, host, r.body)
}

// hostOf is the host part of a host:port address.
func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
