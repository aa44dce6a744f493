package quorum

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A voter that is not the active controller forwards a change to it as
// the Kafka request for that change (as KRaft brokers call their
// controller): CreateTopics, DeleteTopics, CreatePartitions,
// IncrementalAlterConfigs, AllocateProducerIds, AlterPartition,
// ElectLeaders, AlterPartitionReassignments, and the security changes
// (SCRAM credentials, ACLs, client quotas). This file turns changes
// into requests and responses back into errors (the forwarding side), and
// requests into changes and their outcomes into responses (the
// controller's side). The forwarding side sends one change per request.

// Request versions the forwarding side sends.
const (
	createTopicsVersion            = 7
	deleteTopicsVersion            = 6
	createPartitionsVersion        = 3
	incrementalAlterConfigsVersion = 1
	allocateProducerIDsVersion     = 0
	brokerHeartbeatVersion         = 0
	electLeadersVersion            = 2
	alterReassignmentsVersion      = 0
	// alterPartitionVersion: v3 carries topic ids and the broker epochs of
	// the proposed ISR (KIP-841); the controller serves only it.
	alterPartitionVersion = 3
)

// internalTopicTag is the tagged field that marks a topic of a CreateTopics
// request between riffle nodes as internal (CreateTopic.Internal): Kafka's
// request cannot say it, and the daemon's own topics are created on
// whichever node needs them first.
const internalTopicTag = 0x726a

// appliedOffsetTag is the tagged field of a forwarded change's response
// that holds the metadata offset of the image the change left on the
// controller: the forwarding node waits for its own image to reach it, so
// a change method returns once its change is applied there. Offsets agree
// between nodes at equal applied entries (raft's empty entries take one
// too).
const appliedOffsetTag = 0x726b

