// pipeline-bench: the anchor for transport-bench. Two hashicorp/raft 1.1.2 NetworkTransports on
// 127.0.0.1, no Raft: one sends AppendEntries of --entries entries of --payload bytes, the other
// answers each at once. --mode=pipeline sends through AppendEntriesPipeline (as many in flight as
// the transport allows), --mode=sync one call at a time. After --warmup seconds, --duration seconds
// are measured. Prints one JSON line per mode, with transport-bench's field names, so
// scripts/compare-transport.py reads both alike.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"runtime"
	"sort"
	"sync/atomic"
	"time"

	"../cpu"

	"github.com/hashicorp/raft"
)

type result struct {
	Impl        string  `json:"impl"`
	Bench       string  `json:"bench"`
	Mode        string  `json:"mode"`
	Entries     int     `json:"entries_per_rpc"`
	Payload     int     `json:"payload"`
	EntriesPerS float64 `json:"entries_per_s"`
	RPCsPerS    float64 `json:"rpcs_per_s"`
	MBPerS      float64 `json:"mb_per_s"`
	RPCs        int     `json:"rpcs"`
	P50us       float64 `json:"rpc_p50_us"`
	P99us       float64 `json:"rpc_p99_us"`
	Errors      int64   `json:"errors"`
	DurationS   float64 `json:"duration_s"`
	SelfCPUPct  float64 `json:"self_cpu_pct"`
	OtherCPUPct float64 `json:"other_cpu_pct"`
	GoVersion   string  `json:"go_version"`
	RaftVersion string  `json:"raft_version"`
	GOMAXPROCS  int     `json:"gomaxprocs"`
	Timestamp   string  `json:"ts"`
	Error       string  `json:"error,omitempty"`
}

func main() {
	entries := flag.Int("entries", 64, "entries per AppendEntries")
	payload := flag.Int("payload", 128, "bytes of data per entry")
	duration := flag.Float64("duration", 5, "measured seconds per mode")
	warmup := flag.Float64("warmup", 1, "seconds before each measured window")
	mode := flag.String("mode", "both", "pipeline|sync|both")
	flag.Parse()

	modes := []string{*mode}
	if *mode == "both" {
		modes = []string{"pipeline", "sync"}
	}
	for _, m := range modes {
		out := run(m, *entries, *payload, *warmup, *duration)
		out.Timestamp = time.Now().UTC().Format(time.RFC3339)
		line, _ := json.Marshal(out)
		fmt.Println(string(line))
	}
}

func run(mode string, entries, payload int, warmup, duration float64) result {
	out := result{
		Impl: "hashicorp/raft NetworkTransport", Bench: "pipeline-bench", Mode: mode, Entries: entries, Payload: payload,
		DurationS: duration, GoVersion: runtime.Version(), RaftVersion: "1.1.2", GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	server, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 10*time.Second, ioutil.Discard)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	defer server.Close()
	client, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 10*time.Second, ioutil.Discard)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	defer client.Close()
	go func() {
		for rpc := range server.Consumer() {
			request, _ := rpc.Command.(*raft.AppendEntriesRequest)
			var last uint64
			if request != nil {
				last = request.PrevLogEntry + uint64(len(request.Entries))
			}
			rpc.Respond(&raft.AppendEntriesResponse{Term: 1, LastLog: last, Success: true}, nil)
		}
	}()

	batch := make([]*raft.Log, entries)
	for i := range batch {
		batch[i] = &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: make([]byte, payload)}
	}
	request := &raft.AppendEntriesRequest{Term: 1, Leader: []byte(client.LocalAddr()), Entries: batch}
	target := server.LocalAddr()

	var measuring, stop int32
	stopped := make(chan struct{})
	var errors int64
	var latencies []time.Duration
	record := func(sent time.Time, err error) {
		if err != nil {
			atomic.AddInt64(&errors, 1)
		} else if atomic.LoadInt32(&measuring) == 1 {
			latencies = append(latencies, time.Since(sent))
		}
	}
	done := make(chan struct{})
	switch mode {
	case "sync":
		go func() {
			defer close(done)
			for atomic.LoadInt32(&stop) == 0 {
				var response raft.AppendEntriesResponse
				sent := time.Now()
				record(sent, client.AppendEntries("server", target, request, &response))
			}
		}()
	default:
		pipeline, err := client.AppendEntriesPipeline("server", target)
		if err != nil {
			out.Error = err.Error()
			return out
		}
		// One goroutine sends as fast as the pipeline admits; answers are read in order.
		go func() {
			for atomic.LoadInt32(&stop) == 0 {
				if _, err := pipeline.AppendEntries(request, &raft.AppendEntriesResponse{}); err != nil {
					atomic.AddInt64(&errors, 1)
					break
				}
			}
			pipeline.Close()
		}()
		go func() {
			// The pipeline never closes its consumer channel: stop on the stop signal instead.
			defer close(done)
			for {
				select {
				case future := <-pipeline.Consumer():
					record(future.Start(), future.Error())
				case <-stopped:
					return
				}
			}
		}()
	}
	time.Sleep(time.Duration(warmup * float64(time.Second)))
	before := cpu.Take()
	atomic.StoreInt32(&measuring, 1)
	time.Sleep(time.Duration(duration * float64(time.Second)))
	atomic.StoreInt32(&measuring, 0)
	after := cpu.Take()
	atomic.StoreInt32(&stop, 1)
	close(stopped)
	<-done

	window := after.Sub(before).Seconds()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	out.RPCs = len(latencies)
	out.RPCsPerS = round(float64(len(latencies)) / window)
	out.EntriesPerS = round(out.RPCsPerS * float64(entries))
	out.MBPerS = round(out.EntriesPerS * float64(payload) / 1e6)
	if len(latencies) > 0 {
		out.P50us = round(float64(latencies[len(latencies)/2]) / 1e3)
		out.P99us = round(float64(latencies[int(0.99*float64(len(latencies)-1))]) / 1e3)
	}
	out.Errors = atomic.LoadInt64(&errors)
	self, other := cpu.Usage(before, after)
	out.SelfCPUPct, out.OtherCPUPct = round(self), round(other)
	return out
}

func round(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
