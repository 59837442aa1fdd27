package api

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
)

// TestRetryAfterIsLongEnough: a citizen over her quota gets 429 with a
// Retry-After of whole seconds, at least one, and a call made when it says
// goes through. Her bucket refills in 0.625 s: a Retry-After rounded down
// would tell her 0, and send her back before it has.
func TestRetryAfterIsLongEnough(t *testing.T) {
	st, err := postgres.New(context.Background(), postgres.Config{URL: pgtest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	limiter, err := quota.New(quota.Config{Citizen: quota.Limit{Rate: 1.6, Burst: 1}})
	if err != nil {
		t.Fatal(err)
	}
	srv, iss := startAPI(t, st, t.TempDir(), Config{Quota: limiter})
	her := mintToken(t, iss, auth.Principal{Role: auth.RoleCitizen, Sub: "12345678Z"})
	url := srv.URL + "/v1/me/consents"

	if status, _, raw := sendRequest(t, "GET", url, her, "", nil); status != http.StatusOK {
		t.Fatalf("her first call: %d %s", status, raw)
	}
	status, header, raw := sendRequest(t, "GET", url, her, "", nil)
	if status != http.StatusTooManyRequests {
		t.Fatalf("her second call at once: %d %s, want 429", status, raw)
	}
	retry, err := strconv.Atoi(header.Get("Retry-After"))
	if err != nil || retry < 1 {
		t.Fatalf("Retry-After %q, want a whole number of seconds, at least 1", header.Get("Retry-After"))
	}
	time.Sleep(time.Duration(retry) * time.Second)
	if status, _, raw := sendRequest(t, "GET", url, her, "", nil); status != http.StatusOK {
		t.Errorf("her call %d s later, when Retry-After said: %d %s", retry, status, raw)
	}
}
