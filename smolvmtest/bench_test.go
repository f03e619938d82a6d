package smolvmtest_test

import (
	"testing"

	"github.com/smolbottle/smolbottle/smolvmtest"
)

// BenchmarkNew measures what one test pays for a private fake: New, then a
// machine created, started, exec'd into and deleted, then the teardown.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		f, err := smolvmtest.Open()
		if err != nil {
			b.Fatal(err)
		}
		for _, args := range [][]string{
			{"machine", "create", "--name", "bench"},
			{"machine", "start", "--name", "bench"},
			{"machine", "exec", "--name", "bench", "--", "true"},
			{"machine", "delete", "--name", "bench", "-f"},
		} {
			if out, err := f.Command(args...).CombinedOutput(); err != nil {
				f.Close()
				b.Fatalf("%v: %v: %s", args, err, out)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInvocations measures reading a 100-entry log as typed values.
func BenchmarkInvocations(b *testing.B) {
	f := smolvmtest.New(b)
	for range 100 {
		if err := f.Command("machine", "ls").Run(); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		invs, err := f.Invocations()
		if err != nil || len(invs) != 100 {
			b.Fatalf("%d entries, %v", len(invs), err)
		}
	}
}
