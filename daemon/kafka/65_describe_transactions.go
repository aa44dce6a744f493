package kafka

// DescribeTransactions v0: the state of transactional ids this broker
// coordinates (others are NOT_COORDINATOR: the admin client asks each
// coordinator).

func init() {
	register(&api{key: 65, minVersion: 0, maxVersion: 0, serve: serveTxn})
}
