package fakesmolvm

import (
	"runtime/debug"
	"testing"
)

func TestVersionFrom(t *testing.T) {
	dep := func(version string, replace *debug.Module) *debug.Module {
		return &debug.Module{Path: modulePath, Version: version, Replace: replace}
	}
	for _, tc := range []struct {
		name   string
		reason string
		bi     *debug.BuildInfo
		ok     bool
		stamp  string
		want   string
	}{
		{name: "installed", reason: "go install ...@v1.2.3 records the version as the main module's",
			bi: &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v1.2.3"}}, ok: true, stamp: "v9", want: "v1.2.3"},
		{name: "work tree", reason: "a build in a work tree without VCS stamps says (devel): the -ldflags stamp wins",
			bi: &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}}, ok: true, stamp: "v0.4.0-3-gabc", want: "v0.4.0-3-gabc"},
		{name: "library", reason: "a program of another module linking the fake has this module among its dependencies",
			bi: &debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v5.0.0"}, Deps: []*debug.Module{{Path: "other", Version: "v7"}, dep("v0.2.0", nil)}}, ok: true, want: "v0.2.0"},
		{name: "replaced", reason: "a replacement with a version is what was built",
			bi: &debug.BuildInfo{Main: debug.Module{Path: "example.com/app"}, Deps: []*debug.Module{dep("v0.2.0", &debug.Module{Path: "example.com/fork", Version: "v0.2.1"})}}, ok: true, want: "v0.2.1"},
		{name: "replaced by dir", reason: "a directory replacement has no version: the required one is reported",
			bi: &debug.BuildInfo{Main: debug.Module{Path: "example.com/app"}, Deps: []*debug.Module{dep("v0.2.0", &debug.Module{Path: "../smolbottle"})}}, ok: true, want: "v0.2.0"},
		{name: "built replaced", reason: "a build of the module as a dependency replaced by a directory: go records (devel) for the directory",
			bi: &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v0.7.3", Replace: &debug.Module{Path: "/src/smolbottle", Version: "(devel)"}}}, ok: true, stamp: "v9", want: "v0.7.3"},
		{name: "no build info", reason: "without build info the stamp is used",
			ok: false, stamp: " v0.3.0\n", want: "v0.3.0"},
		{name: "nothing", reason: "neither build info nor stamp: devel",
			bi: &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}}, ok: true, want: "devel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := Version
			Version = tc.stamp
			t.Cleanup(func() { Version = old })
			if got := versionFrom(tc.bi, tc.ok); got != tc.want {
				t.Errorf("versionFrom = %q, want %q (%s)", got, tc.want, tc.reason)
			}
		})
	}
}
