// Command capture records real NetworkTransport traffic of Debian's hashicorp/raft 1.1.2 over
// TCP, for the Swift wire tests:
//
//  1. client side: a raw TCP listener stands in for a peer while raft.NewTCPTransport sends
//     it every RPC type (plus a pipelined stream and an RPC answered with an error); the bytes
//     it receives are saved as client-<case>.hex, exactly as they arrived (for InstallSnapshot
//     including the snapshot data that follows the request);
//  2. server side: a real NetworkTransport server is sent the golden newest-shape request
//     frames (the bytes swift-raft's encoder produces, see ../golden) over a raw socket; its
//     answers are saved as server-<case>.hex, and what 1.1.2 decoded from each request is
//     written to server-index.txt. RequestPreVote (type 4) and an unknown type make it close
//     the connection, which is recorded too.
//
// Usage: capture <golden directory> <output directory>
//
// Every value is fixed and 1.1.2 sends no timestamps, so the output is the same on every run.
// See ../golden/README.md for building and regenerating.
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-msgpack/codec"
	"github.com/hashicorp/raft"
)

const (
	leaderAddr = "127.0.0.1:7000"
	timeout    = 5 * time.Second
)

// The error the raw peer answers the "client-error" RequestVote with, and the real server
// answers RequestVote with Term 1 with.
const cannedError = "boom"

func pattern(n int, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		os.Exit(1)
	}
}

func writeHex(dir, name string, b []byte) {
	check(os.WriteFile(filepath.Join(dir, name+".hex"), []byte(hex.EncodeToString(b)+"\n"), 0o644))
}

// recorder keeps every byte the msgpack decoder reads; go-msgpack 0.5.5 reads exactly what a
// value needs (ReadByte / ReadAtLeast), so the recording ends where the value ends.
type recorder struct {
	r   *bufio.Reader
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

func (r *recorder) ReadByte() (byte, error) {
	b, err := r.r.ReadByte()
	if err == nil {
		r.buf.WriteByte(b)
	}
	return b, err
}

func (r *recorder) take() []byte {
	b := append([]byte(nil), r.buf.Bytes()...)
	r.buf.Reset()
	return b
}

// ---- 1. client side ------------------------------------------------------------------

// rawPeer serves the raw listener: it reads request frames, records them in arrival order and
// answers each with the canned response for its type.
type rawPeer struct {
	ln     net.Listener
	frames chan []byte
}

func (p *rawPeer) serve() {
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(conn)
	}
}

func (p *rawPeer) handle(conn net.Conn) {
	defer conn.Close()
	rec := &recorder{r: bufio.NewReader(conn)}
	dec := codec.NewDecoder(rec, &codec.MsgpackHandle{})
	w := bufio.NewWriter(conn)
	enc := codec.NewEncoder(w, &codec.MsgpackHandle{})
	for {
		rpcType, err := rec.ReadByte()
		if err != nil {
			return
		}
		var errText string
		var resp interface{}
		switch rpcType {
		case 0:
			var req raft.AppendEntriesRequest
			check(dec.Decode(&req))
			resp = &raft.AppendEntriesResponse{RPCHeader: raft.RPCHeader{ProtocolVersion: 3}, Term: req.Term,
				LastLog: req.PrevLogEntry + uint64(len(req.Entries)), Success: true}
		case 1:
			var req raft.RequestVoteRequest
			check(dec.Decode(&req))
			if req.Term == 13 {
				errText = cannedError
			} else {
				resp = &raft.RequestVoteResponse{RPCHeader: raft.RPCHeader{ProtocolVersion: 3}, Term: req.Term, Granted: true}
			}
		case 2:
			var req raft.InstallSnapshotRequest
			check(dec.Decode(&req))
			data := make([]byte, req.Size)
			_, err := io.ReadFull(rec, data)
			check(err)
			resp = &raft.InstallSnapshotResponse{Term: req.Term, Success: true}
		case 3:
			var req raft.TimeoutNowRequest
			check(dec.Decode(&req))
			resp = &raft.TimeoutNowResponse{}
		default:
			check(fmt.Errorf("raw peer: unexpected rpc type %d", rpcType))
		}
		p.frames <- rec.take()
		check(enc.Encode(errText))
		check(enc.Encode(resp))
		check(w.Flush())
	}
}

