package acctest

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProviderUsage is the memory of the provider processes of one terraform
// run, read from /proc (Linux).
type ProviderUsage struct {
	// Processes is how many provider processes terraform started.
	Processes int
	// PeakRSS is the largest VmHWM (peak resident set) of any of them, in
	// bytes, as last read before it exited.
	PeakRSS int64
	// CPU is the user and system time of all of them, as last read.
	CPU time.Duration
	// Samples is how many times /proc was read.
	Samples int
}

// pollInterval is how often WatchProviders reads /proc.
const pollInterval = 10 * time.Millisecond

// WatchProviders polls the descendants of pid whose command is name (as
// /proc/<pid>/comm shows it: the first 15 bytes) every 10ms and keeps each
// one's VmHWM until the returned function is called. VmHWM only grows, so
// the last reading before a process exits is its peak but for what it
// added in its last 10ms.
func WatchProviders(pid int, name string) func() ProviderUsage {
	comm := name
	if len(comm) > 15 {
		comm = comm[:15]
	}
	stop := make(chan struct{})
	var (
		mu    sync.Mutex
		usage ProviderUsage
		wg    sync.WaitGroup
	)
	peaks := map[int]int64{}
	cpu := map[int]time.Duration{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(pollInterval)
		defer t.Stop()
		for {
			for _, p := range descendants(pid) {
				if readComm(p) != comm {
					continue
				}
				if hwm, ok := readHWM(p); ok {
					mu.Lock()
					peaks[p] = max(peaks[p], hwm)
					mu.Unlock()
				}
				if t, ok := readCPU(p); ok {
					mu.Lock()
					cpu[p] = max(cpu[p], t)
					mu.Unlock()
				}
			}
			mu.Lock()
			usage.Samples++
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() ProviderUsage {
		close(stop)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		usage.Processes = len(peaks)
		for _, v := range peaks {
			usage.PeakRSS = max(usage.PeakRSS, v)
		}
		for _, v := range cpu {
			usage.CPU += v
		}
		return usage
	}
}

// descendants lists the processes below pid.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q, hops := parent[p], 0; q > 1 && hops < 16; q, hops = parent[q], hops+1 {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func readComm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readHWM is VmHWM of /proc/<pid>/status, in bytes.
func readHWM(pid int) (int64, bool) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// readCPU is utime + stime of /proc/<pid>/stat (clock ticks of 10ms, the
// USER_HZ of every Linux the tests run on).
func readCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+st) * 10 * time.Millisecond, true
}
