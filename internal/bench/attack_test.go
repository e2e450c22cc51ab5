package bench_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/bench"
)

// TestCheckoutReleaseUnderAttack runs checkout-release without an attack
// and beside each, on the same spawned server, in one run.
func TestCheckoutReleaseUnderAttack(t *testing.T) {
	res := MustRun(t, bench.Config{Scenario: bench.CheckoutRelease, Spawn: true, Clients: 4, Duration: 300 * time.Millisecond,
		Attacks: []string{bench.AttackLogin, bench.AttackSlowloris}, AttackFrom: "127.0.0.2", AttackConns: 8})
	checkCounts(t, res)
	var names []string
	for _, a := range res.Attacks {
		names = append(names, a.Attack)
		if a.Ops == 0 {
			t.Errorf("%s: no checkout+release pair done", a.Attack)
		}
	}
	if got, want := strings.Join(names, ","), "none,login,slowloris"; got != want {
		t.Fatalf("measures %s, want %s", got, want)
	}
	if base := res.Attacks[0]; base.Ops != res.Ops || base.P99 != res.P99 {
		t.Errorf("headline ops %d p99 %v, want the baseline's %d %v", res.Ops, res.P99, base.Ops, base.P99)
	}
	if login := res.Attacks[1].Answers; login["401"]+login["429"]+login["503"] == 0 {
		t.Errorf("login flood answers %v: want wrong logins answered 401, 429 or 503", login)
	}
	if slow := res.Attacks[2].Answers; slow["opened"] == 0 {
		t.Errorf("slowloris answers %v: want connections opened", slow)
	}
	var buf bytes.Buffer
	if err := bench.WriteTable(&buf, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "slowloris") {
		t.Errorf("the table lacks the attacks:\n%s", buf.String())
	}
}

func TestAttackNeedsCheckoutRelease(t *testing.T) {
	for _, cfg := range []bench.Config{
		{Scenario: bench.Heartbeat, Spawn: true, Attacks: []string{bench.AttackLogin}},
		{Scenario: bench.CheckoutRelease, Spawn: true, Attacks: []string{"ddos"}},
		{Scenario: bench.CheckoutRelease, Spawn: true, Attacks: []string{bench.AttackLogin}, AttackFrom: "not an address"},
	} {
		if _, err := bench.Run(t.Context(), cfg); err == nil {
			t.Errorf("%s with attacks %v from %q: no error", cfg.Scenario, cfg.Attacks, cfg.AttackFrom)
		}
	}
}
