// node: one hashicorp/raft node (Debian's golang-github-hashicorp-raft-dev) per process, for the
// mixed Go/Swift cluster tests. It speaks hashicorp's NetworkTransport over TCP and is driven by one
// command per line on stdin, answering one line per command on stdout (logs go to stderr).
//
// Storage: with -data-dir, the log and the stable store are in raft-boltdb (DIR/raft.db) and
// snapshots in a FileSnapshotStore under DIR (DIR/snapshots, keeping the newest 2), so a node
// killed and started again resumes from disk; without it, everything is in memory
// (InmemStore, InmemSnapshotStore) and lost with the process.
//
// Its FSM records a digest of every command in apply order: FNV-1a 64 over the previous digest's
// 8 bytes (big-endian), then the command's bytes, then a 0 byte. The Swift side (DigestFSM)
// computes the same digest, so equal digests at equal counts mean identical FSM histories.
// An FSM snapshot is the text "COUNT DIGEST" (two decimal numbers, one space, no newline),
// exactly what DigestFSM writes and reads, so a snapshot either side takes restores on the other.
//
// Snapshots follow hashicorp's Config: -snapshot-threshold, -snapshot-interval and -trailing-logs
// set SnapshotThreshold, SnapshotInterval and TrailingLogs (hashicorp's defaults: 8192, 120s,
// 10240, so by default a test never sees one).
//
// With -history FILE, every command applied is also appended to FILE as a line "INDEX DATA", across
// restarts, so a test can check what the node applied and when, not only where it ended. Commands
// a snapshot brought in (installed from a leader, or restored at start) are not in it.
//
// Commands:
//   apply N PREFIX        apply N commands "PREFIX-i" (64 at a time); "ok applied=N errors=E [first=...]"
//   apply-async N PREFIX  submit N commands "PREFIX-i" without waiting for them; "ok submitted=N"
//   state                 "state=Leader term=T leader=ADDR last=L applied=A count=C digest=D snap=S first=F"
//                         (S: Stats()["last_snapshot_index"]; F: the log store's first index, 0 if empty)
//   snapshot              take a snapshot now (Raft.Snapshot); "ok index=N" or "error: ..."
//   wait-count N MS       wait until the FSM applied N commands; "ok count=C digest=D" or "timeout count=C"
//   wait-leader MS        wait until some leader is known; "ok leader=ADDR" or "timeout"
//   barrier               "ok" or "error: ..."
//   transfer [ID ADDRESS] hand leadership over (Raft.LeadershipTransfer, or LeadershipTransferToServer
//                         to ID at ADDRESS); "ok" once this node stepped down, or "error: ..."
//   quit                  shut down and exit
package main

import (
	"bufio"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"io/ioutil"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb"
)

type recordingFSM struct {
	mu      sync.Mutex
	count   int
	digest  uint64
	history *os.File
}

func (f *recordingFSM) Apply(entry *raft.Log) interface{} {
	if entry.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.history != nil {
		// One write per line on an O_APPEND file: a kill -9 loses no line the FSM applied.
		if _, err := fmt.Fprintf(f.history, "%d %s\n", entry.Index, entry.Data); err != nil {
			log.Fatalf("history: %v", err)
		}
	}
	h := fnv.New64a()
	var seed [8]byte
	for i := 0; i < 8; i++ {
		seed[i] = byte(f.digest >> (56 - 8*i))
	}
	h.Write(seed[:])
	h.Write(entry.Data)
	h.Write([]byte{0})
	f.digest = h.Sum64()
	f.count++
	return nil
}

func (f *recordingFSM) snapshotState() (int, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count, f.digest
}

type fsmSnapshot struct {
	count  int
	digest uint64
}

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	_, err := fmt.Fprintf(sink, "%d %d", s.count, s.digest)
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}

func (f *recordingFSM) Snapshot() (raft.FSMSnapshot, error) {
	count, digest := f.snapshotState()
	return fsmSnapshot{count, digest}, nil
}

