//go:build bench

// Package fleet is the fleet benchmark of scanning-at-scale: N images (some
// sharing base layers), W worker processes in parallel, each with an empty
// cache_dir, local mode versus server mode.
//
// A worker is what a CI runner or an HCP Terraform agent does: the real
// terraform CLI runs `terraform plan` on bench/testdata/fleet (one
// `data "imageguard_scan"` per image, enforcement = "warn") with the built
// provider (dev_overrides, no init) and an empty cache_dir.
//
//   - local mode: vulnerability_db { repositories = [the database through
//     this worker's proxy], cache_dir = <empty> };
//   - server mode: the same, plus scanner_server { url, token,
//     fleet_cache_key } (one key for all workers: they share analyses) pointing at
//     one `trivy server` (the real CLI, bench/bin/trivy, with the database
//     copied into its --cache-dir and --skip-db-update; its layer cache
//     starts empty for every run). The database repository stays configured
//     and reachable, so "0 database bytes" means the provider chose not to
//     download it.
//
// Images and the database live in one registry (Debian's docker-registry on
// 127.0.0.1, or the in-process registry of the test harness). Every worker
// reaches it through its own counting reverse proxy on its own loopback
// port, and the trivy server through another one, so every request and byte
// is attributed to the worker that made it.
//
// Variants (-variants name:stagger[:parallelism]): the workers start
// together ("parallel") or worker i starts i×stagger after the first
// ("staggered"), each plan with terraform's default -parallelism=10 (all
// ten data sources read at once) or -parallelism=1 (one image after the
// other): the "-p1" variants separate races between the data sources of
// one plan from races between workers. -reps repeats every variant.
//
// It prints per-worker tables (wall time, database bytes, image-layer
// bytes, layer GETs, trivy server calls), a per-layer table of GETs across
// the fleet, and checks the target: in server mode no worker downloads
// database bytes and no distinct layer is fetched more than once
// fleet-wide. TestFleet (bench/fleet.sh runs it) fails when a variant does
// not meet it, or on an error.
package fleet

