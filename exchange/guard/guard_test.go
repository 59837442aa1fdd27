package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// fake is an adapter whose answer for each subject the test sets; subject
// "hold" blocks until release is closed.
type fake struct {
	mu       sync.Mutex
	answers  map[string]fault.Code // by subject id; missing: data
	calls    map[string]int        // calls that reached the adapter, by subject id
	held     atomic.Int32
	release  chan struct{}
	whenDone func() // after each call, if set
}

func newFake() *fake {
	return &fake{answers: map[string]fault.Code{}, calls: map[string]int{}, release: make(chan struct{})}
}

func (f *fake) Manifest() manifest.Manifest { return manifest.Manifest{Name: "fake", Version: "1.0.0"} }
func (f *fake) SHA256() string              { return "00" }

func (f *fake) Call(ctx context.Context, in abi.Input) (json.RawMessage, error) {
	f.mu.Lock()
	f.calls[in.Subject.ID]++
	code := f.answers[in.Subject.ID]
	f.mu.Unlock()
	if in.Subject.ID == "hold" {
		f.held.Add(1)
		<-f.release
	}
	if code != "" {
		return nil, fault.New(code, "the fake answers %s", code)
	}
	return json.RawMessage(`{"ok":true}`), nil
}

func (f *fake) set(subject string, code fault.Code) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[subject] = code
}

func (f *fake) reached(subject string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[subject]
}

func input(org, subject string) abi.Input {
	return abi.Input{Service: "padro", Requester: org, Subject: abi.Subject{IDType: "DNI", ID: subject}, Params: json.RawMessage(`{}`)}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestSubjectBreaker: timeouts and source failures in a row for one record
// open its breaker, and then its queries fail fast with source_unavailable
// and a Retry-After, while other citizens' queries go through; other
// outcomes, a success in between, or a caller that gives up do not open it.
func TestSubjectBreaker(t *testing.T) {
	const slow = "99999999R"
	tests := []struct {
		name     string
		outcomes []fault.Code // what the adapter answers the calls for slow, in turn; "" is data
		cancel   bool         // the caller has given up by the time each call returns
		wantOpen bool         // a further call is refused without reaching the adapter
	}{
		{"timeouts", []fault.Code{fault.AdapterTimeout, fault.AdapterTimeout, fault.AdapterTimeout}, false, true},
		{"source unavailable", []fault.Code{fault.SourceUnavailable, fault.SourceUnavailable, fault.SourceUnavailable}, false, true},
		{"mixed source failures", []fault.Code{fault.AdapterTimeout, fault.SourceUnavailable, fault.AdapterTimeout}, false, true},
		{"two are not enough", []fault.Code{fault.AdapterTimeout, fault.AdapterTimeout}, false, false},
		{"a success in between", []fault.Code{fault.AdapterTimeout, fault.AdapterTimeout, "", fault.AdapterTimeout, fault.AdapterTimeout}, false, false},
		{"subject not found", []fault.Code{fault.SubjectNotFound, fault.SubjectNotFound, fault.SubjectNotFound, fault.SubjectNotFound}, false, false},
		{"broken record", []fault.Code{fault.AdapterFailed, fault.AdapterFailed, fault.AdapterFailed, fault.AdapterFailed}, false, false},
		{"caller's mistake", []fault.Code{fault.InvalidRequest, fault.InvalidRequest, fault.InvalidRequest, fault.InvalidRequest}, false, false},
		{"pool busy", []fault.Code{fault.AdapterBusy, fault.AdapterBusy, fault.AdapterBusy, fault.AdapterBusy}, false, false},
		{"caller gave up", []fault.Code{fault.AdapterTimeout, fault.AdapterTimeout, fault.AdapterTimeout, fault.AdapterTimeout}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			g := Wrap(f, Config{Capacity: 4, SubjectOpenFor: 20 * time.Second, Logger: quiet()})
			for i, code := range tt.outcomes {
				f.set(slow, code)
				ctx, cancel := context.WithCancel(context.Background())
				if tt.cancel {
					cancel()
				}
				_, err := g.Call(ctx, input("P0801900B", slow))
				cancel()
				if fault.CodeOf(err) != code && !(code == "" && err == nil) {
					t.Fatalf("call %d = %v, want the adapter's %q", i, err, code)
				}
			}
			before := f.reached(slow)
			_, err := g.Call(context.Background(), input("P0801900B", slow))
			refused := f.reached(slow) == before
			if refused != tt.wantOpen {
				t.Fatalf("after %v: call refused = %v (%v), want %v", tt.outcomes, refused, err, tt.wantOpen)
			}
			if !tt.wantOpen {
				return
			}
			fe, _ := fault.As(err)
			if fe == nil || fe.Code != fault.SourceUnavailable || fe.RetryAfter < 19*time.Second || fe.RetryAfter > 20*time.Second {
				t.Errorf("refused call = %#v, want source_unavailable with a Retry-After of about 20s", err)
			}
			if _, err := g.Call(context.Background(), input("P0801900B", "12345678Z")); err != nil || f.reached("12345678Z") != 1 {
				t.Errorf("another citizen's query = %v, reached the adapter %d times; want an answer", err, f.reached("12345678Z"))
			}
		})
	}
}

