//go:build race

package throttle

// raceEnabled scales down the long single-goroutine tests, which the race
// detector slows tenfold without finding anything there.
const raceEnabled = true