import (
	"encoding/base64"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imageguard/terraform-provider-imageguard/bench/internal/benchkit"
	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

const (
	dbRepo     = "aquasecurity/trivy-db"
	dbRepoTag  = dbRepo + ":2"
	token      = "fleet-bench-token-5e1c"
	fakeAWSKey = "AKIA2E0A8F3B244C9986" // not a real key (as in the scan tests)
)

type variant struct {
	name        string
	stagger     time.Duration
	parallelism int
}

func parseVariants(s string) ([]variant, error) {
	var out []variant
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), ":")
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("variant %q: want name:stagger[:parallelism]", part)
		}
		d, err := time.ParseDuration(f[1])
		if err != nil {
			return nil, fmt.Errorf("variant %q: %w", part, err)
		}
		v := variant{name: f[0], stagger: d, parallelism: 10}
		if len(f) == 3 {
			if v.parallelism, err = strconv.Atoi(f[2]); err != nil || v.parallelism < 1 {
				return nil, fmt.Errorf("variant %q: bad parallelism", part)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// ---------------------------------------------------------------- fixtures

type layerInfo struct {
	name   string
	digest string
	size   int64
	images []string
}

type fleetImage struct {
	key     string // app-00
	repoTag string // fleet/app-00:1
	layers  []string
}

type fixture struct {
	images    []fleetImage
	layers    map[string]*layerInfo // by digest
	order     []string              // layer digests in a stable order
	configs   map[string]string     // config digest -> image key
	dbArchive int64
	dbRaw     int64
}

func randomBytes(seed uint64, n int) string {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return string(b)
}

// binaryLayer is a layer holding one incompressible file (a shared runtime
// or an application binary): real bytes to download, nothing for Trivy to
// find in it.
func binaryLayer(dir, file string, seed uint64, n int) v1.Layer {
	return acctest.Layer(acctest.File{Path: dir + "/"}, acctest.File{Path: dir + "/" + file, Content: randomBytes(seed, n)})
}

// buildImages makes n images: i%10 in 0-2 Alpine (vulnerable musl), 3-5
// Alpine with a shared node_modules layer (lodash), 6-9 Debian. Every group
// shares its OS layer and a runtime layer of runtimeBytes; every image has
// its own app layer of appBytes (image 5's holds a fake AWS key).
func buildImages(n, runtimeBytes, appBytes int) ([]fleetImage, map[string]v1.Image, map[string]*layerInfo, []string) {
	named := map[string]v1.Layer{
		"alpine-os (musl 1.2.5-r0)": acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"}, acctest.Package{Name: "busybox", Version: "1.36.1-r29"}),
		"alpine-os (musl 1.2.5-r1)": acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}, acctest.Package{Name: "busybox", Version: "1.36.1-r30"}),
		"alpine-runtime":            binaryLayer("usr/lib", "libruntime.so.1", 1, runtimeBytes),
		"node-modules (lodash)":     acctest.NpmLayer("srv", acctest.Package{Name: "lodash", Version: "4.17.20"}, acctest.Package{Name: "express", Version: "4.21.2"}),
		"debian-os":                 acctest.DebianLayer("12", acctest.Package{Name: "libc6", Version: "2.36-9+deb12u4", Source: "glibc"}, acctest.Package{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib"}),
		"debian-runtime":            binaryLayer("usr/lib/x86_64-linux-gnu", "libruntime.so.1", 2, runtimeBytes),
	}
	var images []fleetImage
	built := map[string]v1.Image{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("app-%02d", i)
		var names []string
		switch g := i % 10; {
		case g < 3:
			names = []string{"alpine-os (musl 1.2.5-r0)", "alpine-runtime"}
		case g < 6:
			names = []string{"alpine-os (musl 1.2.5-r1)", "alpine-runtime", "node-modules (lodash)"}
		default:
			names = []string{"debian-os", "debian-runtime"}
		}
		files := []acctest.File{{Path: "app/"}, {Path: "app/id", Content: key + "\n"}, {Path: "app/server", Content: randomBytes(uint64(100+i), appBytes)}}
		if i%10 == 5 {
			files = append(files, acctest.File{Path: "app/config.env", Content: "region=eu-west-1\naws_access_key_id=" + fakeAWSKey + "\n"})
		}
		appName := "app layer of " + key
		named[appName] = acctest.Layer(files...)
		names = append(names, appName)
		var layers []v1.Layer
		for _, nm := range names {
			layers = append(layers, named[nm])
		}
		built[key] = acctest.Image(acctest.Config{User: "1000"}, layers...)
		images = append(images, fleetImage{key: key, repoTag: "fleet/" + key + ":1", layers: names})
	}
	infos := map[string]*layerInfo{}
	var order []string
	byName := map[string]*layerInfo{}
	for _, img := range images {
		for _, nm := range img.layers {
			li := byName[nm]
			if li == nil {
				l := named[nm]
				d, err := l.Digest()
				if err != nil {
					panic(err)
				}
				sz, err := l.Size()
				if err != nil {
					panic(err)
				}
				li = &layerInfo{name: nm, digest: d.String(), size: sz}
				byName[nm] = li
				infos[li.digest] = li
				order = append(order, li.digest)
			}
			li.images = append(li.images, img.key)
		}
	}
	// Shared layers first, then by name.
	sort.SliceStable(order, func(a, b int) bool {
		la, lb := infos[order[a]], infos[order[b]]
		if (len(la.images) > 1) != (len(lb.images) > 1) {
			return len(la.images) > 1
		}
		return la.name < lb.name
	})
	return images, built, infos, order
}

// fillerYAML is a bolt-fixtures bucket of incompressible base64 strings,
// about compressed bytes after gzip: it makes the fixture database as big
// to download as asked, without changing what it detects.
func fillerYAML(compressed int) string {
	if compressed <= 0 {
		return ""
	}
	const entry = 4096 // base64 chars per value (3 KiB of random bytes)
	n := compressed / (entry * 3 / 4)
	var b strings.Builder
	b.WriteString("- bucket: imageguard-bench-filler\n  pairs:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "    - key: F-%06d\n      value: %q\n", i, base64.StdEncoding.EncodeToString([]byte(randomBytes(uint64(1_000_000+i), entry*3/4))))
	}
	return b.String()
}

// ---------------------------------------------------------------- runs

type worker struct {
	idx       int
	regProxy  *acctest.Proxy
	srvProxy  *acctest.Proxy
	dir       string
	plan      acctest.CLIResult
	outputs   *benchkit.Outputs
	outputErr error
}

type modeRun struct {
	variant variant
	mode    string // local | server
	workers []*worker
	start   time.Time
	wall    time.Duration
	server  *acctest.Proc
}

type env struct {
	tb        testing.TB
	work      string
	trivy     string
	tf        *acctest.TerraformRunner
	backend   string // host:port of the registry
	fx        *fixture
	serverDB  string // trivy.db for the trivy servers
	dbTime    time.Time
	nWorkers  int
	tfTimeout time.Duration
}

func (e *env) run(v variant, mode string, rep int) *modeRun {
	base := filepath.Join(e.work, fmt.Sprintf("%s-%d-%s", v.name, rep, mode))
	if err := os.MkdirAll(base, 0o700); err != nil {
		e.tb.Fatal(err)
	}
	mr := &modeRun{variant: v, mode: mode}
	var serverURL string
	if mode == "server" {
		cache := filepath.Join(base, "trivy-server-cache")
		acctest.InstallTrivyDB(e.tb, e.serverDB, cache, e.dbTime)
		serverURL, mr.server = acctest.StartTrivyServer(e.tb, e.trivy, cache, token, filepath.Join(base, "trivy-server.log"))
		defer mr.server.Stop()
	}
	for i := 0; i < e.nWorkers; i++ {
		w := &worker{idx: i, dir: filepath.Join(base, fmt.Sprintf("w%d", i))}
		w.regProxy = acctest.StartProxy(e.tb, fmt.Sprintf("w%d-registry", i), "http://"+e.backend)
		cache := filepath.Join(w.dir, "cache")
		if err := os.MkdirAll(cache, 0o700); err != nil {
			e.tb.Fatal(err)
		}
		images := map[string]string{}
		for _, img := range e.fx.images {
			images[img.key] = w.regProxy.Host + "/" + img.repoTag
		}
		vars := map[string]any{
			"images":        images,
			"cache_dir":     cache,
			"db_repository": w.regProxy.Host + "/" + dbRepoTag,
		}
		if mode == "server" {
			w.srvProxy = acctest.StartProxy(e.tb, fmt.Sprintf("w%d-trivy", i), serverURL)
			vars["scanner_url"] = "http://" + w.srvProxy.Host
			vars["scanner_token"] = token
			// The bench's workers are one trust domain: they share layer
			// analyses on the server (without it, each worker analyses
			// every layer itself, and the fleet-wide target cannot hold).
			vars["fleet_cache_key"] = "bench-fleet-key-6b0d2f4a8c1e3a5c7e9f0b2d"
		}
		acctest.Workspace(e.tb, benchkit.FleetWorkspace, filepath.Join(w.dir, "ws"), vars)
		mr.workers = append(mr.workers, w)
	}

	var wg sync.WaitGroup
	mr.start = time.Now()
	for _, w := range mr.workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			time.Sleep(time.Duration(w.idx) * v.stagger)
			w.plan = e.tf.Run(filepath.Join(w.dir, "ws"), acctest.RunOptions{Timeout: e.tfTimeout},
				"plan", "-input=false", "-no-color", "-lock=false", fmt.Sprintf("-parallelism=%d", v.parallelism), "-out=tfplan")
		}(w)
	}
	wg.Wait()
	for _, w := range mr.workers {
		if end := w.plan.Start.Add(w.plan.Wall).Sub(mr.start); end > mr.wall {
			mr.wall = end
		}
	}
	for _, w := range mr.workers {
		w.regProxy.Close()
		if w.srvProxy != nil {
			w.srvProxy.Close()
		}
	}
	// Outside the timing: read what each plan found.
	for _, w := range mr.workers {
		if w.plan.OK() {
			w.outputs, w.outputErr = benchkit.PlanOutputs(e.tf, filepath.Join(w.dir, "ws"), "tfplan")
		}
	}
	return mr
}

