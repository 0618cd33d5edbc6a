package bpf

import (
	"os"
	"testing"
)

func TestCookie(t *testing.T) {
	a, b := tcpPair(t)
	ka, kb := cookieOf(t, a), cookieOf(t, b)
	if ka == 0 || kb == 0 || ka == kb {
		t.Errorf("cookies %d and %d, want distinct and non-zero", ka, kb)
	}
	if again := cookieOf(t, a); again != ka {
		t.Errorf("cookie changed from %d to %d", ka, again)
	}
	f, err := a.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if k, err := CookieFD(int(f.Fd())); err != nil || k != ka {
		t.Errorf("CookieFD of a dup = %d, %v; want %d", k, err, ka)
	}
}

func TestCookieErrors(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Cookie(f); err == nil {
		t.Error("Cookie of /dev/null succeeded")
	}
	f.Close()
	if _, err := Cookie(f); err == nil {
		t.Error("Cookie of a closed file succeeded")
	}
	if _, err := CookieFD(-1); err == nil {
		t.Error("CookieFD(-1) succeeded")
	}
}
