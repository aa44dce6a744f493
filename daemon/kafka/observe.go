package kafka

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/replica"
)

// Observer receives the Kafka layer's measurements; the daemon turns them
// into metrics. Its methods are called on request paths, concurrently: they
// must be quick.
type Observer interface {
	// Request reports one served request: queued is how long it waited
	// before ServeFrame (netio.Conn.Queued), handled how long ServeFrame
	// took (a Fetch's long poll included, sending the response not).
	Request(apiKey int16, queued, handled time.Duration)
	// ErrorCode reports one nonzero error code in a response: a response
	// carries a code per topic, partition, group or resource it answers
	// for, and each is reported. Requests that get no response (acks=0
	// Produce, a closed connection) report none.
	ErrorCode(apiKey, code int16)
	// Produced reports a batch appended to p as leader: its bytes, which
	// the log grew by, and its records. Idempotent retries that were
	// already appended are not reported.
	Produced(p *replica.Partition, batchBytes, records int64)
	// Fetched reports the record bytes of p put in a Fetch response.
	Fetched(p *replica.Partition, recordBytes int64)
	// Throttled reports a client throttled by a quota of typ for d.
	Throttled(typ QuotaType, d time.Duration)
}

// APIKeys lists the served API keys in ascending order.
func APIKeys() []int16 {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// observeRequest reports a request that started at start; it is deferred
// by ServeFrame.
func (b *Broker) observeRequest(apiKey int16, queued time.Duration, start time.Time) {
	b.cfg.Observer.Request(apiKey, queued, time.Since(start))
}

// observeErrorCodes reports the error codes in a kmsg response. kmsg has a
// struct per response and version-independent field names, so the codes
// are found by walking the response along a plan built once per type: every
// handler's codes are counted without each handler having to.
func (b *Broker) observeErrorCodes(apiKey int16, resp kmsg.Response) {
	v := reflect.ValueOf(resp).Elem()
	planFor(v.Type()).walk(v, b.cfg.Observer, apiKey)
}

// observeFetchErrorCodes reports the error codes of a hand-encoded Fetch
// response.
func (b *Broker) observeFetchErrorCodes(apiKey int16, resp *fetchResponse) {
	obs := b.cfg.Observer
	if resp.errorCode != 0 {
		obs.ErrorCode(apiKey, resp.errorCode)
	}
	for _, t := range resp.topics {
		for _, p := range t.partitions {
			if p.errorCode != 0 {
				obs.ErrorCode(apiKey, p.errorCode)
			}
		}
	}
}

// codePlan locates the error codes in one struct type: its int16 fields
// named ...ErrorCode, and the struct or slice-of-struct fields holding some.
type codePlan struct {
	codes  []int // field indexes
	nested []nestedCodes
}

type nestedCodes struct {
	field int
	slice bool // a slice of structs, else a struct
	plan  *codePlan
}

// codePlans caches the plan of each response type.
var codePlans sync.Map // reflect.Type → *codePlan

func planFor(t reflect.Type) *codePlan {
	if p, ok := codePlans.Load(t); ok {
		return p.(*codePlan)
	}
	p := buildPlan(t, map[reflect.Type]bool{})
	if p == nil {
		p = &codePlan{}
	}
	codePlans.Store(t, p)
	return p
}

// buildPlan returns t's plan, or nil when t holds no error code. visiting
// guards against self-referencing types.
func buildPlan(t reflect.Type, visiting map[reflect.Type]bool) *codePlan {
	if visiting[t] {
		return nil
	}
	visiting[t] = true
	defer delete(visiting, t)
	p := &codePlan{}
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case f.Type.Kind() == reflect.Int16 && strings.HasSuffix(f.Name, "ErrorCode"):
			p.codes = append(p.codes, i)
		case f.Type.Kind() == reflect.Struct:
			if sub := buildPlan(f.Type, visiting); sub != nil {
				p.nested = append(p.nested, nestedCodes{field: i, plan: sub})
			}
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			if sub := buildPlan(f.Type.Elem(), visiting); sub != nil {
				p.nested = append(p.nested, nestedCodes{field: i, slice: true, plan: sub})
			}
		}
	}
	if len(p.codes) == 0 && len(p.nested) == 0 {
		return nil
	}
	return p
}

func (p *codePlan) walk(v reflect.Value, obs Observer, apiKey int16) {
	for _, i := range p.codes {
		if code := int16(v.Field(i).Int()); code != 0 {
			obs.ErrorCode(apiKey, code)
		}
	}
	for _, n := range p.nested {
		f := v.Field(n.field)
		if !n.slice {
			n.plan.walk(f, obs, apiKey)
			continue
		}
		for j := range f.Len() {
			n.plan.walk(f.Index(j), obs, apiKey)
		}
	}
}
