package uring

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestNewRejectsBadSizes(t *testing.T) {
	for _, n := range []uint32{0, MaxEntries + 1} {
		if r, err := New(n); err == nil {
			r.Close()
			t.Errorf("New(%d) succeeded, want an error", n)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	r := newRing(t, 8)
	if r.SQEntries() != 8 || r.CQEntries() != 16 {
		t.Errorf("entries SQ %d CQ %d, want 8 and 16", r.SQEntries(), r.CQEntries())
	}
	if r.Flags()&SetupSQPoll != 0 || r.Flags()&SetupDeferTaskrun != 0 {
		t.Errorf("flags %#x: SQPOLL or DEFER_TASKRUN set without being asked for", r.Flags())
	}
	if r.Flags()&SetupCoopTaskrun == 0 {
		t.Errorf("flags %#x: COOP_TASKRUN not chosen on a kernel that has it", r.Flags())
	}
	if r.Features()&FeatSingleMmap == 0 || r.Features()&FeatNoDrop == 0 || r.Features()&FeatExtArg == 0 {
		t.Errorf("features %#x lack SINGLE_MMAP, NODROP or EXT_ARG", r.Features())
	}
}

func TestCQSizeOption(t *testing.T) {
	r := newRing(t, 4, WithCQSize(64))
	if r.CQEntries() != 64 {
		t.Errorf("CQ entries %d, want 64", r.CQEntries())
	}
}

func TestNopUserDataAndSkipSuccess(t *testing.T) {
	r := newRing(t, 8)
	s := getSQE(t, r)
	s.PrepNop()
	s.SetUserData(41)
	s.SetFlags(SQECQESkipSuccess)
	s = getSQE(t, r)
	s.PrepNop()
	s.SetUserData(42)
	cqes := reap(t, r, 1)
	if cqes[0].UserData != 42 || cqes[0].Res != 0 {
		t.Fatalf("got %+v, want only the NOP with user_data 42", cqes)
	}
	if c, ok := r.PeekCQE(); ok {
		t.Fatalf("unexpected CQE %+v after a CQE_SKIP_SUCCESS NOP", c)
	}
}

func TestRingFull(t *testing.T) {
	r := newRing(t, 8)
	for i := 0; i < 8; i++ {
		s := getSQE(t, r)
		s.PrepNop()
		s.SetUserData(uint64(i))
	}
	if r.SQSpace() != 0 || r.GetSQE() != nil {
		t.Fatalf("GetSQE on a full queue: space %d, want nil", r.SQSpace())
	}
	n, err := r.Submit()
	if err != nil || n != 8 {
		t.Fatalf("Submit = %d, %v; want 8", n, err)
	}
	s := r.GetSQE()
	if s == nil {
		t.Fatal("GetSQE still nil after Submit")
	}
	s.PrepNop()
	s.SetUserData(99)
	got := byUserData(t, reap(t, r, 9))
	if _, ok := got[99]; !ok {
		t.Fatalf("the retried NOP never completed: %+v", got)
	}
}

// TestCQOverflow posts far more completions than the CQ holds before
// reaping any; with FEAT_NODROP the kernel parks the excess and the readers
// must flush it in without losing or repeating one.
func TestCQOverflow(t *testing.T) {
	r := newRing(t, 4, WithCQSize(4))
	if r.CQEntries() != 4 {
		t.Fatalf("CQ entries %d, want 4", r.CQEntries())
	}
	const total = 200
	for ud := uint64(0); ud < total; {
		s := r.GetSQE()
		if s == nil {
			if _, err := r.Submit(); err != nil {
				t.Fatalf("Submit with an overflowing CQ: %v", err)
			}
			continue
		}
		s.PrepNop()
		s.SetUserData(ud)
		ud++
	}
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if r.CQReady() != 4 || !r.cqNeedsFlush() {
		t.Fatalf("CQ holds %d (overflow flagged: %v), want it full and overflowing", r.CQReady(), r.cqNeedsFlush())
	}
	seen := make([]int, total)
	batch := make([]CQE, 3)
	n := 0
	for n < total {
		var got int
		if n%2 == 0 {
			got = r.ForEachCQE(func(c CQE) bool { seen[c.UserData]++; return true })
		} else {
			got = r.PeekCQEs(batch)
			for _, c := range batch[:got] {
				seen[c.UserData]++
			}
		}
		if got == 0 {
			t.Fatalf("readers stopped after %d of %d CQEs", n, total)
		}
		n += got
	}
	for ud, k := range seen {
		if k != 1 {
			t.Fatalf("user_data %d seen %d times", ud, k)
		}
	}
	if st := r.Stats(); st.Dropped != 0 || st.Reaped != total {
		t.Fatalf("stats %+v: want 0 dropped, %d reaped", st, total)
	}
}

func TestForEachCQEStops(t *testing.T) {
	r := newRing(t, 8)
	for i := 0; i < 5; i++ {
		getSQE(t, r).PrepNop()
	}
	if _, err := r.SubmitAndWaitTimeout(5, waitLimit); err != nil {
		t.Fatal(err)
	}
	if n := r.ForEachCQE(func(CQE) bool { return false }); n != 1 {
		t.Fatalf("ForEachCQE stopped after %d, want 1", n)
	}
	if r.CQReady() != 4 {
		t.Fatalf("%d CQEs left, want 4", r.CQReady())
	}
}

func TestWaitTimeout(t *testing.T) {
	r := newRing(t, 4)
	start := time.Now()
	_, err := r.SubmitAndWaitTimeout(1, 30*time.Millisecond)
	if !errors.Is(err, unix.ETIME) {
		t.Fatalf("wait on an idle ring: %v, want ETIME", err)
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > 2*time.Second {
		t.Fatalf("timed out after %v, want about 30ms", d)
	}
}

func TestWaitCQE(t *testing.T) {
	r := newRing(t, 4)
	s := getSQE(t, r)
	s.PrepNop()
	s.SetUserData(7)
	c, err := r.WaitCQE()
	if err != nil || c.UserData != 7 {
		t.Fatalf("WaitCQE = %+v, %v", c, err)
	}
}

// TestZeroAllocs covers the whole hot cycle: get, prepare, submit, wait and
// iterate completions.
func TestZeroAllocs(t *testing.T) {
	r := newRing(t, 64)
	var sum uint64
	fn := func(c CQE) bool { sum += c.UserData; return true }
	cycle := func() {
		for i := 0; i < 32; i++ {
			s := r.GetSQE()
			s.PrepNop()
			s.UserData = uint64(i)
		}
		if _, err := r.SubmitAndWait(32); err != nil {
			t.Fatal(err)
		}
		if n := r.ForEachCQE(fn); n != 32 {
			t.Fatalf("reaped %d, want 32", n)
		}
	}
	cycle()
	if a := testing.AllocsPerRun(200, cycle); a != 0 {
		t.Errorf("submit/reap cycle allocates %.1f times per run", a)
	}
	batch := make([]CQE, 32)
	peek := func() {
		for i := 0; i < 32; i++ {
			r.GetSQE().PrepNop()
		}
		if _, err := r.SubmitAndWaitTimeout(32, time.Second); err != nil {
			t.Fatal(err)
		}
		if n := r.PeekCQEs(batch); n != 32 {
			t.Fatalf("PeekCQEs = %d, want 32", n)
		}
	}
	if a := testing.AllocsPerRun(200, peek); a != 0 {
		t.Errorf("timed wait + PeekCQEs allocates %.1f times per run", a)
	}
}

func TestStats(t *testing.T) {
	r := newRing(t, 8)
	for i := 0; i < 3; i++ {
		getSQE(t, r).PrepNop()
	}
	reap(t, r, 3)
	st := r.Stats()
	if st.Submitted != 3 || st.Reaped != 3 || st.Enters == 0 {
		t.Fatalf("stats %+v, want 3 submitted, 3 reaped, some enters", st)
	}
}

func TestClosedRing(t *testing.T) {
	r := newRing(t, 4)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Submit(); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v", err)
	}
	if err := r.RegisterFilesSparse(1); !errors.Is(err, ErrClosed) {
		t.Errorf("register after Close: %v", err)
	}
	if _, err := r.NewBufRing(1, 2, 64); !errors.Is(err, ErrClosed) {
		t.Errorf("NewBufRing after Close: %v", err)
	}
	if _, ok := r.PeekCQE(); ok || r.ForEachCQE(func(CQE) bool { return true }) != 0 {
		t.Error("CQEs from a closed ring")
	}
	_ = r.Stats()
}

// TestSingleIssuer runs a ring in its cheapest mode on a locked thread;
// completions only appear when the owner enters the kernel.
func TestSingleIssuer(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r := newRing(t, 8, WithSingleIssuer())
		want := SetupSingleIssuer | SetupDeferTaskrun
		if r.Flags()&want != want {
			t.Errorf("flags %#x lack SINGLE_ISSUER|DEFER_TASKRUN", r.Flags())
			return
		}
		a, b := tcpPair(t)
		buf := make([]byte, 5)
		s := getSQE(t, r)
		s.PrepRecv(int32(b), buf, 0)
		s.SetUserData(1)
		if _, err := r.Submit(); err != nil {
			t.Error(err)
			return
		}
		writeAll(t, a, []byte("hello"))
		// No wait: the readers must notice the deferred work (TASKRUN
		// flag) and enter the kernel to run it.
		var c CQE
		got := false
		for deadline := time.Now().Add(waitLimit); !got && time.Now().Before(deadline); {
			c, got = r.PeekCQE()
			time.Sleep(time.Millisecond)
		}
		if !got || c.Res != 5 || string(buf) != "hello" {
			t.Errorf("recv on a DEFER_TASKRUN ring: got=%v %+v %q", got, c, buf)
		}
	}()
	<-done
}

func TestSQPoll(t *testing.T) {
	r := newRing(t, 8, WithSQPoll(10*time.Millisecond))
	if r.Flags()&SetupSQPoll == 0 {
		t.Fatalf("flags %#x lack SQPOLL", r.Flags())
	}
	for round := 0; round < 2; round++ {
		for i := 0; i < 4; i++ {
			s := getSQE(t, r)
			s.PrepNop()
			s.SetUserData(uint64(i))
		}
		if n, err := r.Submit(); err != nil || n != 4 {
			t.Fatalf("Submit = %d, %v", n, err)
		}
		if got := byUserData(t, reap(t, r, 4)); len(got) != 4 {
			t.Fatalf("round %d: %+v", round, got)
		}
		time.Sleep(30 * time.Millisecond) // let the poller fall asleep: next round must wake it
	}
}

// TestSingleIssuerWrongThread checks that using a single-issuer ring from
// another thread fails with an error that names the cause.
func TestSingleIssuerWrongThread(t *testing.T) {
	owner := make(chan *Ring)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r, err := New(4, WithSingleIssuer())
		if err != nil {
			t.Error(err)
			close(owner)
			return
		}
		owner <- r
		<-release
		r.Close()
	}()
	r, ok := <-owner
	if !ok {
		return
	}
	defer close(release)
	res := make(chan []error)
	go func() {
		runtime.LockOSThread() // a thread that is certainly not the owner's
		defer runtime.UnlockOSThread()
		r.GetSQE().PrepNop()
		_, serr := r.Submit()
		res <- []error{serr, r.GetEvents(), r.RegisterFilesSparse(2)}
	}()
	for i, err := range <-res {
		if !errors.Is(err, ErrNotOwnerThread) || !errors.Is(err, unix.EEXIST) {
			t.Errorf("call %d from a foreign thread: %v, want ErrNotOwnerThread", i, err)
		}
	}
}
