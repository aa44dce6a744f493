package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// serveTxn hands a transaction API request to the transaction coordinator,
// which answers it once its records are stored. PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH for the versions from before KIP-588, as Kafka
// answers them.
func serveTxn(b *Broker, r *request) (kmsg.Response, error) {
	if b.cfg.Txns == nil {
		return nil, fmt.Errorf("%w: %s: this broker has no transaction coordinator", errMalformed, kmsg.NameForKey(r.header.APIKey))
	}
	resp, err := b.cfg.Txns.Handle(r.ctx, r.body)
	if err != nil {
		return nil, err
	}
	v := r.body.GetVersion()
	switch resp := resp.(type) {
	case *kmsg.InitProducerIDResponse:
		resp.ErrorCode = fencedCode(resp.ErrorCode, v < 4)
	case *kmsg.AddPartitionsToTxnResponse:
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				p := &resp.Topics[i].Partitions[j]
				p.ErrorCode = fencedCode(p.ErrorCode, v < 2)
			}
		}
	case *kmsg.AddOffsetsToTxnResponse:
		resp.ErrorCode = fencedCode(resp.ErrorCode, v < 2)
	case *kmsg.EndTxnResponse:
		resp.ErrorCode = fencedCode(resp.ErrorCode, v < 2)
	}
	return resp, nil
}

func fencedCode(code int16, old bool) int16 {
	if old && code == kerr.ProducerFenced.Code {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}
