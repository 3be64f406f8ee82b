package main

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkColdStart measures `hookd serve` from exec to the first 200 of /readyz on a fresh database
// (migrations included), and the resident memory 2 s later at idle (sender running, nothing to do).
//
//	go test -run '^$' -bench BenchmarkColdStart -benchtime 5x ./cmd/hookd/
func BenchmarkColdStart(b *testing.B) {
	for _, bk := range backends() {
		b.Run(bk.name, func(b *testing.B) {
			var total time.Duration
			var rss int64
			for b.Loop() {
				b.StopTimer()
				args := bk.args(b)
				b.StartTimer()
				start := time.Now()
				p := startHookd(b, "hk_bench_cold_start_key_0123456789", args...)
				for {
					if resp, err := http.Get(p.baseURL + "/readyz"); err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							break
						}
					}
					time.Sleep(time.Millisecond)
				}
				total += time.Since(start)
				b.StopTimer()
				time.Sleep(2 * time.Second)
				rss = max(rss, processRSS(p.cmd.Process.Pid))
				if err := p.stop(syscall.SIGTERM); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/start")
			b.ReportMetric(float64(rss)/(1<<20), "MiB-idle-RSS")
		})
	}
}

// processRSS reads VmRSS of a process in bytes.
func processRSS(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}