// controllerErrorCodes maps the controller's errors to the codes they
// travel as between voters, in the order tested; decoding takes the first
// sentinel of a code.
var controllerErrorCodes = []struct {
	err  error
	code *kerr.Error
}{
	{ErrTopicExists, kerr.TopicAlreadyExists},
	{ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{ErrInvalidTopic, kerr.InvalidTopicException},
	{ErrInvalidPartitions, kerr.InvalidPartitions},
	{ErrPolicyViolation, kerr.PolicyViolation},
	{ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{ErrInvalidConfig, kerr.InvalidConfig},
	{ErrUnknownConfig, kerr.InvalidConfig},
	{ErrNotController, kerr.NotController},
	{ErrInconsistentClusterID, kerr.InconsistentClusterID},
	{ErrClosed, kerr.NotController}, // a stopping controller is no longer one
	{context.DeadlineExceeded, kerr.RequestTimedOut},
	{errOutcomeUnknown, kerr.RequestTimedOut},
	{context.Canceled, kerr.RequestTimedOut},
}

// errorCode returns err's code and message for a response (0 and nil for
// nil).
func errorCode(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	msg := err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code, &msg
	}
	for _, m := range controllerErrorCodes {
		if errors.Is(err, m.err) {
			return m.code.Code, &msg
		}
	}
	return kerr.UnknownServerError.Code, &msg
}

// kafkaError returns err (nil stays nil) wrapping also the Kafka error it
// travels as between voters, unless it wraps one already: the same
// refusal then tests the same whether planned here or forwarded.
func kafkaError(err error) error {
	var ke *kerr.Error
	if err == nil || errors.As(err, &ke) {
		return err
	}
	code, _ := errorCode(err)
	return fmt.Errorf("%w (%w)", err, kerr.ErrorForCode(code))
}

// responseError turns a response's code and message back into an error
// that errors.Is the sentinel it was sent for.
func responseError(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	text := ""
	if msg != nil {
		text = *msg
	}
	for _, m := range controllerErrorCodes {
		if m.code.Code == code {
			return fmt.Errorf("controller: %w: %s", m.err, text)
		}
	}
	return fmt.Errorf("controller: %w: %s", kerr.ErrorForCode(code), text)
}

// servedChange is one change of a forwarded request: the proposal to run
// and answer, which writes its outcome into the response.
type servedChange struct {
	p      *proposal
	answer func(res changeResult, err error)
}

// serveRequest turns a forwarded request into its changes, run in order,
// and the response their answers fill. It fails for a request that is not
// a controller change.
func (pl *planner) serveRequest(req kmsg.Request) ([]servedChange, kmsg.Response, error) {
	resp := req.ResponseKind()
	var out []servedChange
	add := func(plan func(im *Image) ([]record, error), validateOnly bool, answer func(res changeResult, err error)) {
		out = append(out, servedChange{p: &proposal{plan: plan, validateOnly: validateOnly}, answer: answer})
	}
	switch req := req.(type) {
	case *kmsg.CreateTopicsRequest:
		r := resp.(*kmsg.CreateTopicsResponse)
		r.Topics = make([]kmsg.CreateTopicsResponseTopic, len(req.Topics))
		for i, rt := range req.Topics {
			st := &r.Topics[i]
			st.Default()
			st.Topic = rt.Topic
			_, internal := tagValue(rt.UnknownTags, internalTopicTag)
			ct := CreateTopic{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor,
				Configs: make(map[string]string, len(rt.Configs)), Internal: internal}
			for _, c := range rt.Configs {
				if c.Value != nil {
					ct.Configs[c.Name] = *c.Value
				}
			}
			add(func(im *Image) ([]record, error) {
				return pl.createTopic(im, ct, rt.NumPartitions, rt.ReplicationFactor)
			}, req.ValidateOnly, func(res changeResult, err error) {
				st.ErrorCode, st.ErrorMessage = errorCode(err)
				if t := createdTopic(res, ct.Name); err == nil && t != nil {
					st.TopicID, st.NumPartitions = t.ID, int32(len(t.Partitions))
					st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
				}
			})
		}
	case *kmsg.DeleteTopicsRequest:
		r := resp.(*kmsg.DeleteTopicsResponse)
		r.Topics = make([]kmsg.DeleteTopicsResponseTopic, len(req.Topics))
		for i, rt := range req.Topics {
			st := &r.Topics[i]
			st.Default()
			st.Topic = rt.Topic
			name := ""
			if rt.Topic != nil {
				name = *rt.Topic
			}
			add(func(im *Image) ([]record, error) { return pl.deleteTopic(im, name) }, false,
				func(_ changeResult, err error) { st.ErrorCode, st.ErrorMessage = errorCode(err) })
		}
	case *kmsg.CreatePartitionsRequest:
		r := resp.(*kmsg.CreatePartitionsResponse)
		r.Topics = make([]kmsg.CreatePartitionsResponseTopic, len(req.Topics))
		for i, rt := range req.Topics {
			st := &r.Topics[i]
			st.Default()
			st.Topic = rt.Topic
			add(func(im *Image) ([]record, error) { return pl.createPartitions(im, rt.Topic, rt.Count) }, req.ValidateOnly,
				func(_ changeResult, err error) { st.ErrorCode, st.ErrorMessage = errorCode(err) })
		}
	case *kmsg.IncrementalAlterConfigsRequest:
		r := resp.(*kmsg.IncrementalAlterConfigsResponse)
		r.Resources = make([]kmsg.IncrementalAlterConfigsResponseResource, len(req.Resources))
		for i, rr := range req.Resources {
			sr := &r.Resources[i]
			sr.Default()
			sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
			set, err := alterConfigsSet(rr)
			add(func(im *Image) ([]record, error) {
				if err != nil {
					return nil, err
				}
				if rr.ResourceType == kmsg.ConfigResourceTypeBroker {
					return alterClusterConfigs(im, set)
				}
				return pl.alterTopicConfigs(im, rr.ResourceName, set)
			}, req.ValidateOnly, func(_ changeResult, err error) { sr.ErrorCode, sr.ErrorMessage = errorCode(err) })
		}
	case *kmsg.AllocateProducerIDsRequest:
		r := resp.(*kmsg.AllocateProducerIDsResponse)
		out = append(out, servedChange{p: &proposal{producerIDs: producerIDBlock}, answer: func(res changeResult, err error) {
			r.ErrorCode, _ = errorCode(err)
			if err == nil {
				r.ProducerIDStart, r.ProducerIDLen = res.firstProducerID, producerIDBlock
			}
		}})
	case *kmsg.BrokerRegistrationRequest:
		r := resp.(*kmsg.BrokerRegistrationResponse)
		b, err := brokerFromRegistration(req)
		add(func(im *Image) ([]record, error) {
			if err != nil {
				return nil, err
			}
			return pl.register(im, req.ClusterID, b)
		}, false, func(_ changeResult, err error) { r.ErrorCode = taggedErrorCode(&r.UnknownTags, err) })
	case *kmsg.BrokerHeartbeatRequest:
		r := resp.(*kmsg.BrokerHeartbeatResponse)
		hb := BrokerHeartbeat{ID: req.BrokerID, Epoch: req.BrokerEpoch, MetadataOffset: req.CurrentMetadataOffset,
			WantFence: req.WantFence, WantShutdown: req.WantShutdown}
		out = append(out, servedChange{p: &proposal{heartbeat: &hb}, answer: func(res changeResult, err error) {
			r.ErrorCode, _ = errorCode(err)
			r.IsCaughtUp, r.IsFenced, r.ShouldShutdown = res.heartbeat.IsCaughtUp, res.heartbeat.IsFenced, res.heartbeat.ShouldShutdown
		}})
	case *kmsg.AlterPartitionRequest:
		if req.Version != alterPartitionVersion {
			return nil, nil, fmt.Errorf("%w: AlterPartition v%d, riffle nodes send v%d", kerr.InvalidRequest, req.Version, alterPartitionVersion)
		}
		r := resp.(*kmsg.AlterPartitionResponse)
		r.Topics = make([]kmsg.AlterPartitionResponseTopic, len(req.Topics))
		for i, rt := range req.Topics {
			st := &r.Topics[i]
			st.Default()
			st.TopidID = rt.TopicID
			st.Partitions = make([]kmsg.AlterPartitionResponseTopicPartition, len(rt.Partitions))
			for j, rp := range rt.Partitions {
				sp := &st.Partitions[j]
				sp.Default()
				sp.Partition = rp.Partition
				ap := alterPartitionOf(req, rt.TopicID, rp)
				var moved bool
				add(func(im *Image) ([]record, error) {
					recs, m, err := alterPartition(im, ap)
					moved = m
					return recs, err
				}, false, func(res changeResult, err error) {
					if err == nil && moved {
						err = newLeaderElected(ap)
					}
					if sp.ErrorCode = taggedErrorCode(&sp.UnknownTags, err); err == nil {
						answerPartition(sp, res.image, ap)
					}
				})
			}
		}
	case *kmsg.ElectLeadersRequest:
		r := resp.(*kmsg.ElectLeadersResponse)
		partitions := electLeadersPartitions(req)
		var results []ElectionResult
		add(func(im *Image) ([]record, error) {
			recs, res, err := electLeaders(im, req.ElectionType, partitions)
			results = res
			return recs, err
		}, false, func(_ changeResult, err error) {
			if r.ErrorCode, _ = errorCode(err); err == nil {
				answerElections(r, results)
			}
		})
	case *kmsg.AlterPartitionAssignmentsRequest:
		r := resp.(*kmsg.AlterPartitionAssignmentsResponse)
		reqs := reassignmentsOf(req)
		var results []ReassignmentResult
		add(func(im *Image) ([]record, error) {
			recs, res := pl.alterPartitionReassignments(im, reqs)
			results = res
			return recs, nil
		}, false, func(_ changeResult, err error) {
			if r.ErrorCode, r.ErrorMessage = errorCode(err); err == nil {
				answerReassignments(r, results)
			}
		})
	case *kmsg.CreateACLsRequest, *kmsg.DeleteACLsRequest:
		out = append(out, serveACLs(req, resp))
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		out = append(out, serveAlterScram(req, resp.(*kmsg.AlterUserSCRAMCredentialsResponse)))
	case *kmsg.AlterClientQuotasRequest:
		out = append(out, serveAlterQuotas(req, resp.(*kmsg.AlterClientQuotasResponse)))
	default:
		return nil, nil, fmt.Errorf("%w: request key %d is not a controller change", kerr.InvalidRequest, req.Key())
	}
	return out, resp, nil
}

// electLeadersPartitions is the partitions an ElectLeaders request names,
// nil for all.
func electLeadersPartitions(req *kmsg.ElectLeadersRequest) []TopicPartition {
	if req.Topics == nil {
		return nil
	}
	partitions := []TopicPartition{}
	for _, rt := range req.Topics {
		for _, p := range rt.Partitions {
			partitions = append(partitions, TopicPartition{Topic: rt.Topic, Partition: p})
		}
	}
	return partitions
}

// reassignmentsOf is the partitions an AlterPartitionReassignments request
// names, in order.
func reassignmentsOf(req *kmsg.AlterPartitionAssignmentsRequest) []Reassignment {
	var reqs []Reassignment
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			reqs = append(reqs, Reassignment{TopicPartition{rt.Topic, rp.Partition}, rp.Replicas})
		}
	}
	return reqs
}

