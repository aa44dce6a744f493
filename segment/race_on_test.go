//go:build race

package segment

// raceDetector: the tests run under the race detector, which makes the
// in-memory filesystem's copying 50-75 times slower.
const raceDetector = true