func captureClient(out string) []string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	peer := &rawPeer{ln: ln, frames: make(chan []byte, 16)}
	go peer.serve()
	target := raft.ServerAddress(ln.Addr().String())

	trans, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, timeout, ioutil.Discard)
	check(err)
	defer trans.Close()

	hdr := raft.RPCHeader{ProtocolVersion: 3}
	var index []string
	record := func(name, description string, frames int) {
		var all []byte
		for i := 0; i < frames; i++ {
			select {
			case f := <-peer.frames:
				all = append(all, f...)
			case <-time.After(timeout):
				check(fmt.Errorf("%s: no frame received", name))
			}
		}
		writeHex(out, name, all)
		index = append(index, fmt.Sprintf("%s | %s", name, description))
	}

	var aeResp raft.AppendEntriesResponse
	check(trans.AppendEntries("n2", target, &raft.AppendEntriesRequest{RPCHeader: hdr, Term: 5, Leader: []byte(leaderAddr)}, &aeResp))
	record("client-append-heartbeat", "AppendEntries{Term 5, Leader, no entries (nil)}", 1)

	entries := []*raft.Log{
		{Index: 11, Term: 4, Type: raft.LogNoop},
		{Index: 12, Term: 4, Type: raft.LogCommand, Data: pattern(40, 2), Extensions: []byte("x")},
		{Index: 13, Term: 4, Type: raft.LogConfiguration, Data: pattern(300, 5)},
	}
	check(trans.AppendEntries("n2", target, &raft.AppendEntriesRequest{RPCHeader: hdr, Term: 4, Leader: []byte(leaderAddr),
		PrevLogEntry: 10, PrevLogTerm: 3, Entries: entries, LeaderCommitIndex: 9}, &aeResp))
	if aeResp.LastLog != 13 || !aeResp.Success {
		check(fmt.Errorf("client-append-entries: unexpected response %+v", aeResp))
	}
	record("client-append-entries", "AppendEntries{Term 4, PrevLogEntry 10, PrevLogTerm 3, LeaderCommitIndex 9, entries 11 noop, 12 command pattern(40,2) ext \"x\", 13 configuration pattern(300,5)}", 1)

	var rvResp raft.RequestVoteResponse
	check(trans.RequestVote("n2", target, &raft.RequestVoteRequest{RPCHeader: hdr, Term: 70000, Candidate: []byte(leaderAddr),
		LastLogIndex: 5000000000, LastLogTerm: 129, LeadershipTransfer: true}, &rvResp))
	record("client-vote", "RequestVote{Term 70000, Candidate, LastLogIndex 5000000000, LastLogTerm 129, LeadershipTransfer}", 1)

	err = trans.RequestVote("n2", target, &raft.RequestVoteRequest{RPCHeader: hdr, Term: 13, Candidate: []byte(leaderAddr)}, &rvResp)
	if err == nil || err.Error() != cannedError {
		check(fmt.Errorf("client-vote-error: want error %q, got %v", cannedError, err))
	}
	record("client-vote-error", "RequestVote{Term 13, Candidate} (answered \"boom\", nil; the client returned that error)", 1)

	var tnResp raft.TimeoutNowResponse
	check(trans.TimeoutNow("n2", target, &raft.TimeoutNowRequest{RPCHeader: hdr}, &tnResp))
	record("client-timeout-now", "TimeoutNow{}", 1)

	snapshot := append([]byte("SNAPDATA"), pattern(292, 9)...)
	var isResp raft.InstallSnapshotResponse
	check(trans.InstallSnapshot("n2", target, &raft.InstallSnapshotRequest{RPCHeader: hdr, SnapshotVersion: 1, Term: 9,
		Leader: []byte(leaderAddr), LastLogIndex: 1234, LastLogTerm: 8, Configuration: []byte("cfg"), ConfigurationIndex: 7,
		Size: int64(len(snapshot))}, &isResp, bytes.NewReader(snapshot)))
	record("client-install-snapshot", "InstallSnapshot{SnapshotVersion 1, Term 9, LastLogIndex 1234, LastLogTerm 8, Configuration \"cfg\", ConfigurationIndex 7, Size 300} then \"SNAPDATA\"+pattern(292,9)", 1)

	pipe, err := trans.AppendEntriesPipeline("n2", target)
	check(err)
	for i := uint64(0); i < 3; i++ {
		_, err := pipe.AppendEntries(&raft.AppendEntriesRequest{RPCHeader: hdr, Term: 6, Leader: []byte(leaderAddr),
			PrevLogEntry: 20 + i, PrevLogTerm: 6, LeaderCommitIndex: 20,
			Entries: []*raft.Log{{Index: 21 + i, Term: 6, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("cmd-%d", i))}}},
			&raft.AppendEntriesResponse{})
		check(err)
	}
	for i := 0; i < 3; i++ {
		select {
		case f := <-pipe.Consumer():
			check(f.Error())
		case <-time.After(timeout):
			check(errors.New("pipeline: no response"))
		}
	}
	check(pipe.Close())
	record("client-pipeline", "three pipelined AppendEntries{Term 6, PrevLogEntry 20+i, PrevLogTerm 6, LeaderCommitIndex 20, entry 21+i command \"cmd-i\"}, i = 0, 1, 2, back to back", 3)
	return index
}

