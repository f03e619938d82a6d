// Package conformance is the contract of a bottle backend, written once as
// testscript scripts (testdata/*.txtar, embedded) and run against any smolvm:
// fake-smolvm by default, a real smolvm under the realvm build tag, or
// whatever another repository sets up.
//
// A suite run is two calls from a test package:
//
//	func TestMain(m *testing.M) {
//		conformance.Main(m, conformance.Programs(false)) // bottle in-process; smolvm from $SMOLVM or PATH
//	}
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Options{Image: "ghcr.io/me/agent-image"})
//	}
//
// Each script runs once per guest model (see Model): "bare", a machine whose
// exec runs as root, and "image", a machine whose exec runs as the image's
// non-root user. A script limits itself to some models with a
// "# models: bare" line. Lines only one backend can check are guarded by the
// conditions [fake] and [real]; Options.Conditions adds capability conditions.
//
// Every run ends with the scripts that were skipped and why, and the line
//
//	conformance: N passed, M failed, K skipped
package conformance
