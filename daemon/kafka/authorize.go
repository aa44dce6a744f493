package kafka

import (
	"fmt"
	"net"
	"reflect"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon/auth"
	"github.com/riffle/riffle/netio"
	"github.com/riffle/riffle/quorum"
)

// With an authorizer (Config.Authorizer), every request is checked here
// before its handler runs, with Kafka's operations and error codes:
//
//	Produce            WRITE topic            TOPIC_AUTHORIZATION_FAILED per topic
//	Fetch (consumer)   READ topic             the whole fetch, TOPIC_AUTHORIZATION_FAILED
//	Fetch (follower)   CLUSTER_ACTION cluster the whole fetch, CLUSTER_AUTHORIZATION_FAILED
//	Metadata           DESCRIBE topic         hidden from "all topics"; named: TOPIC_AUTHORIZATION_FAILED;
//	                                          auto-creation needs CREATE on the cluster or topic
//	ListOffsets        DESCRIBE topic         per topic
//	CreateTopics       CREATE cluster|topic   per topic
//	DeleteTopics       DELETE topic           per topic
//	ACLs, SCRAM users  DESCRIBE/ALTER cluster in their handlers
//	client quotas      DESCRIBE_CONFIGS/ALTER_CONFIGS cluster in their handlers
//	group APIs         READ group (DESCRIBE for FindCoordinator, DescribeGroups;
//	                   DELETE for DeleteGroups) GROUP_AUTHORIZATION_FAILED
//	InitProducerId     IDEMPOTENT_WRITE cluster, or WRITE on some topic (KIP-679)
//	anything else      ALTER cluster (DESCRIBE cluster for the Describe* and
//	                   List* APIs)            CLUSTER_AUTHORIZATION_FAILED
//
// ApiVersions and the SASL APIs need nothing. Where a response has no
// top-level error code to carry a refusal, the connection is closed.
// Every refusal is logged as one audit line.

