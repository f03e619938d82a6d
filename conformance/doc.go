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
// # Guest models
//
// Each script runs once per guest model (see Model): "bare", a machine whose
// exec runs as root (bottle switches users with runuser; the suite gives a
// bare machine the user node that agent images have), and "image", a
// machine whose exec runs as the image's non-root user node (bottle must not
// use runuser). A script limits itself to some models with a
// "# models: bare" line before its first file.
//
// # Script commands
//
//	launch NAME [ARGS...]  bottle up --name NAME [--image $IMAGE] ARGS..., for the
//	                       script's model, torn down at the end like cleanup
//	cleanup NAME...        at the end of the script, whatever happened:
//	                       smolvm machine delete --name NAME -f
//
// and those shared with the repository's own scripts (internal/scripttest):
//
//	exitcode N PROG ARGS...     run PROG, which must exit with N
//	pty start|resize|send|wait|signal|exit NAME ...
//	                            a program on a terminal the script controls
//	waitguest NAME SCRIPT       wait until sh -c SCRIPT succeeds in the machine
//	waitlog NAME REGEXP         wait until the fake's invocation log matches (fake only)
//	waitstatus NAME REGEXP      wait until smolvm machine status matches
//	waitls REGEXP               wait until smolvm machine ls matches
//
// The waits poll for up to 20 s instead of sleeping for a guessed time;
// their REGEXPs are multi-line, like testscript's stdout.
//
// Machine names carry $RUN, unique per script run, so concurrent runs
// against one real smolvm never meet. $MODEL, $IMAGE and $AGENT_IMAGE (the image with the stub
// agents for bottle run, see Options.RootImage) describe the model.
//
// # Conditions
//
// [fake] and [real] say which kind of smolvm runs; [bare] and [image] name
// the model; [faults] (smolvm honours $FAKE_SMOLVM_SCENARIO), [log] (smolvm
// fake log shows every argv) and [agent-image] are capabilities.
// Options.Conditions sets more, or overrides faults and log; a condition
// nobody defines fails the script.
//
// # Files
//
// conformance.go holds the API (Options, Run); config.go resolves Options
// and sets each script up; commands.go has launch and cleanup; scripts.go
// the embedded scripts and their model lines; report.go the summary.
//
// # Summary
//
// Every run ends with the scripts that failed, those skipped and why, and
// the line
//
//	conformance: N passed, M failed, K skipped
package conformance
