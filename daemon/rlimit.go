package daemon

import (
	"log/slog"

	"golang.org/x/sys/unix"
)

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit, as Kafka's
// start scripts do: the broker holds a file per open segment and index and
// one per connection. Go's runtime already raised it to one below the hard
// limit when the process started, so the limit the process was given is not
// visible here. The unit file sets the hard limit (LimitNOFILE=).
func raiseFileLimit(log *slog.Logger) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("riffle: reading the open files limit", "err", err)
		return
	}
	from := lim.Cur
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("riffle: raising the open files limit", "soft", from, "hard", lim.Max, "err", err)
			return
		}
	}
	log.Info("riffle: open files limit", "soft_was", from, "soft", lim.Cur, "hard", lim.Max)
}
