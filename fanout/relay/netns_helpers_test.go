package relay

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// originBehindLink starts an origin in a network namespace of its own,
// reached from here over a veth pair, and returns it with cut, which takes
// the link down: the origin's host is as good as dead (a power loss, a
// partition): no reset, no answer, nothing. It skips without root or ip.
func originBehindLink(t *testing.T) (o *testOrigin, cut func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a veth pair")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2) to create a network namespace")
	}
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, rand.IntN(1000))
	ns, host, peer := "bblrelay"+id, "bblh"+id, "bblp"+id
	subnet := rand.IntN(250) + 1
	hostIP, peerIP := fmt.Sprintf("10.231.%d.1", subnet), fmt.Sprintf("10.231.%d.2", subnet)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip("link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns)
	// Deleted by name: the namespace outlives its name while the
	// origin's sockets there still retransmit over the cut link, and its
	// veths with it.
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	ip("addr", "add", hostIP+"/30", "dev", host)
	ip("link", "set", host, "up")
	ip("-n", ns, "addr", "add", peerIP+"/30", "dev", peer)
	ip("-n", ns, "link", "set", peer, "up")
	ip("-n", ns, "link", "set", "lo", "up")

	type listened struct {
		ln  net.Listener
		err error
	}
	ch := make(chan listened, 1)
	go func() {
		// Never unlocked: the thread, switched to the namespace, ends
		// with this goroutine. The socket stays in the namespace.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- listened{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- listened{err: err}
			return
		}
		ln, err := net.Listen("tcp", peerIP+":0")
		ch <- listened{ln, err}
	}()
	l := <-ch
	if l.err != nil {
		t.Fatalf("listening in %s: %v", ns, l.err)
	}
	return originOn(t, l.ln), func() { ip("link", "set", host, "down") }
}