// ---------------------------------------------------------------- counting

type regPath struct {
	repo, kind, ref string // kind: blobs | manifests | other
}

func parseRegPath(p string) regPath {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return regPath{kind: "other"}
	}
	for _, k := range []string{"/blobs/", "/manifests/"} {
		if i := strings.LastIndex(rest, k); i >= 0 {
			return regPath{repo: rest[:i], kind: strings.Trim(k, "/"), ref: rest[i+len(k):]}
		}
	}
	return regPath{kind: "other"}
}

type workerCounts struct {
	dbBytes, dbReqs          int64
	layerBytes, layerGETs    int64
	layerHEADs               int64
	configBytes, configGETs  int64
	manifestBytes, manifests int64
	otherBytes, otherReqs    int64
	non2xx                   int64
	layerGETsByDigest        map[string]int
	// trivy server calls, by method name
	rpc        map[string]int
	rpcUpBytes int64
	rpcDnBytes int64
}

func (e *env) count(w *worker) workerCounts {
	c := workerCounts{layerGETsByDigest: map[string]int{}, rpc: map[string]int{}}
	for _, ev := range w.regProxy.Events() {
		p := parseRegPath(ev.Path)
		if ev.Status >= 300 && ev.Status != http304 {
			c.non2xx++
		}
		switch {
		case p.repo == dbRepo:
			c.dbBytes += ev.RespBytes
			c.dbReqs++
		case p.kind == "manifests":
			c.manifestBytes += ev.RespBytes
			c.manifests++
		case p.kind == "blobs" && e.fx.layers[p.ref] != nil:
			if ev.Method == "GET" {
				c.layerGETs++
				c.layerGETsByDigest[p.ref]++
			} else {
				c.layerHEADs++
			}
			c.layerBytes += ev.RespBytes
		case p.kind == "blobs" && e.fx.configs[p.ref] != "":
			if ev.Method == "GET" {
				c.configGETs++
			}
			c.configBytes += ev.RespBytes
		default:
			c.otherBytes += ev.RespBytes
			c.otherReqs++
		}
	}
	if w.srvProxy != nil {
		for _, ev := range w.srvProxy.Events() {
			m := ev.Path[strings.LastIndex(ev.Path, "/")+1:]
			c.rpc[m]++
			c.rpcUpBytes += ev.ReqBytes
			c.rpcDnBytes += ev.RespBytes
		}
	}
	return c
}

