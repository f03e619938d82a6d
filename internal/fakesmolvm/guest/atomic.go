package guest

import "sync/atomic"

func atomicAdd(p *int64, n int64) int64 { return atomic.AddInt64(p, n) }
