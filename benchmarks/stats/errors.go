package stats

import "sync"

// errorSamplesMax is how many distinct error messages a run keeps.
const errorSamplesMax = 10

// errorSamples keeps the first distinct error messages of a run.
type errorSamples struct {
	mu   sync.Mutex
	msgs []string
}

func (e *errorSamples) add(err error) {
	msg := err.Error()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.msgs) >= errorSamplesMax {
		return
	}
	for _, m := range e.msgs {
		if m == msg {
			return
		}
	}
	e.msgs = append(e.msgs, msg)
}

func (e *errorSamples) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.msgs...)
}
