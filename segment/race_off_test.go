//go:build !race

package segment

// raceDetector: the tests run under the race detector.
const raceDetector = false