const http304 = 304

// stats is what one run of one mode measured.
type stats struct {
	perWorker []workerCounts
	fleet     workerCounts
	// redundant layer GETs: by a worker re-fetching a layer it had fetched
	// itself (intra), and by further workers (inter).
	intra, inter int
	dups         []string // layers fetched more than once fleet-wide
	meanWall     time.Duration
	targetOK     bool
	why          []string
	errs         []string
}

func (e *env) measure(mr *modeRun) stats {
	st := stats{fleet: workerCounts{layerGETsByDigest: map[string]int{}, rpc: map[string]int{}}}
	for _, w := range mr.workers {
		c := e.count(w)
		st.perWorker = append(st.perWorker, c)
		st.meanWall += w.plan.Wall / time.Duration(len(mr.workers))
		if !w.plan.OK() {
			st.errs = append(st.errs, fmt.Sprintf("%s/%s worker %d: %s", mr.variant.name, mr.mode, w.idx, benchkit.Tail(w.plan.String(), 3000)))
		} else if w.outputErr != nil {
			st.errs = append(st.errs, fmt.Sprintf("%s/%s worker %d: reading the plan's outputs: %v", mr.variant.name, mr.mode, w.idx, w.outputErr))
		}
		f := &st.fleet
		f.dbBytes += c.dbBytes
		f.dbReqs += c.dbReqs
		f.layerBytes += c.layerBytes
		f.layerGETs += c.layerGETs
		f.configGETs += c.configGETs
		f.configBytes += c.configBytes
		f.manifests += c.manifests
		f.manifestBytes += c.manifestBytes
		f.otherBytes += c.otherBytes
		f.non2xx += c.non2xx
		f.rpcUpBytes += c.rpcUpBytes
		for d, n := range c.layerGETsByDigest {
			f.layerGETsByDigest[d] += n
		}
		for m, n := range c.rpc {
			f.rpc[m] += n
		}
	}
	for _, d := range e.fx.order {
		by := 0
		for _, c := range st.perWorker {
			n := c.layerGETsByDigest[d]
			if n > 0 {
				by++
			}
			if n > 1 {
				st.intra += n - 1
			}
		}
		if by > 1 {
			st.inter += by - 1
		}
		if n := st.fleet.layerGETsByDigest[d]; n > 1 {
			st.dups = append(st.dups, fmt.Sprintf("%s ×%d", e.fx.layers[d].name, n))
		}
	}
	if mr.mode == "server" {
		st.targetOK = len(st.errs) == 0
		for i, c := range st.perWorker {
			if c.dbBytes > 0 {
				st.targetOK = false
				st.why = append(st.why, fmt.Sprintf("w%d downloaded %s of database", mr.workers[i].idx, benchkit.MiB(c.dbBytes)))
			}
		}
		if len(st.dups) > 0 {
			st.targetOK = false
			st.why = append(st.why, fmt.Sprintf("%d of %d distinct layers were fetched more than once fleet-wide (%d GETs for %d layers): %d redundant GETs by a worker re-fetching a layer it had fetched itself — concurrent data sources of one plan, each told by MissingBlobs that the layer is missing before any of them uploaded it — and %d by further workers racing on the same cold layer",
				len(st.dups), len(st.fleet.layerGETsByDigest), st.fleet.layerGETs, len(st.fleet.layerGETsByDigest), st.intra, st.inter))
		}
	}
	return st
}

