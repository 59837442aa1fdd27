package quota

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	l, err := New(Config{
		Requester:     Limit{Rate: 2, Burst: 3},
		Organisations: map[string]Limit{"S0811001G": {Rate: 100, Burst: 100}},
		Citizen:       Limit{Rate: 1, Burst: 1},
		Publisher:     Limit{Rate: 0.01, Burst: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return clock }

	for i := range 3 {
		if ok, _ := l.Allow(Requester, "P0801900B"); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	ok, wait := l.Allow(Requester, "P0801900B")
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("the fourth request: %v, retry after %v; want a refusal for about 500 ms", ok, wait)
	}
	// A refused request takes nothing: after the wait, exactly one more.
	for range 5 {
		l.Allow(Requester, "P0801900B")
	}
	clock = clock.Add(500 * time.Millisecond)
	if ok, _ := l.Allow(Requester, "P0801900B"); !ok {
		t.Error("refused requests used up the bucket")
	}
	if ok, _ := l.Allow(Requester, "P0801900B"); ok {
		t.Error("more than the rate was let through")
	}
	// Other callers have their own buckets and their own limits.
	for i := range 50 {
		if ok, _ := l.Allow(Requester, "S0811001G"); !ok {
			t.Fatalf("an organisation with its own limit was refused at %d", i)
		}
	}
	if ok, _ := l.Allow(Citizen, "12345678Z"); !ok {
		t.Error("a citizen's first request refused")
	}
	if ok, _ := l.Allow(Citizen, "12345678Z"); ok {
		t.Error("a citizen's second request at once allowed")
	}
	if ok, _ := l.Allow(Auditor, "dpo"); !ok {
		t.Error("auditors have no limit in this config")
	}
	if ok, _ := l.Allow(Publisher, "L01431482"); !ok {
		t.Error("a data owner's first publication refused")
	}
	if ok, _ := l.Allow(Publisher, "L01431482"); ok {
		t.Error("a data owner's second publication at once allowed")
	}
	if ok, _ := l.Allow(Publisher, "P0801900B"); !ok {
		t.Error("another owner's publication refused: owners have buckets of their own")
	}
	var none *Limiter
	if ok, _ := none.Allow(Requester, "x"); !ok {
		t.Error("a nil Limiter refused")
	}
}

func TestNewRefusesNonsense(t *testing.T) {
	for _, c := range []Config{
		{Requester: Limit{Rate: -1, Burst: 1}},
		{Citizen: Limit{Rate: 1, Burst: 0}},
		{Publisher: Limit{Rate: -0.1, Burst: 1}},
		{Organisations: map[string]Limit{"X": {Rate: 1, Burst: -2}}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestBucketsAreBounded(t *testing.T) {
	l, err := New(Config{Citizen: Limit{Rate: 1, Burst: 1}, MaxCallers: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		l.Allow(Citizen, string(rune('a'+i%26))+time.Duration(i).String())
	}
	if n := l.buckets.Len(); n > 10 {
		t.Errorf("%d buckets kept, want at most 10", n)
	}
}
