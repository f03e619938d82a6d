package fakesmolvm

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image benchmarks: an archive of about 200 MB (4 layers of 50 MB of
// random bytes, generated here, never stored) is flattened once; machines
// from it then start without copying it. Targets: an image machine starts
// in at most 2x a bare machine's time; flattening reports MB/s.
//
//	go test -run '^$' -bench Image -benchtime 5x ./internal/fakesmolvm/

const benchImageBytes = 200 << 20

// writeBenchArchive writes a `docker save` archive of about 200 MB.
func writeBenchArchive(b *testing.B) (string, int64) {
	b.Helper()
	img, err := random.Image(benchImageBytes/4, 4)
	if err != nil {
		b.Fatal(err)
	}
	ref, err := name.ParseReference("smolbottle.test/bench:latest")
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "bench.tar")
	if err := tarball.WriteToFile(p, ref, img); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	return p, fi.Size()
}

// BenchmarkImageStart times `machine start` of a machine from an
// already-flattened 200 MB image against a bare machine's, alternating
// the two, and reports both medians and their ratio.
func BenchmarkImageStart(b *testing.B) {
	w := newFakeWorld(b)
	archive, _ := writeBenchArchive(b)
	w.run("machine", "create", "--name", "img", "-I", archive)
	w.run("machine", "create", "--name", "bare")
	for _, m := range []string{"img", "bare"} { // first starts lay out the trees
		w.run("machine", "start", "--name", m)
		w.run("machine", "stop", "--name", m)
	}
	var di, db []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		w.run("machine", "start", "--name", "img")
		di = append(di, time.Since(t))
		b.StopTimer()
		w.run("machine", "stop", "--name", "img")
		t = time.Now()
		w.run("machine", "start", "--name", "bare")
		db = append(db, time.Since(t))
		w.run("machine", "stop", "--name", "bare")
		b.StartTimer()
	}
	b.StopTimer()
	mi, mb := median(di), median(db)
	b.ReportMetric(float64(mi.Microseconds())/1000, "ms/median-image")
	b.ReportMetric(float64(mb.Microseconds())/1000, "ms/median-bare")
	if mb > 0 {
		b.ReportMetric(float64(mi)/float64(mb), "image/bare")
	}
}

// BenchmarkImageFlatten times the first use of an archive: `machine
// create -I ARCHIVE` with an empty cache stages, reads and flattens it.
// MB/s is the archive's size over that time.
func BenchmarkImageFlatten(b *testing.B) {
	w := newFakeWorld(b)
	archive, size := writeBenchArchive(b)
	b.SetBytes(size)
	var d []time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		os.RemoveAll(filepath.Join(w.home, ".cache"))
		os.RemoveAll(filepath.Join(w.home, ".local"))
		b.StartTimer()
		t := time.Now()
		w.run("machine", "create", "--name", "flat", "-I", archive)
		d = append(d, time.Since(t))
	}
	b.StopTimer()
	reportMedian(b, d)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
