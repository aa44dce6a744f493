package kafka

// ListTransactions v0-1: the transactional ids this broker coordinates,
// filtered by state, producer id and (v1) running time. The admin client
// asks every broker.

func init() {
	register(&api{key: 66, minVersion: 0, maxVersion: 1, serve: serveTxn})
}