func (f *recordingFSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	data, err := ioutil.ReadAll(r)
	if err != nil {
		return err
	}
	// The whole text must be "COUNT DIGEST": a snapshot in another format (or cut short) must
	// fail the restore, not leave a half-read state behind.
	var count int
	var digest uint64
	var rest string
	if n, _ := fmt.Sscanf(string(data), "%d %d%s", &count, &digest, &rest); n != 2 {
		return fmt.Errorf("malformed snapshot %q: want \"COUNT DIGEST\"", data)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count, f.digest = count, digest
	return nil
}

func main() {
	id := flag.String("id", "", "server ID")
	bind := flag.String("bind", "127.0.0.1:0", "TCP address to listen on")
	bootstrap := flag.String("bootstrap", "", "id=addr,... voters to bootstrap with (empty: join later)")
	heartbeat := flag.Duration("heartbeat", 200*time.Millisecond, "HeartbeatTimeout")
	election := flag.Duration("election", 200*time.Millisecond, "ElectionTimeout")
	lease := flag.Duration("leader-lease", 100*time.Millisecond, "LeaderLeaseTimeout")
	commit := flag.Duration("commit-timeout", 10*time.Millisecond, "CommitTimeout")
	dataDir := flag.String("data-dir", "", "keep the log in raft-boltdb and snapshots in files here (empty: in memory)")
	historyPath := flag.String("history", "", "append \"INDEX DATA\" for every command applied to this file")
	defaults := raft.DefaultConfig()
	snapshotThreshold := flag.Uint64("snapshot-threshold", defaults.SnapshotThreshold, "SnapshotThreshold")
	snapshotInterval := flag.Duration("snapshot-interval", defaults.SnapshotInterval, "SnapshotInterval")
	trailingLogs := flag.Uint64("trailing-logs", defaults.TrailingLogs, "TrailingLogs")
	flag.Parse()
	if *id == "" {
		log.Fatal("--id is required")
	}

	transport, err := raft.NewTCPTransport(*bind, nil, 3, 2*time.Second, os.Stderr)
	if err != nil {
		log.Fatalf("transport: %v", err)
	}
	config := raft.DefaultConfig()
	config.LocalID = raft.ServerID(*id)
	config.HeartbeatTimeout = *heartbeat
	config.ElectionTimeout = *election
	config.LeaderLeaseTimeout = *lease
	config.CommitTimeout = *commit
	config.SnapshotThreshold = *snapshotThreshold
	config.SnapshotInterval = *snapshotInterval
	config.TrailingLogs = *trailingLogs
	config.LogOutput = os.Stderr
	var logs raft.LogStore
	var stable raft.StableStore
	var snapshots raft.SnapshotStore
	if *dataDir == "" {
		store := raft.NewInmemStore()
		logs, stable, snapshots = store, store, raft.NewInmemSnapshotStore()
	} else {
		if err := os.MkdirAll(*dataDir, 0755); err != nil {
			log.Fatalf("data dir: %v", err)
		}
		bolt, err := raftboltdb.NewBoltStore(*dataDir + "/raft.db")
		if err != nil {
			log.Fatalf("bolt: %v", err)
		}
		files, err := raft.NewFileSnapshotStore(*dataDir, 2, os.Stderr)
		if err != nil {
			log.Fatalf("snapshots: %v", err)
		}
		logs, stable, snapshots = bolt, bolt, files
	}
	fsm := &recordingFSM{}
	if *historyPath != "" {
		file, err := os.OpenFile(*historyPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0644)
		if err != nil {
			log.Fatalf("history: %v", err)
		}
		fsm.history = file
	}

	existing, err := raft.HasExistingState(logs, stable, snapshots)
	if err != nil {
		log.Fatalf("existing state: %v", err)
	}
	if *bootstrap != "" && !existing {
		var servers []raft.Server
		for _, pair := range strings.Split(*bootstrap, ",") {
			parts := strings.SplitN(pair, "=", 2)
			if len(parts) != 2 {
				log.Fatalf("bad --bootstrap entry %q", pair)
			}
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(parts[0]), Address: raft.ServerAddress(parts[1])})
		}
		err := raft.BootstrapCluster(config, logs, stable, snapshots, transport, raft.Configuration{Servers: servers})
		if err != nil {
			log.Fatalf("bootstrap: %v", err)
		}
	}
	node, err := raft.NewRaft(config, fsm, logs, stable, snapshots, transport)
	if err != nil {
		log.Fatalf("raft: %v", err)
	}
	// The first line tells the driver where the node listens (useful with port 0).
	fmt.Printf("listening %s\n", transport.LocalAddr())

	out := bufio.NewWriter(os.Stdout)
	reply := func(format string, args ...interface{}) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "apply":
			if len(fields) != 3 {
				reply("error: usage: apply N PREFIX")
				continue
			}
			n, _ := strconv.Atoi(fields[1])
			reply("%s", applyMany(node, n, fields[2]))
		case "apply-async":
			if len(fields) != 3 {
				reply("error: usage: apply-async N PREFIX")
				continue
			}
			n, _ := strconv.Atoi(fields[1])
			for i := 0; i < n; i++ {
				node.Apply([]byte(fmt.Sprintf("%s-%d", fields[2], i)), 10*time.Second)
			}
			reply("ok submitted=%d", n)
		case "state":
			count, digest := fsm.snapshotState()
			stats := node.Stats()
			first, err := logs.FirstIndex()
			if err != nil {
				reply("error: first index: %v", err)
				continue
			}
			reply("state=%s term=%s leader=%s last=%d applied=%d count=%d digest=%d snap=%s first=%d",
				node.State(), stats["term"], node.Leader(), node.LastIndex(), node.AppliedIndex(), count, digest,
				stats["last_snapshot_index"], first)
		case "snapshot":
			reply("%s", takeSnapshot(node))
		case "wait-count":
			if len(fields) != 3 {
				reply("error: usage: wait-count N MS")
				continue
			}
			want, _ := strconv.Atoi(fields[1])
			ms, _ := strconv.Atoi(fields[2])
			deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
			for {
				count, digest := fsm.snapshotState()
				if count >= want {
					reply("ok count=%d digest=%d", count, digest)
					break
				}
				if time.Now().After(deadline) {
					reply("timeout count=%d", count)
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		case "wait-leader":
			ms := 5000
			if len(fields) == 2 {
				ms, _ = strconv.Atoi(fields[1])
			}
			deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
			for {
				if leader := node.Leader(); leader != "" {
					reply("ok leader=%s", leader)
					break
				}
				if time.Now().After(deadline) {
					reply("timeout")
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		case "barrier":
			if err := node.Barrier(10 * time.Second).Error(); err != nil {
				reply("error: %v", err)
			} else {
				reply("ok")
			}
		case "transfer":
			var future raft.Future
			switch len(fields) {
			case 1:
				future = node.LeadershipTransfer()
			case 3:
				future = node.LeadershipTransferToServer(raft.ServerID(fields[1]), raft.ServerAddress(fields[2]))
			default:
				reply("error: usage: transfer [ID ADDRESS]")
				continue
			}
			if err := future.Error(); err != nil {
				reply("error: %v", err)
			} else {
				reply("ok")
			}
		case "quit":
			node.Shutdown().Error()
			transport.Close()
			reply("bye")
			return
		default:
			reply("error: unknown command %q", fields[0])
		}
	}
	// stdin closed: the driver is gone.
	node.Shutdown().Error()
	transport.Close()
}

// takeSnapshot takes a user snapshot and answers with the index it covers.
func takeSnapshot(node *raft.Raft) string {
	future := node.Snapshot()
	if err := future.Error(); err != nil {
		return fmt.Sprintf("error: %v", err)
	}
	meta, reader, err := future.Open()
	if err != nil {
		return fmt.Sprintf("error: open: %v", err)
	}
	reader.Close()
	return fmt.Sprintf("ok index=%d", meta.Index)
}

func applyMany(node *raft.Raft, n int, prefix string) string {
	const window = 64
	var (
		mu       sync.Mutex
		errors   int
		firstErr error
	)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < window; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := node.Apply([]byte(fmt.Sprintf("%s-%d", prefix, i)), 10*time.Second).Error(); err != nil {
					mu.Lock()
					errors++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return fmt.Sprintf("ok applied=%d errors=%d first=%v", n-errors, errors, firstErr)
	}
	return fmt.Sprintf("ok applied=%d errors=0", n)
}

