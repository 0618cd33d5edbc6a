package relay

import "sync"

// background runs the goodbyes of forwarders whose stream ended, off the
// hook that stopped them, and lets a Close wait for them. Unlike a
// sync.WaitGroup it may be waited for while more start (a publisher ending
// during shutdown).
type background struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
}

// Go runs f on a goroutine of its own.
func (b *background) Go(f func()) {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	go func() {
		defer b.done()
		f()
	}()
}

func (b *background) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n--; b.n == 0 && b.cond != nil {
		b.cond.Broadcast()
	}
}

// Wait returns once nothing runs.
func (b *background) Wait() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cond == nil {
		b.cond = sync.NewCond(&b.mu)
	}
	for b.n > 0 {
		b.cond.Wait()
	}
}
