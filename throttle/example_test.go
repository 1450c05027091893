package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/xmppauth/xmppauth/throttle"
)

// login is how a SASL layer drives the limiter for one attempt; it returns
// the SASL condition to answer with, or "" on success.
func login(ctx context.Context, l *throttle.Limiter, remote net.Addr, account string, passwordOK bool) string {
	delay, err := l.Check(ctx, remote, account)
	if err != nil {
		// ErrBanned, or the store is down (log it): refuse without checking.
		return "temporary-auth-failure"
	}
	if err := throttle.Wait(ctx, delay); err != nil {
		return "aborted"
	}
	if !passwordOK {
		banned, err := l.Failed(ctx, remote, account)
		if err != nil {
			fmt.Println("log: ERROR", err)
		}
		if banned {
			fmt.Println("log: INFO banned", remote, throttle.AddrKey(remote))
		}
		return "not-authorized"
	}
	if err := l.Succeeded(ctx, remote, account); err != nil {
		fmt.Println("log: ERROR", err)
	}
	return ""
}

func Example() {
	l, err := throttle.New(throttle.Config{MaxFailures: 3})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	attacker := &net.TCPAddr{IP: net.ParseIP("2001:db8:bad::1"), Port: 40000}
	neighbour := &net.TCPAddr{IP: net.ParseIP("2001:db8:bad::2"), Port: 40001}
	for range 4 {
		fmt.Println(login(ctx, l, attacker, "juliet@example.com", false))
	}
	// The same /64 is banned, even with the right password.
	fmt.Println(login(ctx, l, neighbour, "romeo@example.com", true))
	_, err = l.Check(ctx, neighbour, "romeo@example.com")
	fmt.Println(errors.Is(err, throttle.ErrBanned))
	// Output:
	// not-authorized
	// not-authorized
	// log: INFO banned [2001:db8:bad::1]:40000 addr:2001:db8:bad::/64
	// not-authorized
	// temporary-auth-failure
	// temporary-auth-failure
	// true
}
