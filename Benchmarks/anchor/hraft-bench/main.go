// hraft-bench: the anchor for raft-bench. A cluster of hashicorp/raft 1.1.2 nodes (Debian's
// golang-github-hashicorp-raft-dev) in this process, on the in-memory or TCP transport and the
// in-memory or bolt store; --inflight goroutines apply --payload-byte commands on the leader in a
// closed loop; after --warmup seconds, --duration seconds are measured. Prints one JSON line with
// raft-bench's field names, so scripts/compare-anchor.py reads both alike.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"../cpu"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb"
)

type result struct {
	Impl              string  `json:"impl"`
	Label             string  `json:"label,omitempty"`
	Transport         string  `json:"transport"`
	Store             string  `json:"store"`
	Nodes             int     `json:"nodes"`
	Payload           int     `json:"payload"`
	Inflight          int     `json:"inflight"`
	OpsPerS           float64 `json:"ops_per_s"`
	MBPerS            float64 `json:"mb_per_s"`
	P50us             float64 `json:"p50_us"`
	P99us             float64 `json:"p99_us"`
	P999us            float64 `json:"p999_us"`
	MeanUs            float64 `json:"mean_us"`
	MaxUs             float64 `json:"max_us"`
	Ops               int     `json:"ops"`
	Errors            int64   `json:"errors"`
	ErrorsInWindow    int64   `json:"errors_in_window"`
	DurationS         float64 `json:"duration_s"`
	WarmupS           float64 `json:"warmup_s"`
	MaxAppend         int     `json:"max_append_entries"`
	HeartbeatMs       float64 `json:"heartbeat_timeout_ms"`
	ElectionMs        float64 `json:"election_timeout_ms"`
	LeaderLeaseMs     float64 `json:"leader_lease_timeout_ms"`
	CommitMs          float64 `json:"commit_timeout_ms"`
	LeaderAtWindowEnd bool    `json:"leader_at_window_end"`
	LeaderChanged     bool    `json:"leader_changed"`
	FirstElectionMs   float64 `json:"first_election_ms"`
	SelfCPUPct        float64 `json:"self_cpu_pct"`
	OtherCPUPct       float64 `json:"other_cpu_pct"`
	CPUusPerOp        float64 `json:"cpu_us_per_op"`
	GoVersion         string  `json:"go_version"`
	RaftVersion       string  `json:"raft_version"`
	GOMAXPROCS        int     `json:"gomaxprocs"`
	Timestamp         string  `json:"ts"`
	Error             string  `json:"error,omitempty"`
}

// counter is the FSM: it counts what it applies.
type counter struct{ applied uint64 }

func (c *counter) Apply(*raft.Log) interface{}         { atomic.AddUint64(&c.applied, 1); return nil }
func (c *counter) Snapshot() (raft.FSMSnapshot, error) { return nothing{}, nil }
func (c *counter) Restore(r io.ReadCloser) error       { return r.Close() }

type nothing struct{}

func (nothing) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (nothing) Release()                             {}

