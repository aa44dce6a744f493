package kafka

// DescribeGroups v0-5: state, protocol and members of groups; a group the
// coordinator does not know is Dead without error (v6 would say
// GROUP_ID_NOT_FOUND).

func init() {
	register(&api{key: 15, minVersion: 0, maxVersion: 5, serve: serveGroup})
}