// allowed authorizes one operation for the request's principal and host,
// logging a refusal.
func (b *Broker) allowed(r *request, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool {
	az := b.cfg.Authorizer
	if az == nil {
		return true
	}
	host := ""
	if tcp, ok := r.conn.RemoteAddr.(*net.TCPAddr); ok {
		host = tcp.IP.String()
	}
	principal := b.sessionOf(r.conn).principal
	if az.Authorize(b.ctrl.Image().Security.ACLs(), auth.Request{Principal: principal, Host: host, Operation: op, ResourceType: typ, Name: name}) {
		return true
	}
	b.log.Warn("audit: authorization denied", "principal", principal, "host", host, "operation", op.String(),
		"resource_type", typ.String(), "resource", name, "api", kmsg.NameForKey(r.header.APIKey))
	return false
}

func (b *Broker) allowedCluster(r *request, op kmsg.ACLOperation) bool {
	return b.allowed(r, op, kmsg.ACLResourceTypeCluster, auth.ClusterName)
}

// authorizeRequest checks r before its handler. It may take refused
// resources out of the request and return after, which puts them back
// into the response with their error code; or answer the whole request
// (early, with a nil error) or close the connection (an error).
func (b *Broker) authorizeRequest(r *request) (after func(kmsg.Response), early []netio.Piece, err error) {
	if b.cfg.Authorizer == nil {
		return nil, nil, nil
	}
	topicDenied := kerr.TopicAuthorizationFailed.Code
	switch req := r.body.(type) {
	case *kmsg.ApiVersionsRequest, *kmsg.SASLHandshakeRequest, *kmsg.SASLAuthenticateRequest:
		return nil, nil, nil
	case *kmsg.CreateACLsRequest, *kmsg.DescribeACLsRequest, *kmsg.DeleteACLsRequest,
		*kmsg.DescribeUserSCRAMCredentialsRequest, *kmsg.AlterUserSCRAMCredentialsRequest,
		*kmsg.DescribeClientQuotasRequest, *kmsg.AlterClientQuotasRequest:
		return nil, nil, nil // their handlers check the cluster, per item
	case *kmsg.ProduceRequest:
		if req.TransactionID != nil && !b.allowed(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionID) {
			return nil, nil, fmt.Errorf("produce: transactional id %q not authorized", *req.TransactionID)
		}
		denied := takeDenied(&req.Topics, func(t kmsg.ProduceRequestTopic) bool {
			return !b.allowed(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, t.Topic)
		})
		return func(resp kmsg.Response) {
			pr := resp.(*kmsg.ProduceResponse)
			for _, t := range denied {
				st := kmsg.NewProduceResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewProduceResponseTopicPartition()
					sp.Partition, sp.ErrorCode, sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = p.Partition, topicDenied, -1, -1, -1
					st.Partitions = append(st.Partitions, sp)
				}
				pr.Topics = append(pr.Topics, st)
			}
		}, nil, nil
	case *kmsg.FetchRequest:
		if id, _ := fetchReplica(req); id >= 0 {
			if !b.allowedCluster(r, kmsg.ACLOperationClusterAction) {
				return nil, b.fetchError(r, kerr.ClusterAuthorizationFailed.Code), nil
			}
			return nil, nil, nil
		}
		im := b.ctrl.Image()
		for _, t := range req.Topics {
			name := t.Topic
			if req.Version >= 13 {
				if tt := im.TopicByID(t.TopicID); tt != nil {
					name = tt.Name
				}
			}
			if !b.allowed(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name) {
				return nil, b.fetchError(r, topicDenied), nil
			}
		}
		return nil, nil, nil
	case *kmsg.MetadataRequest:
		return b.authorizeMetadata(r, req), nil, nil
	case *kmsg.ListOffsetsRequest:
		denied := takeDenied(&req.Topics, func(t kmsg.ListOffsetsRequestTopic) bool {
			return !b.allowed(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Topic)
		})
		return func(resp kmsg.Response) {
			lr := resp.(*kmsg.ListOffsetsResponse)
			for _, t := range denied {
				st := kmsg.NewListOffsetsResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewListOffsetsResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p.Partition, topicDenied
					st.Partitions = append(st.Partitions, sp)
				}
				lr.Topics = append(lr.Topics, st)
			}
		}, nil, nil
	case *kmsg.CreateTopicsRequest:
		canCluster := b.allowedQuiet(r, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, auth.ClusterName)
		denied := takeDenied(&req.Topics, func(t kmsg.CreateTopicsRequestTopic) bool {
			return !canCluster && !b.allowed(r, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, t.Topic)
		})
		return func(resp kmsg.Response) {
			cr := resp.(*kmsg.CreateTopicsResponse)
			for _, t := range denied {
				st := kmsg.NewCreateTopicsResponseTopic()
				st.Topic, st.ErrorCode = t.Topic, topicDenied
				cr.Topics = append(cr.Topics, st)
			}
		}, nil, nil
	case *kmsg.DeleteTopicsRequest:
		mayDelete := func(name string) bool {
			return b.allowed(r, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, name)
		}
		denied := takeDenied(&req.TopicNames, func(name string) bool { return !mayDelete(name) })
		im := b.ctrl.Image()
		for _, t := range takeDenied(&req.Topics, func(t kmsg.DeleteTopicsRequestTopic) bool {
			return !mayDelete(topicNameOrID(im, t.Topic, t.TopicID))
		}) {
			denied = append(denied, topicNameOrID(im, t.Topic, t.TopicID))
		}
		return func(resp kmsg.Response) {
			dr := resp.(*kmsg.DeleteTopicsResponse)
			for _, name := range denied {
				st := kmsg.NewDeleteTopicsResponseTopic()
				st.Topic, st.ErrorCode = &name, topicDenied
				dr.Topics = append(dr.Topics, st)
			}
		}, nil, nil
	case *kmsg.InitProducerIDRequest:
		if req.TransactionalID != nil {
			if !b.allowed(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionalID) {
				return nil, b.refuse(r, kerr.TransactionalIDAuthorizationFailed.Code), nil
			}
			return nil, nil, nil
		}
		if b.allowedQuiet(r, kmsg.ACLOperationIdempotentWrite, kmsg.ACLResourceTypeCluster, auth.ClusterName) || b.writesSomeTopic(r) {
			return nil, nil, nil
		}
		b.allowedCluster(r, kmsg.ACLOperationIdempotentWrite) // the audit line
		return nil, b.refuse(r, kerr.ClusterAuthorizationFailed.Code), nil
	}
	if group, op, ok := groupResource(r.body); ok {
		if !b.allowed(r, op, kmsg.ACLResourceTypeGroup, group) {
			if resp := b.refuse(r, kerr.GroupAuthorizationFailed.Code); resp != nil {
				return nil, resp, nil
			}
			return nil, nil, fmt.Errorf("%s: group %q not authorized", kmsg.NameForKey(r.header.APIKey), group)
		}
		return nil, nil, nil
	}
	op := kmsg.ACLOperationAlter
	if name := kmsg.NameForKey(r.header.APIKey); len(name) > 8 && (name[:8] == "Describe" || name[:4] == "List") {
		op = kmsg.ACLOperationDescribe
	}
	if !b.allowedCluster(r, op) {
		if resp := b.refuse(r, kerr.ClusterAuthorizationFailed.Code); resp != nil {
			return nil, resp, nil
		}
		return nil, nil, fmt.Errorf("%s: cluster %s not authorized", kmsg.NameForKey(r.header.APIKey), op)
	}
	return nil, nil, nil
}