// ---- 2. server side ------------------------------------------------------------------

func describe(cmd interface{}) string {
	switch c := cmd.(type) {
	case *raft.AppendEntriesRequest:
		var es []string
		for _, e := range c.Entries {
			es = append(es, fmt.Sprintf("{Index:%d Term:%d Type:%d Data:%d bytes Extensions:%d bytes}", e.Index, e.Term, e.Type, len(e.Data), len(e.Extensions)))
		}
		return fmt.Sprintf("AppendEntriesRequest{ProtocolVersion:%d Term:%d Leader:%q PrevLogEntry:%d PrevLogTerm:%d LeaderCommitIndex:%d Entries(nil=%v):[%s]}",
			c.ProtocolVersion, c.Term, c.Leader, c.PrevLogEntry, c.PrevLogTerm, c.LeaderCommitIndex, c.Entries == nil, strings.Join(es, " "))
	case *raft.RequestVoteRequest:
		return fmt.Sprintf("RequestVoteRequest%+v", *c)
	case *raft.InstallSnapshotRequest:
		return fmt.Sprintf("InstallSnapshotRequest{ProtocolVersion:%d SnapshotVersion:%d Term:%d Leader:%q LastLogIndex:%d LastLogTerm:%d Peers:%d bytes Configuration:%d bytes ConfigurationIndex:%d Size:%d}",
			c.ProtocolVersion, c.SnapshotVersion, c.Term, c.Leader, c.LastLogIndex, c.LastLogTerm, len(c.Peers), len(c.Configuration), c.ConfigurationIndex, c.Size)
	case *raft.TimeoutNowRequest:
		return fmt.Sprintf("TimeoutNowRequest%+v", *c)
	}
	return fmt.Sprintf("%T", cmd)
}

// serve answers every RPC of the real server with a canned response derived from the request,
// and reports what it decoded.
func serve(trans *raft.NetworkTransport, decoded chan<- string) {
	for rpc := range trans.Consumer() {
		d := describe(rpc.Command)
		switch c := rpc.Command.(type) {
		case *raft.AppendEntriesRequest:
			rpc.Respond(&raft.AppendEntriesResponse{RPCHeader: raft.RPCHeader{ProtocolVersion: 3}, Term: c.Term,
				LastLog: c.PrevLogEntry + uint64(len(c.Entries)), Success: true, NoRetryBackoff: len(c.Entries) == 0}, nil)
		case *raft.RequestVoteRequest:
			if c.Term == 1 {
				rpc.Respond(nil, errors.New(cannedError))
			} else {
				rpc.Respond(&raft.RequestVoteResponse{RPCHeader: raft.RPCHeader{ProtocolVersion: 3}, Term: c.Term, Granted: c.LeadershipTransfer}, nil)
			}
		case *raft.InstallSnapshotRequest:
			n, err := io.Copy(ioutil.Discard, rpc.Reader)
			check(err)
			d += fmt.Sprintf(" + %d snapshot bytes", n)
			rpc.Respond(&raft.InstallSnapshotResponse{Term: c.Term, Success: n == c.Size}, nil)
		case *raft.TimeoutNowRequest:
			rpc.Respond(&raft.TimeoutNowResponse{}, nil)
		}
		decoded <- d
	}
}

