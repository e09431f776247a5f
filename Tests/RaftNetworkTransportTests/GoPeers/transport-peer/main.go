// transport-peer: a bare hashicorp/raft NetworkTransport (Debian's golang-github-hashicorp-raft-dev,
// no Raft on top) for the transport-level interoperability tests of InstallSnapshot and
// TimeoutNow, in both directions.
//
//   transport-peer serve [-bind 127.0.0.1:0]
//       Prints "listening ADDR", then one line per RPC received and answered:
//       "installSnapshot term=T leader=L lastLogIndex=I lastLogTerm=T configurationIndex=C
//        servers=ID@ADDR;... size=S read=R digest=D" (answers Success=true, Term=T) or
//       "timeoutNow protocolVersion=V". Exits when stdin closes.
//   transport-peer send -target ADDR -rpc installSnapshot|timeoutNow [-size N] [-term T]
//       Sends one RPC and prints "ok success=S term=T" or "error: ...". The snapshot's byte i
//       is (i*31+7) mod 256; its digest is FNV-1a 64 over the bytes.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"io/ioutil"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

func snapshotBytes(size int) []byte {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte((i*31 + 7) % 256)
	}
	return data
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: transport-peer serve|send ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "send":
		send(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: transport-peer serve|send ...")
		os.Exit(2)
	}
}

func serve(args []string) {
	flags := flag.NewFlagSet("serve", flag.ExitOnError)
	bind := flags.String("bind", "127.0.0.1:0", "address to listen on")
	flags.Parse(args)
	transport, err := raft.NewTCPTransport(*bind, nil, 3, 5*time.Second, ioutil.Discard)
	if err != nil {
		fmt.Fprintf(os.Stderr, "transport: %v\n", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "listening %s\n", transport.LocalAddr())
	out.Flush()
	go func() {
		io.Copy(ioutil.Discard, os.Stdin)
		transport.Close()
		os.Exit(0)
	}()
	for rpc := range transport.Consumer() {
		switch request := rpc.Command.(type) {
		case *raft.InstallSnapshotRequest:
			hash := fnv.New64a()
			read, err := io.Copy(hash, rpc.Reader)
			configuration := raft.DecodeConfiguration(request.Configuration)
			var servers []string
			for _, server := range configuration.Servers {
				servers = append(servers, fmt.Sprintf("%s@%s", server.ID, server.Address))
			}
			fmt.Fprintf(out, "installSnapshot term=%d leader=%s lastLogIndex=%d lastLogTerm=%d configurationIndex=%d servers=%s size=%d read=%d digest=%d\n",
				request.Term, request.Leader, request.LastLogIndex, request.LastLogTerm, request.ConfigurationIndex,
				strings.Join(servers, ";"), request.Size, read, hash.Sum64())
			out.Flush()
			rpc.Respond(&raft.InstallSnapshotResponse{Term: request.Term, Success: err == nil && read == request.Size}, nil)
		case *raft.TimeoutNowRequest:
			fmt.Fprintf(out, "timeoutNow protocolVersion=%d\n", request.ProtocolVersion)
			out.Flush()
			rpc.Respond(&raft.TimeoutNowResponse{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax}}, nil)
		default:
			rpc.Respond(nil, fmt.Errorf("transport-peer answers only InstallSnapshot and TimeoutNow"))
		}
	}
}

func send(args []string) {
	flags := flag.NewFlagSet("send", flag.ExitOnError)
	target := flags.String("target", "", "address of the peer")
	kind := flags.String("rpc", "installSnapshot", "installSnapshot or timeoutNow")
	size := flags.Int("size", 1<<20, "snapshot size in bytes")
	term := flags.Uint64("term", 7, "term to send")
	flags.Parse(args)
	transport, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 5*time.Second, ioutil.Discard)
	if err != nil {
		fmt.Printf("error: transport: %v\n", err)
		os.Exit(1)
	}
	defer transport.Close()
	header := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax}
	switch *kind {
	case "installSnapshot":
		configuration := raft.Configuration{Servers: []raft.Server{
			{Suffrage: raft.Voter, ID: "go-1", Address: "127.0.0.1:1001"},
			{Suffrage: raft.Nonvoter, ID: "go-2", Address: "127.0.0.1:1002"},
		}}
		request := raft.InstallSnapshotRequest{
			RPCHeader:          header,
			SnapshotVersion:    1,
			Term:               *term,
			Leader:             []byte(transport.LocalAddr()),
			LastLogIndex:       1234,
			LastLogTerm:        *term - 1,
			Configuration:      raft.EncodeConfiguration(configuration),
			ConfigurationIndex: 1200,
			Size:               int64(*size),
		}
		var response raft.InstallSnapshotResponse
		err = transport.InstallSnapshot("swift", raft.ServerAddress(*target), &request, &response, bytes.NewReader(snapshotBytes(*size)))
		if err != nil {
			fmt.Printf("error: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("ok success=%v term=%d\n", response.Success, response.Term)
	case "timeoutNow":
		var response raft.TimeoutNowResponse
		err = transport.TimeoutNow("swift", raft.ServerAddress(*target), &raft.TimeoutNowRequest{RPCHeader: header}, &response)
		if err != nil {
			fmt.Printf("error: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("ok protocolVersion=%d\n", response.ProtocolVersion)
	default:
		fmt.Printf("error: unknown rpc %q\n", *kind)
		os.Exit(2)
	}
}