// allowedQuiet is allowed without the audit line, for a check that has
// a fallback.
func (b *Broker) allowedQuiet(r *request, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool {
	host := ""
	if tcp, ok := r.conn.RemoteAddr.(*net.TCPAddr); ok {
		host = tcp.IP.String()
	}
	return b.cfg.Authorizer.Authorize(b.ctrl.Image().Security.ACLs(),
		auth.Request{Principal: b.sessionOf(r.conn).principal, Host: host, Operation: op, ResourceType: typ, Name: name})
}

// writesSomeTopic reports whether the principal may WRITE some existing
// topic (KIP-679: that grants IDEMPOTENT_WRITE).
func (b *Broker) writesSomeTopic(r *request) bool {
	for t := range b.ctrl.Image().Topics() {
		if b.allowedQuiet(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, t.Name) {
			return true
		}
	}
	return false
}

// refuse answers r with its response kind carrying code in its top-level
// ErrorCode, or nil when the response has none at r's version.
func (b *Broker) refuse(r *request, code int16) []netio.Piece {
	resp := r.body.ResponseKind()
	resp.SetVersion(r.header.APIVersion)
	v := reflect.ValueOf(resp).Elem()
	f := v.FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 {
		return nil
	}
	f.SetInt(int64(code))
	return b.encodeResponse(r.header, resp)
}

// groupResource is the group a group API names and the operation it needs.
func groupResource(req kmsg.Request) (string, kmsg.ACLOperation, bool) {
	switch req := req.(type) {
	case *kmsg.JoinGroupRequest:
		return req.Group, kmsg.ACLOperationRead, true
	case *kmsg.SyncGroupRequest:
		return req.Group, kmsg.ACLOperationRead, true
	case *kmsg.HeartbeatRequest:
		return req.Group, kmsg.ACLOperationRead, true
	case *kmsg.LeaveGroupRequest:
		return req.Group, kmsg.ACLOperationRead, true
	case *kmsg.OffsetCommitRequest:
		return req.Group, kmsg.ACLOperationRead, true
	case *kmsg.OffsetDeleteRequest:
		return req.Group, kmsg.ACLOperationDelete, true
	case *kmsg.OffsetFetchRequest:
		if len(req.Groups) > 0 {
			return req.Groups[0].Group, kmsg.ACLOperationDescribe, true
		}
		return req.Group, kmsg.ACLOperationDescribe, true
	case *kmsg.FindCoordinatorRequest:
		key := req.CoordinatorKey
		if len(req.CoordinatorKeys) > 0 {
			key = req.CoordinatorKeys[0]
		}
		if req.CoordinatorType == 1 {
			return "", 0, false // transactional: cluster rules
		}
		return key, kmsg.ACLOperationDescribe, true
	case *kmsg.DescribeGroupsRequest:
		if len(req.Groups) > 0 {
			return req.Groups[0], kmsg.ACLOperationDescribe, true
		}
	case *kmsg.DeleteGroupsRequest:
		if len(req.Groups) > 0 {
			return req.Groups[0], kmsg.ACLOperationDelete, true
		}
	}
	return "", 0, false
}

// authorizeMetadata hides the topics the principal may not DESCRIBE and
// refuses them when named; auto-creation needs CREATE on the cluster or
// the topic.
func (b *Broker) authorizeMetadata(r *request, req *kmsg.MetadataRequest) func(kmsg.Response) {
	im := b.ctrl.Image()
	listAll := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	canCreate := b.allowedQuiet(r, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, auth.ClusterName)
	denied := takeDenied(&req.Topics, func(t kmsg.MetadataRequestTopic) bool {
		name := topicNameOrID(im, t.Topic, t.TopicID)
		if im.Topic(name) == nil && req.AllowAutoTopicCreation && !canCreate &&
			!b.allowedQuiet(r, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, name) {
			req.AllowAutoTopicCreation = false
		}
		return !b.allowed(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name)
	})
	// Named topics, all refused: v0 would read the empty list as all.
	noneLeft := !listAll && len(req.Topics) == 0
	return func(resp kmsg.Response) {
		mr := resp.(*kmsg.MetadataResponse)
		if noneLeft {
			mr.Topics = nil
		}
		if listAll {
			mr.Topics = slices.DeleteFunc(mr.Topics, func(t kmsg.MetadataResponseTopic) bool {
				return t.Topic == nil || !b.allowedQuiet(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, *t.Topic)
			})
		}
		for _, t := range denied {
			st := kmsg.NewMetadataResponseTopic()
			st.Topic, st.ErrorCode = kmsg.StringPtr(topicNameOrID(im, t.Topic, t.TopicID)), kerr.TopicAuthorizationFailed.Code
			mr.Topics = append(mr.Topics, st)
		}
	}
}

// takeDenied removes the items denied says no to from *items and returns
// them, in order: the request goes on without them and the response gets
// them back with their error code.
func takeDenied[T any](items *[]T, denied func(T) bool) []T {
	var taken []T
	*items = slices.DeleteFunc(*items, func(t T) bool {
		no := denied(t)
		if no {
			taken = append(taken, t)
		}
		return no
	})
	return taken
}

// topicNameOrID is the topic a request names by name, or else by id (""
// for an id the image does not know).
func topicNameOrID(im *quorum.Image, name *string, id [16]byte) string {
	if name != nil {
		return *name
	}
	if t := im.TopicByID(id); t != nil {
		return t.Name
	}
	return ""
}
