package eventlog_test

import (
	"context"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/eventlog/eventlogtest"
)

func TestUsageQueryValidate(t *testing.T) {
	l := MustOpen(t, t.TempDir(), eventlogtest.NewClock(t0), nil)
	for _, q := range []eventlog.UsageQuery{
		{Step: 90 * time.Second},
		{From: t0, To: t0},
	} {
		if _, err := l.Usage(context.Background(), q); usher.ErrorCode(err) != usher.EInvalid {
			t.Errorf("%+v: got %v, want %s", q, err, usher.EInvalid)
		}
	}
}