// answerReassignments fills an AlterPartitionReassignments response with
// results, grouped by topic in their order.
func answerReassignments(r *kmsg.AlterPartitionAssignmentsResponse, results []ReassignmentResult) {
	for _, run := range topicRuns(results, func(r ReassignmentResult) string { return r.Topic }) {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = run[0].Topic
		for _, res := range run {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = res.Partition
			rp.ErrorCode, rp.ErrorMessage = errorCode(res.Err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
}

// topicRuns splits items into the runs of consecutive items of one topic.
func topicRuns[T any](items []T, topic func(T) string) [][]T {
	var runs [][]T
	for i, start := 0, 0; i < len(items); i++ {
		if i+1 == len(items) || topic(items[i+1]) != topic(items[start]) {
			runs = append(runs, items[start:i+1])
			start = i + 1
		}
	}
	return runs
}

// answerElections fills an ElectLeaders response with results, grouped by
// topic in their order.
func answerElections(r *kmsg.ElectLeadersResponse, results []ElectionResult) {
	for _, run := range topicRuns(results, func(r ElectionResult) string { return r.Topic }) {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = run[0].Topic
		for _, res := range run {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = res.Partition
			rp.ErrorCode, rp.ErrorMessage = errorCode(res.Err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
}

// responseTags is where a forwarded change's response carries
// appliedOffsetTag; nil for the responses that do not.
func responseTags(resp kmsg.Response) *kmsg.Tags {
	switch r := resp.(type) {
	case *kmsg.DeleteTopicsResponse:
		return &r.UnknownTags
	case *kmsg.CreatePartitionsResponse:
		return &r.UnknownTags
	case *kmsg.IncrementalAlterConfigsResponse:
		return &r.UnknownTags
	case *kmsg.ElectLeadersResponse:
		return &r.UnknownTags
	case *kmsg.AlterUserSCRAMCredentialsResponse:
		return &r.UnknownTags
	case *kmsg.CreateACLsResponse:
		return &r.UnknownTags
	case *kmsg.DeleteACLsResponse:
		return &r.UnknownTags
	case *kmsg.AlterClientQuotasResponse:
		return &r.UnknownTags
	case *kmsg.AlterPartitionAssignmentsResponse:
		return &r.UnknownTags
	}
	return nil
}

// appliedOffset is the offset a response's appliedOffsetTag holds, if any.
func appliedOffset(resp kmsg.Response) (int64, bool) {
	tags := responseTags(resp)
	if tags == nil {
		return 0, false
	}
	val, ok := tagValue(*tags, appliedOffsetTag)
	if !ok || len(val) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(val)), true
}

// alterPartitionOf is one partition of an AlterPartition request.
func alterPartitionOf(req *kmsg.AlterPartitionRequest, topicID [16]byte, rp kmsg.AlterPartitionRequestTopicPartition) AlterPartition {
	ap := AlterPartition{BrokerID: req.BrokerID, BrokerEpoch: req.BrokerEpoch, TopicID: topicID, Partition: rp.Partition,
		LeaderEpoch: rp.LeaderEpoch, PartitionEpoch: rp.PartitionEpoch}
	for _, m := range rp.NewEpochISR {
		ap.NewISR = append(ap.NewISR, ISRMember{ID: m.BrokerID, Epoch: m.BrokerEpoch})
	}
	return ap
}

// answerPartition fills an AlterPartition answer with the partition as
// the change left it in im.
func answerPartition(sp *kmsg.AlterPartitionResponseTopicPartition, im *Image, ap AlterPartition) {
	if im == nil {
		return
	}
	t := im.TopicByID(ap.TopicID)
	if t == nil || ap.Partition < 0 || int(ap.Partition) >= len(t.Partitions) {
		return
	}
	p := t.Partitions[ap.Partition]
	sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch
}

// createdTopic is the topic name in a change's image, if any.
func createdTopic(res changeResult, name string) *Topic {
	if res.image == nil {
		return nil
	}
	return res.image.Topic(name)
}

// alterConfigsSet is a topic resource's, or the cluster-wide broker
// resource's, SET and DELETE operations as AlterTopicConfigs and
// AlterClusterConfigs take them.
func alterConfigsSet(rr kmsg.IncrementalAlterConfigsRequestResource) (map[string]*string, error) {
	switch {
	case rr.ResourceType == kmsg.ConfigResourceTypeTopic:
	case rr.ResourceType == kmsg.ConfigResourceTypeBroker && rr.ResourceName == "":
	default:
		return nil, fmt.Errorf("%w: resource type %v name %q is neither a topic nor the cluster-wide broker resource", kerr.InvalidRequest, rr.ResourceType, rr.ResourceName)
	}
	set := make(map[string]*string, len(rr.Configs))
	for _, c := range rr.Configs {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return nil, fmt.Errorf("%w: config %s set to null", ErrInvalidConfig, c.Name)
			}
			set[c.Name] = c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			set[c.Name] = nil
		default:
			return nil, fmt.Errorf("%w: config %s: operation %v", kerr.InvalidRequest, c.Name, c.Op)
		}
	}
	return set, nil
}

// The forwarding side: each builds the one-change request and reads its
// outcome from the response.

func createTopicsRequest(req CreateTopic, partitions int32, rf int16) *kmsg.CreateTopicsRequest {
	r := kmsg.NewPtrCreateTopicsRequest()
	r.Version = createTopicsVersion
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = req.Name, partitions, rf
	if req.Internal {
		rt.UnknownTags.Set(internalTopicTag, nil)
	}
	for k, v := range req.Configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, &v
		rt.Configs = append(rt.Configs, c)
	}
	r.Topics = append(r.Topics, rt)
	return r
}

// createTopicsResult returns the created topic's id.
func createTopicsResult(resp kmsg.Response) ([16]byte, error) {
	r, ok := resp.(*kmsg.CreateTopicsResponse)
	if !ok || len(r.Topics) != 1 {
		return [16]byte{}, fmt.Errorf("controller: a CreateTopics response for one topic holds %T", resp)
	}
	return r.Topics[0].TopicID, responseError(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
}

func deleteTopicsRequest(name string) *kmsg.DeleteTopicsRequest {
	r := kmsg.NewPtrDeleteTopicsRequest()
	r.Version = deleteTopicsVersion
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = &name
	r.Topics = append(r.Topics, rt)
	return r
}

func deleteTopicsResult(resp kmsg.Response) error {
	r, ok := resp.(*kmsg.DeleteTopicsResponse)
	if !ok || len(r.Topics) != 1 {
		return fmt.Errorf("controller: a DeleteTopics response for one topic holds %T", resp)
	}
	return responseError(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
}

func createPartitionsRequest(name string, count int32) *kmsg.CreatePartitionsRequest {
	r := kmsg.NewPtrCreatePartitionsRequest()
	r.Version = createPartitionsVersion
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = name, count
	r.Topics = append(r.Topics, rt)
	return r
}

func createPartitionsResult(resp kmsg.Response) error {
	r, ok := resp.(*kmsg.CreatePartitionsResponse)
	if !ok || len(r.Topics) != 1 {
		return fmt.Errorf("controller: a CreatePartitions response for one topic holds %T", resp)
	}
	return responseError(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
}

func alterConfigsRequest(typ kmsg.ConfigResourceType, name string, set map[string]*string) *kmsg.IncrementalAlterConfigsRequest {
	r := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r.Version = incrementalAlterConfigsVersion
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	for k, v := range set {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = k, v, kmsg.IncrementalAlterConfigOpSet
		if v == nil {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		}
		rr.Configs = append(rr.Configs, c)
	}
	r.Resources = append(r.Resources, rr)
	return r
}

func alterConfigsResult(resp kmsg.Response) error {
	r, ok := resp.(*kmsg.IncrementalAlterConfigsResponse)
	if !ok || len(r.Resources) != 1 {
		return fmt.Errorf("controller: an IncrementalAlterConfigs response for one resource holds %T", resp)
	}
	return responseError(r.Resources[0].ErrorCode, r.Resources[0].ErrorMessage)
}

func allocateProducerIDsRequest(self int32) *kmsg.AllocateProducerIDsRequest {
	r := kmsg.NewPtrAllocateProducerIDsRequest()
	r.Version = allocateProducerIDsVersion
	r.BrokerID, r.BrokerEpoch = self, -1
	return r
}

// allocateProducerIDsResult returns the block [start, end) handed out.
func allocateProducerIDsResult(resp kmsg.Response) (start, end int64, err error) {
	r, ok := resp.(*kmsg.AllocateProducerIDsResponse)
	if !ok {
		return 0, 0, fmt.Errorf("controller: an AllocateProducerIds response holds %T", resp)
	}
	if err := responseError(r.ErrorCode, nil); err != nil {
		return 0, 0, err
	}
	if r.ProducerIDStart < 0 || r.ProducerIDLen < 1 || r.ProducerIDLen > producerIDBlock {
		return 0, 0, fmt.Errorf("controller: producer id block of %d from %d", r.ProducerIDLen, r.ProducerIDStart)
	}
	return r.ProducerIDStart, r.ProducerIDStart + int64(r.ProducerIDLen), nil
}

func alterPartitionRequest(req AlterPartition) *kmsg.AlterPartitionRequest {
	r := kmsg.NewPtrAlterPartitionRequest()
	r.Version = alterPartitionVersion
	r.BrokerID, r.BrokerEpoch = req.BrokerID, req.BrokerEpoch
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = req.Partition, req.LeaderEpoch, req.PartitionEpoch
	for _, m := range req.NewISR {
		e := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
		e.BrokerID, e.BrokerEpoch = m.ID, m.Epoch
		rp.NewEpochISR = append(rp.NewEpochISR, e)
	}
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.TopicID = req.TopicID
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

// alterPartitionResult returns the partition epoch the change left.
func alterPartitionResult(resp kmsg.Response) (int32, error) {
	r, ok := resp.(*kmsg.AlterPartitionResponse)
	if !ok {
		return 0, fmt.Errorf("controller: an AlterPartition response holds %T", resp)
	}
	if err := responseError(r.ErrorCode, nil); err != nil {
		return 0, err
	}
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("controller: an AlterPartition response for one partition holds %d topics", len(r.Topics))
	}
	p := r.Topics[0].Partitions[0]
	return p.PartitionEpoch, responseError(p.ErrorCode, taggedMessage(p.UnknownTags))
}

func electLeadersRequest(electionType int8, partitions []TopicPartition) *kmsg.ElectLeadersRequest {
	r := kmsg.NewPtrElectLeadersRequest()
	r.Version, r.ElectionType = electLeadersVersion, electionType
	for _, run := range topicRuns(partitions, func(tp TopicPartition) string { return tp.Topic }) {
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic = run[0].Topic
		for _, tp := range run {
			rt.Partitions = append(rt.Partitions, tp.Partition)
		}
		r.Topics = append(r.Topics, rt)
	}
	if partitions != nil && r.Topics == nil {
		r.Topics = []kmsg.ElectLeadersRequestTopic{} // none, not all
	}
	return r
}

func electLeadersResult(resp kmsg.Response) ([]ElectionResult, error) {
	r, ok := resp.(*kmsg.ElectLeadersResponse)
	if !ok {
		return nil, fmt.Errorf("controller: an ElectLeaders response holds %T", resp)
	}
	if err := responseError(r.ErrorCode, nil); err != nil {
		return nil, err
	}
	var results []ElectionResult
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			results = append(results, ElectionResult{TopicPartition{rt.Topic, rp.Partition}, responseError(rp.ErrorCode, rp.ErrorMessage)})
		}
	}
	return results, nil
}

func alterReassignmentsRequest(reqs []Reassignment) *kmsg.AlterPartitionAssignmentsRequest {
	r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	r.Version = alterReassignmentsVersion
	for _, run := range topicRuns(reqs, func(rq Reassignment) string { return rq.Topic }) {
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = run[0].Topic
		for _, rq := range run {
			rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			rp.Partition, rp.Replicas = rq.Partition, rq.Replicas
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

func alterReassignmentsResult(resp kmsg.Response) ([]ReassignmentResult, error) {
	r, ok := resp.(*kmsg.AlterPartitionAssignmentsResponse)
	if !ok {
		return nil, fmt.Errorf("controller: an AlterPartitionReassignments response holds %T", resp)
	}
	if err := responseError(r.ErrorCode, r.ErrorMessage); err != nil {
		return nil, err
	}
	var results []ReassignmentResult
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			results = append(results, ReassignmentResult{TopicPartition{rt.Topic, rp.Partition}, responseError(rp.ErrorCode, rp.ErrorMessage)})
		}
	}
	return results, nil
}

func brokerHeartbeatRequest(hb BrokerHeartbeat) *kmsg.BrokerHeartbeatRequest {
	r := kmsg.NewPtrBrokerHeartbeatRequest()
	r.Version = brokerHeartbeatVersion
	r.BrokerID, r.BrokerEpoch, r.CurrentMetadataOffset = hb.ID, hb.Epoch, hb.MetadataOffset
	r.WantFence, r.WantShutdown = hb.WantFence, hb.WantShutdown
	return r
}

func brokerHeartbeatResult(resp kmsg.Response) (HeartbeatReply, error) {
	r, ok := resp.(*kmsg.BrokerHeartbeatResponse)
	if !ok {
		return HeartbeatReply{}, fmt.Errorf("controller: a BrokerHeartbeat response holds %T", resp)
	}
	return HeartbeatReply{IsCaughtUp: r.IsCaughtUp, IsFenced: r.IsFenced, ShouldShutdown: r.ShouldShutdown},
		responseError(r.ErrorCode, nil)
}
