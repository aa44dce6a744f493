package cli

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicResult is one topic's outcome of create, delete or alter-config.
type topicResult struct {
	Topic             string `json:"topic"`
	Partitions        int32  `json:"partitions,omitempty"`
	ReplicationFactor int16  `json:"replication_factor,omitempty"`
	Error             string `json:"error,omitempty"`
}

// printTopicResults prints results, reports each failure on stderr and
// returns errReported if any failed.
func (e *env) printTopicResults(t *table, results []topicResult) error {
	if err := e.print(t, results); err != nil {
		return err
	}
	failed := false
	for _, r := range results {
		if r.Error != "" {
			e.fail(r.Topic, errors.New(r.Error))
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// keyValues is a repeatable key=value flag.
type keyValues map[string]*string

var _ flag.Value = keyValues{}

func (kv keyValues) String() string { return "" }

func (kv keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	kv[k] = &v
	return nil
}

func topicCreate(e *env, args []string) error {
	fs := e.flags("TOPIC...", "Create topics.")
	partitions := fs.Int("p", -1, "`partitions` per topic (-1: the broker's default)")
	alias(fs, "partitions", "p")
	replication := fs.Int("r", -1, "replication `factor` (-1: the broker's default)")
	alias(fs, "replication-factor", "r")
	configs := keyValues{}
	fs.Var(configs, "c", "topic config `key=value`, e.g. retention.ms=3600000 (repeatable)")
	alias(fs, "config", "c")
	topics, err := e.parse(fs, args, 1, -1, "topic name")
	if err != nil {
		return err
	}
	if *partitions == 0 || *partitions < -1 || *partitions > 1<<31-1 {
		return usageErrorf("--partitions %d: want a positive count or -1", *partitions)
	}
	if *replication == 0 || *replication < -1 || *replication > 1<<15-1 {
		return usageErrorf("--replication-factor %d: want a positive count or -1", *replication)
	}
	adm, ctx, done, err := e.admin(kmsg.CreateTopics)
	if err != nil {
		return err
	}
	defer done()
	resps, err := adm.CreateTopics(ctx, int32(*partitions), int16(*replication), configs, topics...)
	if err != nil {
		return err
	}
	t := newTable("TOPIC", "PARTITIONS", "REPLICATION-FACTOR", "STATUS")
	var results []topicResult
	for _, topic := range topics {
		r := resps[topic]
		res := topicResult{Topic: topic, Error: errText(r.Err, r.ErrMessage)}
		if r.Err != nil {
			t.add(topic, "-", "-", res.Error)
		} else {
			res.Partitions, res.ReplicationFactor = r.NumPartitions, r.ReplicationFactor
			t.add(topic, res.Partitions, res.ReplicationFactor, "created")
		}
		results = append(results, res)
	}
	return e.printTopicResults(t, results)
}

func topicDelete(e *env, args []string) error {
	fs := e.flags("TOPIC...", "Delete topics and all their records.")
	topics, err := e.parse(fs, args, 1, -1, "topic name")
	if err != nil {
		return err
	}
	adm, ctx, done, err := e.admin(kmsg.DeleteTopics)
	if err != nil {
		return err
	}
	defer done()
	resps, err := adm.DeleteTopics(ctx, topics...)
	if err != nil {
		return err
	}
	t := newTable("TOPIC", "STATUS")
	var results []topicResult
	for _, topic := range topics {
		r := resps[topic]
		t.add(topic, status("deleted", r.Err, r.ErrMessage))
		results = append(results, topicResult{Topic: topic, Error: errText(r.Err, r.ErrMessage)})
	}
	return e.printTopicResults(t, results)
}

func topicAlterConfig(e *env, args []string) error {
	fs := e.flags("TOPIC...", "Change topic configs (IncrementalAlterConfigs); unnamed keys keep their values.")
	sets := keyValues{}
	fs.Var(sets, "set", "set config `key=value` (repeatable)")
	var deletes []string
	fs.Func("delete", "return config `key` to the broker's default (repeatable)", func(k string) error {
		deletes = append(deletes, k)
		return nil
	})
	topics, err := e.parse(fs, args, 1, -1, "topic name")
	if err != nil {
		return err
	}
	if len(sets)+len(deletes) == 0 {
		return usageErrorf("nothing to change: give --set key=value or --delete key")
	}
	var alter []kadm.AlterConfig
	for k, v := range sets {
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
	}
	for _, k := range deletes {
		alter = append(alter, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	sort.Slice(alter, func(i, j int) bool { return alter[i].Name < alter[j].Name })
	adm, ctx, done, err := e.admin(kmsg.IncrementalAlterConfigs)
	if err != nil {
		return err
	}
	defer done()
	resps, err := adm.AlterTopicConfigs(ctx, alter, topics...)
	if err != nil {
		return err
	}
	byTopic := map[string]kadm.AlterConfigsResponse{}
	for _, r := range resps {
		byTopic[r.Name] = r
	}
	t := newTable("TOPIC", "STATUS")
	var results []topicResult
	for _, topic := range topics {
		r, ok := byTopic[topic]
		if !ok {
			r.Err = errors.New("no answer for this topic")
		}
		t.add(topic, status("altered", r.Err, r.ErrMessage))
		results = append(results, topicResult{Topic: topic, Error: errText(r.Err, r.ErrMessage)})
	}
	return e.printTopicResults(t, results)
}

// topicSummary is one topic in list and describe.
type topicSummary struct {
	Name              string `json:"name"`
	ID                string `json:"id"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal"`
}

func summarize(d kadm.TopicDetail) topicSummary {
	// Kafka prints topic ids in URL-safe base64 without padding.
	id := base64.RawURLEncoding.EncodeToString(d.ID[:])
	s := topicSummary{Name: d.Topic, ID: id, Partitions: len(d.Partitions), Internal: d.IsInternal}
	if p, ok := d.Partitions[0]; ok {
		s.ReplicationFactor = len(p.Replicas)
	}
	return s
}

func topicList(e *env, args []string) error {
	fs := e.flags("", "List topics.")
	internal := fs.Bool("i", false, "include internal topics")
	alias(fs, "internal", "i")
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	adm, ctx, done, err := e.admin(kmsg.Metadata)
	if err != nil {
		return err
	}
	defer done()
	list := adm.ListTopics
	if *internal {
		list = adm.ListTopicsWithInternal
	}
	details, err := list(ctx)
	if err != nil {
		return err
	}
	t := newTable("NAME", "PARTITIONS", "REPLICATION-FACTOR")
	summaries := []topicSummary{}
	var failed []kadm.TopicDetail
	for _, d := range details.Sorted() {
		if d.Err != nil {
			failed = append(failed, d)
			continue
		}
		s := summarize(d)
		t.add(s.Name, s.Partitions, s.ReplicationFactor)
		summaries = append(summaries, s)
	}
	if err := e.print(t, summaries); err != nil {
		return err
	}
	for _, d := range failed {
		e.fail(d.Topic, d.Err)
	}
	if len(failed) > 0 {
		return errReported
	}
	return nil
}