func main() {
	nodes := flag.Int("nodes", 3, "cluster size, all in this process")
	transportKind := flag.String("transport", "tcp", "tcp|inmem")
	storeKind := flag.String("store", "inmem", "inmem|bolt (bolt syncs every batch)")
	payload := flag.Int("payload", 128, "command bytes")
	inflight := flag.Int("inflight", 64, "concurrent Apply calls (closed loop)")
	duration := flag.Float64("duration", 10, "measured seconds")
	warmup := flag.Float64("warmup", 2, "seconds of load before the window")
	maxAppend := flag.Int("max-append", 64, "Config.MaxAppendEntries")
	heartbeat := flag.Duration("heartbeat", 500*time.Millisecond, "Config.HeartbeatTimeout")
	election := flag.Duration("election", 500*time.Millisecond, "Config.ElectionTimeout")
	lease := flag.Duration("leader-lease", 250*time.Millisecond, "Config.LeaderLeaseTimeout")
	commit := flag.Duration("commit-timeout", 50*time.Millisecond, "Config.CommitTimeout")
	dir := flag.String("dir", os.Getenv("BENCH_DIR"), "where bolt files go (default: a temporary directory)")
	timeout := flag.Duration("transport-timeout", 10*time.Second, "transport I/O timeout")
	label := flag.String("label", "", "copied to the JSON line")
	flag.Parse()

	out := result{
		Impl: "hashicorp/raft", Label: *label, Transport: *transportKind, Store: *storeKind, Nodes: *nodes,
		Payload: *payload, Inflight: *inflight, DurationS: *duration, WarmupS: *warmup, MaxAppend: *maxAppend,
		HeartbeatMs: ms(*heartbeat), ElectionMs: ms(*election), LeaderLeaseMs: ms(*lease), CommitMs: ms(*commit),
		GoVersion: runtime.Version(), RaftVersion: "1.1.2", GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	defer func() {
		out.Timestamp = time.Now().UTC().Format(time.RFC3339)
		line, _ := json.Marshal(out)
		fmt.Println(string(line))
	}()

	scratch, err := ioutil.TempDir(*dir, "hraft-bench-")
	if err != nil {
		out.Error = err.Error()
		return
	}
	defer os.RemoveAll(scratch)
	cluster, err := start(*nodes, *transportKind, *storeKind, scratch, *timeout, func(c *raft.Config) {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout, c.CommitTimeout = *heartbeat, *election, *lease, *commit
		c.MaxAppendEntries = *maxAppend
	})
	if err != nil {
		out.Error = err.Error()
		return
	}
	defer cluster.shutdown()

	began := time.Now()
	leader := cluster.waitForLeader(10 * time.Second)
	if leader == nil {
		out.Error = "no leader within 10 s"
		return
	}
	out.FirstElectionMs = ms(time.Since(began))

	// The load: each worker applies, waits, and records its latency while the window is open.
	var inWindow, stop int32
	var errors, windowErrors int64
	latencies := make([][]time.Duration, *inflight)
	command := make([]byte, *payload)
	var workers sync.WaitGroup
	for w := 0; w < *inflight; w++ {
		workers.Add(1)
		go func(w int) {
			defer workers.Done()
			for atomic.LoadInt32(&stop) == 0 {
				sent := time.Now()
				err := leader.Apply(command, 10*time.Second).Error()
				counted := atomic.LoadInt32(&inWindow) == 1
				if err != nil {
					atomic.AddInt64(&errors, 1)
					if counted {
						atomic.AddInt64(&windowErrors, 1)
					}
				} else if counted {
					latencies[w] = append(latencies[w], time.Since(sent))
				}
			}
		}(w)
	}
	time.Sleep(seconds(*warmup))
	before := cpu.Take()
	atomic.StoreInt32(&inWindow, 1)
	time.Sleep(seconds(*duration))
	atomic.StoreInt32(&inWindow, 0)
	after := cpu.Take()
	atomic.StoreInt32(&stop, 1)
	workers.Wait()

	var all []time.Duration
	for _, each := range latencies {
		all = append(all, each...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	window := after.Sub(before)
	out.Ops = len(all)
	out.OpsPerS = round(float64(len(all)) / window.Seconds())
	out.MBPerS = round(out.OpsPerS * float64(*payload) / 1e6)
	if len(all) > 0 {
		var sum time.Duration
		for _, latency := range all {
			sum += latency
		}
		out.P50us, out.P99us, out.P999us = micros(pick(all, 0.50)), micros(pick(all, 0.99)), micros(pick(all, 0.999))
		out.MeanUs, out.MaxUs = micros(sum/time.Duration(len(all))), micros(all[len(all)-1])
	}
	out.Errors, out.ErrorsInWindow = atomic.LoadInt64(&errors), atomic.LoadInt64(&windowErrors)
	out.SelfCPUPct, out.OtherCPUPct = cpu.Usage(before, after)
	out.SelfCPUPct, out.OtherCPUPct = round(out.SelfCPUPct), round(out.OtherCPUPct)
	if out.OpsPerS > 0 {
		out.CPUusPerOp = round(out.SelfCPUPct / 100 * 1e6 / out.OpsPerS)
	}
	out.LeaderAtWindowEnd = leader.State() == raft.Leader
	out.LeaderChanged = cluster.leader() != leader
}

type cluster struct{ nodes []*raft.Raft }

// start bootstraps and starts n nodes, each knowing all the others.
func start(n int, transportKind, storeKind, dir string, timeout time.Duration, configure func(*raft.Config)) (*cluster, error) {
	var transports []raft.Transport
	var servers []raft.Server
	var inmem []*raft.InmemTransport
	for i := 0; i < n; i++ {
		var transport raft.Transport
		if transportKind == "inmem" {
			_, t := raft.NewInmemTransportWithTimeout("", timeout)
			inmem = append(inmem, t)
			transport = t
		} else {
			t, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, timeout, ioutil.Discard)
			if err != nil {
				return nil, err
			}
			transport = t
		}
		transports = append(transports, transport)
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(fmt.Sprintf("n%d", i)), Address: transport.LocalAddr()})
	}
	for _, a := range inmem {
		for _, b := range inmem {
			if a != b {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	c := &cluster{}
	for i, transport := range transports {
		config := raft.DefaultConfig()
		config.LocalID = servers[i].ID
		config.LogOutput = ioutil.Discard
		configure(config)
		var logs raft.LogStore
		var stable raft.StableStore
		if storeKind == "bolt" {
			bolt, err := raftboltdb.NewBoltStore(filepath.Join(dir, string(servers[i].ID)+".db"))
			if err != nil {
				return nil, err
			}
			logs, stable = bolt, bolt
		} else {
			store := raft.NewInmemStore()
			logs, stable = store, store
		}
		snapshots := raft.NewInmemSnapshotStore()
		if err := raft.BootstrapCluster(config, logs, stable, snapshots, transport, raft.Configuration{Servers: servers}); err != nil {
			return nil, err
		}
		node, err := raft.NewRaft(config, &counter{}, logs, stable, snapshots, transport)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, node)
	}
	return c, nil
}

func (c *cluster) leader() *raft.Raft {
	for _, node := range c.nodes {
		if node.State() == raft.Leader {
			return node
		}
	}
	return nil
}

func (c *cluster) waitForLeader(limit time.Duration) *raft.Raft {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if leader := c.leader(); leader != nil {
			return leader
		}
	}
	return nil
}

func (c *cluster) shutdown() {
	for _, node := range c.nodes {
		node.Shutdown().Error()
	}
}

func pick(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(p*float64(len(sorted)-1))]
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
func ms(d time.Duration) float64      { return float64(d) / 1e6 }
func micros(d time.Duration) float64  { return round(float64(d) / 1e3) }
func round(x float64) float64         { return float64(int64(x*10+0.5)) / 10 }