func (e *env) report(mr *modeRun, st stats) {
	fmt.Printf("\n== %s / %s mode: %d workers, stagger %s, terraform -parallelism=%d\n", mr.variant.name, mr.mode, len(mr.workers), mr.variant.stagger, mr.variant.parallelism)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := "WORKER\tSTART\tWALL\tDB BYTES (reqs)\tLAYER BYTES\tLAYER GETs\tDISTINCT LAYERS\tCONFIG GETs\tMANIFEST reqs\tTOTAL BYTES"
	if mr.mode == "server" {
		hdr += "\tMissingBlobs\tPutBlob\tPutArtifact\tScan\tUPLOADED"
	}
	fmt.Fprintln(tw, hdr+"\t")
	row := func(name, start, wall string, c workerCounts) {
		total := c.dbBytes + c.layerBytes + c.configBytes + c.manifestBytes + c.otherBytes
		r := fmt.Sprintf("%s\t%s\t%s\t%s (%d)\t%s\t%d\t%d\t%d\t%d\t%s", name, start, wall,
			benchkit.MiB(c.dbBytes), c.dbReqs, benchkit.MiB(c.layerBytes), c.layerGETs, len(c.layerGETsByDigest), c.configGETs, c.manifests, benchkit.MiB(total))
		if mr.mode == "server" {
			r += fmt.Sprintf("\t%d\t%d\t%d\t%d\t%s", c.rpc["MissingBlobs"], c.rpc["PutBlob"], c.rpc["PutArtifact"], c.rpc["Scan"], benchkit.MiB(c.rpcUpBytes))
		}
		fmt.Fprintln(tw, r+"\t")
	}
	for i, w := range mr.workers {
		row(fmt.Sprintf("w%d", w.idx), "+"+benchkit.Secs(w.plan.Start.Sub(mr.start)), benchkit.Secs(w.plan.Wall), st.perWorker[i])
	}
	row("fleet", "", benchkit.Secs(mr.wall), st.fleet)
	_ = tw.Flush()
	if st.fleet.non2xx > 0 {
		fmt.Printf("note: %d registry answers were not 2xx/304\n", st.fleet.non2xx)
	}

	// Per layer: who fetched it how often. The app layers (one per image)
	// are summed in one row.
	lt := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	h := "LAYER\tSIZE\tIN IMAGES"
	for _, w := range mr.workers {
		h += fmt.Sprintf("\tw%d", w.idx)
	}
	fmt.Fprintln(lt, h+"\tFLEET GETs\tFETCHED BY\t")
	var appSize int64
	var apps, appFleet, appMaxBy int
	appPer := make([]int, len(mr.workers))
	for _, d := range e.fx.order {
		li := e.fx.layers[d]
		by := 0
		counts := make([]int, len(mr.workers))
		for i := range mr.workers {
			counts[i] = st.perWorker[i].layerGETsByDigest[d]
			if counts[i] > 0 {
				by++
			}
		}
		if len(li.images) == 1 {
			apps++
			appSize += li.size
			appFleet += st.fleet.layerGETsByDigest[d]
			appMaxBy = max(appMaxBy, by)
			for i, n := range counts {
				appPer[i] += n
			}
			continue
		}
		line := fmt.Sprintf("%s\t%s\t%d", li.name, benchkit.MiB(li.size), len(li.images))
		for _, n := range counts {
			line += fmt.Sprintf("\t%d", n)
		}
		fmt.Fprintf(lt, "%s\t%d\t%d worker(s)\t\n", line, st.fleet.layerGETsByDigest[d], by)
	}
	if apps > 0 {
		line := fmt.Sprintf("%d app layers, one per image (sum)\t%s\t1 each", apps, benchkit.MiB(appSize))
		for _, n := range appPer {
			line += fmt.Sprintf("\t%d", n)
		}
		fmt.Fprintf(lt, "%s\t%d\tup to %d worker(s)\t\n", line, appFleet, appMaxBy)
	}
	_ = lt.Flush()
	fmt.Printf("layer GETs: %d for %d distinct layers (of %d); %d redundant: %d by a worker re-fetching a layer it had fetched itself, %d by further workers fetching a layer another worker had fetched\n",
		st.fleet.layerGETs, len(st.fleet.layerGETsByDigest), len(e.fx.layers), st.fleet.layerGETs-int64(len(st.fleet.layerGETsByDigest)), st.intra, st.inter)
	if mr.mode == "server" {
		status := "MET"
		if !st.targetOK {
			status = "NOT MET"
		}
		fmt.Printf("TARGET (server mode: 0 database bytes on every worker, each distinct layer fetched at most once fleet-wide): %s\n", status)
		for _, w := range st.why {
			fmt.Println("  - " + w)
		}
	}
}

