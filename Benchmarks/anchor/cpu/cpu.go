// Package cpu samples how much CPU this process and the whole machine used, so every anchor
// result says how busy the machine was around it (the same fields raft-bench prints).
package cpu

import (
	"io/ioutil"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sample is one reading of the process's and the machine's CPU time.
type Sample struct {
	at       time.Time
	self     time.Duration
	hostBusy uint64
	hostAll  uint64
}

// Take reads the process's user+system time and the machine's busy and total jiffies.
func Take() Sample {
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	self := time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
	busy, all := hostJiffies()
	return Sample{at: time.Now(), self: self, hostBusy: busy, hostAll: all}
}

// Sub is the wall time between an earlier sample and this one.
func (s Sample) Sub(earlier Sample) time.Duration { return s.at.Sub(earlier.at) }

// Usage between two samples, as percent of one core: this process, and everything else.
func Usage(from, to Sample) (selfPct, otherPct float64) {
	wall := to.at.Sub(from.at).Seconds()
	if wall <= 0 {
		return 0, 0
	}
	selfPct = 100 * (to.self - from.self).Seconds() / wall
	if to.hostAll > from.hostAll {
		hostPct := 100 * float64(runtime.NumCPU()) * float64(to.hostBusy-from.hostBusy) / float64(to.hostAll-from.hostAll)
		otherPct = hostPct - selfPct
		if otherPct < 0 {
			otherPct = 0
		}
	}
	return selfPct, otherPct
}

// hostJiffies reads /proc/stat's first line: busy (all but idle and iowait) and total jiffies.
func hostJiffies() (busy, all uint64) {
	data, err := ioutil.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line := strings.SplitN(string(data), "\n", 2)[0]
	for i, field := range strings.Fields(line)[1:] {
		value, _ := strconv.ParseUint(field, 10, 64)
		all += value
		if i != 3 && i != 4 { // idle, iowait
			busy += value
		}
	}
	return busy, all
}