func readHex(path string) []byte {
	text, err := os.ReadFile(path)
	check(err)
	b, err := hex.DecodeString(strings.TrimSpace(string(text)))
	check(err)
	return b
}

func captureServer(golden, out string) []string {
	trans, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, timeout, ioutil.Discard)
	check(err)
	defer trans.Close()
	decoded := make(chan string, 1)
	go serve(trans, decoded)
	addr := string(trans.LocalAddr())

	names, err := filepath.Glob(filepath.Join(golden, "req-*.hex"))
	check(err)
	sort.Strings(names)
	var index []string
	for _, path := range names {
		name := strings.TrimSuffix(filepath.Base(path), ".hex")
		frame := readHex(path)
		conn, err := net.Dial("tcp", addr)
		check(err)
		check(conn.SetDeadline(time.Now().Add(timeout)))
		outName := "server-" + strings.TrimPrefix(name, "req-")
		if frame[0] == 2 {
			// The snapshot's bytes follow the request; 1.1.2 hands raft a LimitReader over
			// them. Only sizes that fit a test are sent.
			var req raft.InstallSnapshotRequest
			check(codec.NewDecoderBytes(frame[1:], &codec.MsgpackHandle{}).Decode(&req))
			if req.Size > 1<<20 {
				conn.Close()
				index = append(index, fmt.Sprintf("%s | not sent: Size %d", outName, req.Size))
				continue
			}
			if req.Size > 0 {
				frame = append(frame, pattern(int(req.Size), 9)...)
			}
		}
		_, err = conn.Write(frame)
		check(err)

		rec := &recorder{r: bufio.NewReader(conn)}
		dec := codec.NewDecoder(rec, &codec.MsgpackHandle{})
		var errText string
		if err := dec.Decode(&errText); err != nil {
			// RequestPreVote: 1.1.2 does not know type 4 and closes the connection.
			conn.Close()
			writeHex(out, outName, rec.take())
			index = append(index, fmt.Sprintf("%s | connection closed without a reply (%v)", outName, err))
			continue
		}
		var resp interface{}
		switch frame[0] {
		case 0:
			resp = &raft.AppendEntriesResponse{}
		case 1:
			resp = &raft.RequestVoteResponse{}
		case 2:
			resp = &raft.InstallSnapshotResponse{}
		case 3:
			resp = &raft.TimeoutNowResponse{}
		}
		check(dec.Decode(resp))
		conn.Close()
		writeHex(out, outName, rec.take())
		var d string
		select {
		case d = <-decoded:
		case <-time.After(timeout):
			check(fmt.Errorf("%s: the server decoded nothing", name))
		}
		index = append(index, fmt.Sprintf("%s | sent %s; 1.1.2 decoded %s; answered %q + %+v", outName, name, d, errText, resp))
	}

	// An unknown type byte: the server closes the connection.
	conn, err := net.Dial("tcp", addr)
	check(err)
	check(conn.SetDeadline(time.Now().Add(timeout)))
	_, err = conn.Write([]byte{9, 0x80})
	check(err)
	rest, err := ioutil.ReadAll(conn)
	conn.Close()
	writeHex(out, "server-unknown-type", rest)
	index = append(index, fmt.Sprintf("server-unknown-type | sent 09 80; connection closed after %d bytes (err %v)", len(rest), err))
	return index
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: capture <golden directory> <output directory>")
		os.Exit(2)
	}
	golden, out := os.Args[1], os.Args[2]
	check(os.MkdirAll(out, 0o755))
	index := captureClient(out)
	index = append(index, captureServer(golden, out)...)
	text := "# capture | what was sent and received (hashicorp/raft 1.1.2 NetworkTransport over TCP)\n" + strings.Join(index, "\n") + "\n"
	check(os.WriteFile(filepath.Join(out, "index.txt"), []byte(text), 0o644))
	fmt.Printf("wrote %d captures to %s\n", len(index), out)
}