// TestSubjectBreakerProbes: once open for its time, the breaker lets one
// probe through; a success closes it, a failure opens it again.
func TestSubjectBreakerProbes(t *testing.T) {
	const slow = "99999999R"
	tests := []struct {
		name      string
		probe     fault.Code // the probe's outcome; "" is data
		wantAfter bool       // the call after the probe reaches the adapter
	}{
		{"probe answers", "", true},
		{"probe times out", fault.AdapterTimeout, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			const openFor = 100 * time.Millisecond
			g := Wrap(f, Config{Capacity: 4, SubjectFailures: 2, SubjectOpenFor: openFor, Logger: quiet()})
			f.set(slow, fault.AdapterTimeout)
			for range 2 {
				_, _ = g.Call(context.Background(), input("P0801900B", slow))
			}
			if _, err := g.Call(context.Background(), input("P0801900B", slow)); f.reached(slow) != 2 {
				t.Fatalf("the breaker did not open: %v", err)
			}
			time.Sleep(openFor + 50*time.Millisecond)
			f.set(slow, tt.probe)
			_, err := g.Call(context.Background(), input("P0801900B", slow))
			if f.reached(slow) != 3 || fault.CodeOf(err) != tt.probe && !(tt.probe == "" && err == nil) {
				t.Fatalf("probe = %v (adapter reached %d times), want the adapter's %q", err, f.reached(slow), tt.probe)
			}
			_, _ = g.Call(context.Background(), input("P0801900B", slow))
			if got := f.reached(slow) == 4; got != tt.wantAfter {
				t.Errorf("the call after a probe that ended %q reached the adapter: %v, want %v", tt.probe, got, tt.wantAfter)
			}
		})
	}
}

