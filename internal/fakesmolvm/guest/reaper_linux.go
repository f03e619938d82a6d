//go:build linux

package guest

import (
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Process reaping: the agent is PID 1 and reaps every guest process.

// reaper is the only caller of wait4 in the agent: as PID 1 it must reap
// orphans, so it reaps everything and hands exit statuses to the exec that
// spawned each process.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan unix.WaitStatus
	spawns  chan spawnReq
}

func (r *reaper) loop() {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, syscall.SIGCHLD)
	r.reap()
	for range ch {
		r.reap()
	}
}

func (r *reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if c, ok := r.waiters[pid]; ok {
			c <- ws
			delete(r.waiters, pid)
		}
	}
}

type spawnReq struct {
	argv0 string
	argv  []string
	attr  *syscall.ProcAttr
	wait  bool
	reply chan spawnResult
}

type spawnResult struct {
	pid    int
	exited <-chan unix.WaitStatus
	err    error
}

// spawner forks every guest process from one locked OS thread whose
// bounding set is reduced. It never returns, so the thread is never reused.
func (r *reaper) spawner(errc chan<- error) {
	runtime.LockOSThread()
	if err := clearInheritedCaps(); err != nil {
		errc <- err
		return
	}
	if err := dropBoundingSet(); err != nil {
		errc <- err
		return
	}
	errc <- nil
	for q := range r.spawns {
		var res spawnResult
		res.pid, res.exited, res.err = r.forkExec(q.argv0, q.argv, q.attr, q.wait)
		q.reply <- res
	}
}

// spawn starts a process (on the spawner thread) and, if wait, registers
// for its exit status.
func (r *reaper) spawn(argv0 string, argv []string, attr *syscall.ProcAttr, wait bool) (int, <-chan unix.WaitStatus, error) {
	q := spawnReq{argv0, argv, attr, wait, make(chan spawnResult, 1)}
	r.spawns <- q
	res := <-q.reply
	return res.pid, res.exited, res.err
}

// forkExec holds mu across ForkExec so the reaper cannot steal a failed
// child that ForkExec reaps itself.
func (r *reaper) forkExec(argv0 string, argv []string, attr *syscall.ProcAttr, wait bool) (int, <-chan unix.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(argv0, argv, attr)
	if err != nil {
		return 0, nil, err
	}
	if !wait {
		return pid, nil, nil
	}
	c := make(chan unix.WaitStatus, 1)
	r.waiters[pid] = c
	return pid, c, nil
}
