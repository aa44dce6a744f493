package kafka

// ListGroups v0-5: the groups this coordinator serves, filtered by state
// (v4+) and type (v5+, all are "classic").

func init() {
	register(&api{key: 16, minVersion: 0, maxVersion: 5, serve: serveGroup})
}