// ---------------------------------------------------------------- main

var (
	trivyBin     = flag.String("trivy", "../bin/trivy", "the trivy CLI (for `trivy server`)")
	pluginDir    = flag.String("plugin-dir", "../bin/provider", "directory holding the built terraform-provider-imageguard")
	regKind      = flag.String("registry", "docker", "docker (Debian's docker-registry) or inprocess (the test harness's registry)")
	workers      = flag.Int("workers", 4, "worker processes")
	nImages      = flag.Int("images", 10, "images")
	runtimeMiB   = flag.Float64("runtime-mib", 3, "MiB of each shared runtime layer")
	appKiB       = flag.Int("app-kib", 512, "KiB of each image's own app layer")
	dbMiB        = flag.Float64("db-filler-mib", 8, "MiB (compressed) of filler added to the fixture database")
	variantsFlag = flag.String("variants", "parallel:0s,staggered:3s,parallel-p1:0s:1,staggered-p1:6s:1", "name:stagger[:terraform -parallelism, default 10],...")
	reps         = flag.Int("reps", 3, "runs of each variant (detailed tables for the first; every run in the summary)")
	modesFlag    = flag.String("modes", "local,server", "modes to run, in order")
	keep         = flag.Bool("keep", false, "keep the working directory (its path is printed)")
)

func TestFleet(t *testing.T) {
	run(t, *trivyBin, *regKind, *workers, *nImages, int(*runtimeMiB*(1<<20)), *appKiB<<10, int(*dbMiB*(1<<20)), *variantsFlag, *modesFlag, *reps, *keep)
}