// TestSourceBreaker: the source's breaker opens when failures reach the
// ratio over enough calls across citizens, and refuses everyone; one
// record that keeps failing among answered queries does not open it.
func TestSourceBreaker(t *testing.T) {
	tests := []struct {
		name     string
		subjects func(i int) (string, fault.Code) // the i-th call's subject and the adapter's answer
		calls    int
		wantOpen bool
	}{
		{"the source is down for everyone", func(i int) (string, fault.Code) {
			return fmt.Sprintf("s%d", i), fault.SourceUnavailable
		}, 10, true},
		{"half the citizens time out", func(i int) (string, fault.Code) {
			if i%2 == 0 {
				return fmt.Sprintf("s%d", i), fault.AdapterTimeout
			}
			return fmt.Sprintf("s%d", i), ""
		}, 10, true},
		{"a few citizens fail", func(i int) (string, fault.Code) {
			if i%4 == 0 {
				return fmt.Sprintf("s%d", i), fault.AdapterTimeout
			}
			return fmt.Sprintf("s%d", i), ""
		}, 20, false},
		{"one record keeps failing", func(i int) (string, fault.Code) {
			if i%2 == 0 {
				return "99999999R", fault.AdapterTimeout
			}
			return fmt.Sprintf("s%d", i), ""
		}, 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			g := Wrap(f, Config{Capacity: 4, SourceMinCalls: 4, SourceFailureRatio: 0.5, SourceOpenFor: 20 * time.Second, Logger: quiet()})
			for i := range tt.calls {
				subject, code := tt.subjects(i)
				f.set(subject, code)
				_, _ = g.Call(context.Background(), input("P0801900B", subject))
			}
			_, err := g.Call(context.Background(), input("P0801900B", "12345678Z"))
			refused := f.reached("12345678Z") == 0
			if refused != tt.wantOpen {
				t.Fatalf("a new citizen's query refused = %v (%v), want %v", refused, err, tt.wantOpen)
			}
			if fe, _ := fault.As(err); tt.wantOpen && (fe == nil || fe.Code != fault.SourceUnavailable || fe.RetryAfter < time.Second) {
				t.Errorf("refused query = %v, want source_unavailable with a Retry-After", err)
			}
		})
	}
}

// TestFairShare: an organisation over its share of a full adapter that
// another organisation uses is refused at once with adapter_busy; alone, or
// with room left, or under its share, it goes through.
func TestFairShare(t *testing.T) {
	const a, b, citizen = "P0801900B", "P1708500B", ""
	tests := []struct {
		name      string
		capacity  int
		held      []string // organisations whose calls hold the adapter
		probe     string   // the organisation of the call that comes next
		wantBusy  bool
		wantShare int
	}{
		{"alone, it may queue for the whole adapter", 2, []string{a, a, a}, a, false, 1},
		{"over its share beside another", 2, []string{a, a, b}, a, true, 1},
		{"under its share beside another", 2, []string{a, a}, b, false, 1},
		{"room left", 4, []string{a, a, b}, a, false, 2},
		{"at its share of a full adapter", 4, []string{a, a, b, b}, b, true, 2},
		{"citizens are one group", 2, []string{citizen, citizen, a}, citizen, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			g := Wrap(f, Config{Capacity: tt.capacity, Logger: quiet()})
			if g.cfg.Share != tt.wantShare {
				t.Fatalf("share of a capacity of %d = %d, want %d", tt.capacity, g.cfg.Share, tt.wantShare)
			}
			// One at a time, in order: who came first decides who is over
			// its share.
			var wg sync.WaitGroup
			for i, org := range tt.held {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := g.Call(context.Background(), input(org, "hold")); err != nil {
						t.Errorf("held call of %q: %v", org, err)
					}
				}()
				for start := time.Now(); int(f.held.Load()) <= i; time.Sleep(time.Millisecond) {
					if time.Since(start) > 5*time.Second {
						t.Fatalf("%d of %d calls hold the adapter", f.held.Load(), len(tt.held))
					}
				}
			}
			_, err := g.Call(context.Background(), input(tt.probe, "12345678Z"))
			busy := fault.CodeOf(err) == fault.AdapterBusy
			close(f.release)
			wg.Wait()
			if busy != tt.wantBusy {
				t.Fatalf("call of %q beside %v = %v, want busy %v", tt.probe, tt.held, err, tt.wantBusy)
			}
			if busy && f.reached("12345678Z") != 0 {
				t.Errorf("a refused call reached the adapter")
			}
			if g.total != 0 || len(g.running) != 0 {
				t.Errorf("after every call: %d running, by organisation %v; want none", g.total, g.running)
			}
		})
	}
}
