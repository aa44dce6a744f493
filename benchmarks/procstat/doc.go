// Package procstat measures a process's CPU time and memory from
// /proc/PID/stat and /proc/PID/status (Linux): CPU seconds over a window
// and peak resident set size, sampled while a benchmark runs and read from
// the kernel's own high-water mark (VmHWM).
package procstat
