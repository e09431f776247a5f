// Command make-hashicorp-snapshot writes one snapshot with hashicorp/raft's own
// FileSnapshotStore, so swift-raft's FileSnapshotStore can be tested against the real
// on-disk layout rather than against its authors' reading of it.
//
// Usage: make-hashicorp-snapshot <base directory>
//
// It creates <base>/snapshots/<term>-<index>-<unix ms>/{meta.json,state.bin}. Everything
// but the unix-ms part of the ID is fixed, so the Swift tests can check every field and
// regenerate the expected state bytes. See ../README.md for how to build and run it.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/raft"
)

const (
	// stateSize is not a multiple of any buffer size on either side, so partial
	// buffers are exercised when writing and when reading back.
	stateSize = 12345
	// chunkSize is the size of each Write, smaller than bufio's 4096-byte buffer so
	// the sink's buffering is what assembles the file.
	chunkSize = 1000

	snapshotIndex      = 1234
	snapshotTerm       = 5
	configurationIndex = 17
)

// stateBytes is the snapshot's content: the top byte of each step of the 32-bit LCG
// x = x*1664525 + 1013904223 starting from x = 1 (Numerical Recipes' constants).
// The Swift tests compute the same sequence.
func stateBytes() []byte {
	out := make([]byte, stateSize)
	x := uint32(1)
	for i := range out {
		x = x*1664525 + 1013904223
		out[i] = byte(x >> 24)
	}
	return out
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: make-hashicorp-snapshot <base directory>")
		os.Exit(2)
	}
	store, err := raft.NewFileSnapshotStore(os.Args[1], 1, os.Stderr)
	if err != nil {
		fail("open store", err)
	}

	configuration := raft.Configuration{Servers: []raft.Server{
		{Suffrage: raft.Voter, ID: "n1", Address: "127.0.0.1:7000"},
		{Suffrage: raft.Voter, ID: "n2", Address: "127.0.0.1:7001"},
		{Suffrage: raft.Nonvoter, ID: "n3", Address: "127.0.0.1:7002"},
	}}
	// The transport only supplies EncodePeer for the legacy Peers field; the in-memory
	// one encodes an address as its bytes, as NetworkTransport does.
	_, transport := raft.NewInmemTransport("127.0.0.1:7000")

	sink, err := store.Create(1, snapshotIndex, snapshotTerm, configuration, configurationIndex, transport)
	if err != nil {
		fail("create", err)
	}
	state := stateBytes()
	for start := 0; start < len(state); start += chunkSize {
		end := start + chunkSize
		if end > len(state) {
			end = len(state)
		}
		if _, err := sink.Write(state[start:end]); err != nil {
			fail("write", err)
		}
	}
	if err := sink.Close(); err != nil {
		fail("close", err)
	}
	fmt.Println(sink.ID())
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}