func run(t *testing.T, trivyBin, regKind string, nWorkers, nImages, runtimeBytes, appBytes, dbFiller int, variantsFlag, modesFlag string, reps int, keep bool) {
	variants, err := parseVariants(variantsFlag)
	if err != nil {
		t.Fatal(err)
	}
	modes := strings.Split(modesFlag, ",")
	for _, m := range modes {
		if m = strings.TrimSpace(m); m != "local" && m != "server" {
			t.Fatalf("unknown mode %q", m)
		}
	}
	if trivyBin, err = filepath.Abs(trivyBin); err != nil {
		t.Fatal(err)
	}
	workDir := t.TempDir()
	if keep {
		if workDir, err = os.MkdirTemp("", "imageguard-fleet-"); err != nil {
			t.Fatal(err)
		}
		fmt.Println("working directory (kept):", workDir)
	}
	tb := t
	tf := acctest.NewTerraformRunner(t, "", *pluginDir)
	tfBin, pluginDir := tf.Bin, tf.PluginDir

	// The registry.
	var backend, regDesc string
	switch regKind {
	case "docker":
		dr := acctest.StartDockerRegistry(t, "")
		backend = dr.Host
		ver, _ := exec.Command(dr.Proc.Cmd.Path, "--version").Output()
		regDesc = fmt.Sprintf("Debian's docker-registry (%s) on %s", strings.TrimSpace(string(ver)), backend)
	case "inprocess":
		reg := acctest.NewRegistry(tb)
		backend = reg.Host
		regDesc = "the test harness's in-process registry on " + backend
	default:
		t.Fatalf("unknown -registry %q", regKind)
	}
	reg := &acctest.Registry{Host: backend}

	// Images.
	images, built, layers, order := buildImages(nImages, runtimeBytes, appBytes)
	fx := &fixture{images: images, layers: layers, order: order, configs: map[string]string{}}
	var refsTotal int
	var bytesDistinct, bytesRefs int64
	for _, img := range images {
		reg.Push(tb, img.repoTag, built[img.key])
		cd, err := built[img.key].ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		fx.configs[cd.String()] = img.key
		refsTotal += len(img.layers)
	}
	for _, li := range layers {
		bytesDistinct += li.size
		bytesRefs += li.size * int64(len(li.images))
	}

	// The database: the fixture advisories plus filler.
	yamls := []string{acctest.FixtureAdvisories}
	if f := fillerYAML(dbFiller); f != "" {
		yamls = append(yamls, f)
	}
	dbTime := time.Now()
	dbDir := t.TempDir()
	acctest.BuildTrivyDB(tb, dbDir, yamls, acctest.FreshDBMeta(dbTime))
	archive := acctest.TrivyDBArchiveOf(tb, dbDir)
	fx.dbArchive = int64(len(archive))
	reg.PushTrivyDB(tb, dbRepoTag, archive)
	if st, err := os.Stat(filepath.Join(dbDir, "trivy.db")); err == nil {
		fx.dbRaw = st.Size()
	}

	tfVer, _ := exec.Command(tfBin, "version").Output()
	trivyVer, _ := exec.Command(trivyBin, "--version").Output()
	e := &env{tb: tb, work: workDir, trivy: trivyBin, tf: tf, backend: backend, fx: fx, serverDB: filepath.Join(dbDir, "trivy.db"), dbTime: dbTime, nWorkers: nWorkers, tfTimeout: 10 * time.Minute}

	fmt.Printf("fleet benchmark: %d workers × %d images, each worker a `terraform plan` with an empty cache_dir\n", nWorkers, nImages)
	fmt.Printf("terraform:  %s (%s)\n", tfBin, benchkit.FirstLine(string(tfVer)))
	fmt.Printf("provider:   %s/terraform-provider-imageguard (dev_overrides)\n", pluginDir)
	fmt.Printf("trivy:      %s (%s), `trivy server --skip-db-update` with its own fresh layer cache per run\n", trivyBin, strings.TrimSpace(benchkit.FirstLine(string(trivyVer))))
	fmt.Printf("registry:   %s; each worker through its own counting proxy\n", regDesc)
	fmt.Printf("database:   %s/%s: %s compressed (db.tar.gz), trivy.db %s on disk (fixture advisories + %s filler)\n", backend, dbRepoTag, benchkit.MiB(fx.dbArchive), benchkit.MiB(fx.dbRaw), benchkit.MiB(int64(dbFiller)))
	fmt.Printf("images:     %d images, %d layer references, %d distinct layers (%s distinct, %s summed over images); a cold worker needs %s of layers at best\n",
		len(images), refsTotal, len(layers), benchkit.MiB(bytesDistinct), benchkit.MiB(bytesRefs), benchkit.MiB(bytesDistinct))
	lt := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(lt, "  IMAGE\tLAYERS")
	for _, img := range images {
		fmt.Fprintf(lt, "  %s\t%s\n", img.key, strings.Join(img.layers, " + "))
	}
	_ = lt.Flush()
	fmt.Println("columns: START = delay after the first worker; WALL = that `terraform plan` (fleet: first start to last end); BYTES = response bodies the worker received")
	fmt.Println("through its proxy: DB = manifest + blob of the database repository, LAYER = image layer blobs; DISTINCT LAYERS = distinct layers that worker")
	fmt.Println("fetched; MissingBlobs/PutBlob/PutArtifact/Scan = the worker's calls to the trivy server, UPLOADED = their request bodies.")

	type summary struct {
		variant variant
		mode    string
		rep     int
		wall    time.Duration
		st      stats
	}
	var sums []summary
	allOK, failed := true, false
	var reference *benchkit.Outputs
	referenceName := ""
	for _, v := range variants {
		for rep := 1; rep <= reps; rep++ {
			for _, mode := range modes {
				mode = strings.TrimSpace(mode)
				mr := e.run(v, mode, rep)
				st := e.measure(mr)
				if rep == 1 {
					e.report(mr, st)
				}
				for _, er := range st.errs {
					fmt.Println("ERROR: " + er)
					failed = true
				}
				// Same findings on every worker and in every mode.
				for _, w := range mr.workers {
					if w.outputs == nil {
						continue
					}
					name := fmt.Sprintf("%s#%d/%s/w%d", v.name, rep, mode, w.idx)
					if reference == nil {
						reference, referenceName = w.outputs, name
						continue
					}
					if !reflect.DeepEqual(reference.Findings, w.outputs.Findings) || !reflect.DeepEqual(reference.Secrets, w.outputs.Secrets) || !reflect.DeepEqual(reference.Digests, w.outputs.Digests) {
						fmt.Printf("ERROR: %s found something else than %s\n", name, referenceName)
						failed = true
					}
				}
				if mode == "server" && !st.targetOK {
					allOK = false
				}
				sums = append(sums, summary{variant: v, mode: mode, rep: rep, wall: mr.wall, st: st})
			}
		}
	}

	fmt.Printf("\n== Summary (%d workers × %d images; %d distinct layers, %s; database %s compressed)\n", nWorkers, nImages, len(layers), benchkit.MiB(bytesDistinct), benchkit.MiB(fx.dbArchive))
	st := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(st, "VARIANT\tRUN\tMODE\tFLEET WALL\tMEAN WORKER WALL\tDB BYTES (fleet)\tMAX DB BYTES/WORKER\tLAYER BYTES (fleet)\tLAYER GETs\tDISTINCT\tREDUNDANT (same worker / other workers)\tTARGET\t")
	for _, s := range sums {
		var maxDB int64
		for _, c := range s.st.perWorker {
			maxDB = max(maxDB, c.dbBytes)
		}
		target := "-"
		if s.mode == "server" {
			target = "met"
			if !s.st.targetOK {
				target = "NOT MET"
			}
		}
		fmt.Fprintf(st, "%s\t#%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d (%d / %d)\t%s\t\n", s.variant.name, s.rep, s.mode, benchkit.Secs(s.wall), benchkit.Secs(s.st.meanWall),
			benchkit.MiB(s.st.fleet.dbBytes), benchkit.MiB(maxDB), benchkit.MiB(s.st.fleet.layerBytes), s.st.fleet.layerGETs, len(s.st.fleet.layerGETsByDigest),
			s.st.fleet.layerGETs-int64(len(s.st.fleet.layerGETsByDigest)), s.st.intra, s.st.inter, target)
	}
	_ = st.Flush()
	if reps > 1 {
		fmt.Printf("(detailed tables above are for run #1 of each variant)\n")
	}
	if reference != nil && !failed {
		n := 0
		for _, f := range reference.Findings {
			n += len(f)
		}
		fmt.Printf("every worker in every run found the same %d findings (and the same secrets, in %d image(s)) as %s\n", n, countNonEmpty(reference.Secrets), referenceName)
	}
	switch {
	case failed:
		t.Fatal("errors (see above)")
	case !allOK:
		t.Fatal("the server-mode target was NOT met in every run (see above)")
	}
	fmt.Println("\nRESULT: the server-mode target was met in every run")
}

func countNonEmpty(m map[string][]string) int {
	n := 0
	for _, v := range m {
		if len(v) > 0 {
			n++
		}
	}
	return n
}
