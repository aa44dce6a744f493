package kafka

// DeleteGroups v0-2: delete Empty groups and their offsets; a group with
// members is NON_EMPTY_GROUP.

func init() {
	register(&api{key: 42, minVersion: 0, maxVersion: 2, serve: serveGroup})
}
