package wasmhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/wasmhost/internal/interrupt"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// instantiateTimeout bounds starting one instance (a Go guest's runtime
// starts in tens of milliseconds).
const instantiateTimeout = 10 * time.Second

// Adapter is one loaded module with its pool of instances. It is safe for
// concurrent use; each instance runs one call at a time.
type Adapter struct {
	host     *Host
	manifest manifest.Manifest
	sha256   string
	// code is the compiled module, shared with the adapters that run the
	// same code; compiled is code's module.
	code     *sharedModule
	compiled wazero.CompiledModule
	config   map[string]string
	limits   Limits
	origins  map[string]bool
	client   *http.Client
	log      *slog.Logger
	// guestLogs limits the lines the adapter writes (log, stdout, stderr);
	// hostLogs the host's own lines about its calls (refused http_call,
	// failed calls), which a hostile adapter could otherwise provoke in a
	// loop.
	guestLogs, hostLogs *logLimiter
	counters            counters

	// idle holds the instances ready for a call.
	idle chan *instance
	// slots holds one token per live instance, idle or busy, up to
	// PoolMax; extra one per instance beyond PoolMax, its capacity what
	// NetworkWaitMemory pays for (see grow).
	slots, extra chan struct{}
	// netMu guards netWaits: the calls blocked in http_call, with the time
	// each call entered it.
	netMu    sync.Mutex
	netWaits map[*callState]time.Time

	mu     sync.Mutex
	closed bool
	// work counts calls and background refills, for Close to wait on.
	work sync.WaitGroup
}

// instance is one instantiated module with its exports looked up once.
type instance struct {
	mod    api.Module
	alloc  api.Function
	handle api.Function
	// interrupt is the flag that makes the guest trap at its next check
	// (within interrupt.Period loop iterations or calls, see package
	// interrupt); once set, the instance is done.
	interrupt api.MutableGlobal
	// wake is closed with the flag set, to end the guest's sleep (WASI
	// poll_oneoff on a clock) at once rather than when it would end.
	wake     chan struct{}
	wakeOnce sync.Once
	stack    [2]uint64
	// extra is set on an instance started beyond PoolMax, which holds a
	// token of Adapter.extra instead of one of Adapter.slots.
	extra bool
	// stdout and stderr tag the guest's output with the call's transfer id.
	stdout, stderr *lineWriter
}

// Load validates a module and its manifest, compiles it and warms its pool.
// config holds the values of the manifest's config keys; a key the manifest
// does not declare is refused.
func (h *Host) Load(ctx context.Context, wasm []byte, config map[string]string) (*Adapter, error) {
	m, err := manifest.Read(wasm)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: load: %w", err)
	}
	var undeclared []string
	for k := range config {
		if !m.Declares(k) {
			undeclared = append(undeclared, k)
		}
	}
	if len(undeclared) > 0 {
		slices.Sort(undeclared)
		return nil, fmt.Errorf("wasmhost: load %s: config keys %s are not declared in the manifest (it declares %v)", m.Name, strings.Join(undeclared, ", "), m.Config)
	}
	sum := sha256.Sum256(wasm)
	a := &Adapter{
		host:     h,
		manifest: m,
		sha256:   hex.EncodeToString(sum[:]),
		config:   maps.Clone(config),
		limits:   h.limitsFor(m),
		origins:  map[string]bool{},
		log:      h.log.With(slog.String("adapter", m.Name), slog.String("adapter_version", m.Version)),
	}
	a.guestLogs = newLogLimiter(a.limits.LogRate, a.limits.LogBurst)
	a.hostLogs = newLogLimiter(a.limits.LogRate, a.limits.LogBurst)
	for _, ah := range m.AllowedHosts {
		o, err := manifest.ParseOrigin(ah)
		if err != nil {
			return nil, fmt.Errorf("wasmhost: load %s: %w", m.Name, err)
		}
		a.origins[o] = true
	}
	a.client = newHTTPClient(h.cfg.HTTPClient, a.origins)

	// Compile the code without its manifest: adapters that run one program
	// with different manifests share one compiled module (and one entry of
	// the compilation cache).
	code, err := manifest.Strip(wasm)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: load %s: %w", m.Name, err)
	}
	if a.code, err = h.compile(ctx, code); err != nil {
		return nil, fmt.Errorf("wasmhost: load %s: compile: %w", m.Name, err)
	}
	a.compiled = a.code.compiled
	if err := a.checkModule(); err != nil {
		_ = h.release(a.code)
		return nil, fmt.Errorf("wasmhost: load %s: %w", m.Name, err)
	}
	a.slots = make(chan struct{}, a.limits.PoolMax)
	a.extra = make(chan struct{}, extraInstances(a.limits))
	a.idle = make(chan *instance, cap(a.slots)+cap(a.extra))
	a.netWaits = map[*callState]time.Time{}
	for range a.limits.PoolMin {
		a.slots <- struct{}{}
		in, err := a.instantiate(ctx)
		if err != nil {
			<-a.slots
			_ = a.Close(ctx)
			return nil, fmt.Errorf("wasmhost: load %s: %w", m.Name, err)
		}
		a.idle <- in
	}
	return a, nil
}

// limitsFor applies a manifest's wishes to the host's defaults, within the
// host's maxima.
func (h *Host) limitsFor(m manifest.Manifest) Limits {
	l := h.cfg.Defaults
	if m.Limits.MemoryPages > 0 {
		l.MemoryPages = m.Limits.MemoryPages
	}
	if m.Limits.TimeoutMS > 0 {
		l.Timeout = time.Duration(m.Limits.TimeoutMS) * time.Millisecond
	}
	if m.Limits.MaxAnswerBytes > 0 {
		l.MaxAnswerBytes = m.Limits.MaxAnswerBytes
	}
	if m.Limits.PoolMax > 0 {
		l.PoolMax = m.Limits.PoolMax
	}
	if m.Limits.PoolMin > 0 {
		l.PoolMin = m.Limits.PoolMin
	}
	l = l.capped(h.cfg.Max)
	l.PoolMin = min(l.PoolMin, h.cfg.Max.PoolMin, l.PoolMax)
	return l
}

// checkModule refuses, with a message an adapter author can act on, a
// module that would fail at instantiation or at its first call.
func (a *Adapter) checkModule() error {
	exports := a.compiled.ExportedFunctions()
	if _, ok := exports["_start"]; ok {
		return errors.New("the module is a WASI command (it exports _start); build it as a reactor (Go: -buildmode=c-shared)")
	}
	want := []struct {
		name            string
		params, results []api.ValueType
		sig             string
	}{
		{"pont_alloc", []api.ValueType{i32}, []api.ValueType{i32}, "(i32) -> i32"},
		{"pont_handle", []api.ValueType{i32, i32}, []api.ValueType{i64}, "(i32, i32) -> i64"},
	}
	for _, w := range want {
		def, ok := exports[w.name]
		if !ok {
			return fmt.Errorf("the module does not export %s%s", w.name, w.sig)
		}
		if !slices.Equal(def.ParamTypes(), w.params) || !slices.Equal(def.ResultTypes(), w.results) {
			return fmt.Errorf("the export %s has signature %s; the ABI wants %s", w.name, signature(def), w.sig)
		}
	}
	for _, def := range a.compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		switch {
		case mod == "wasi_snapshot_preview1":
		case mod == "pont" && pontImports[name]:
		case mod == "pont":
			return fmt.Errorf("the module imports pont.%s, which ABI 1 does not have (log, http_call, config_get, read)", name)
		default:
			return fmt.Errorf("the module imports %s.%s; only modules pont and wasi_snapshot_preview1 exist", mod, name)
		}
	}
	for name, mem := range a.compiled.ExportedMemories() {
		if mem.Min() > a.limits.MemoryPages {
			return fmt.Errorf("the memory %s needs at least %d pages; the adapter's limit is %d", name, mem.Min(), a.limits.MemoryPages)
		}
	}
	return nil
}

func signature(def api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(def.ParamTypes()) + ") -> (" + names(def.ResultTypes()) + ")"
}

// instantiate starts one instance: its own name-less module with its start
// function and then the Go runtime's _initialize run first, stdout and
// stderr to the log, real clocks and randomness, no files, no environment.
func (a *Adapter) instantiate(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), instantiateTimeout)
	defer cancel()
	// The state lets an adapter's init read its config and log.
	ctx = context.WithValue(ctx, stateKey{}, &callState{ctx: ctx, adapter: a, starting: true})
	ctx = experimental.WithMemoryAllocator(ctx, cappedAllocator(a.limits.MemoryPages))
	stdout := &lineWriter{adapter: a, stream: "stdout"}
	stderr := &lineWriter{adapter: a, stream: "stderr"}
	// No start functions here: they run below, where the interrupt can
	// stop them.
	wake := make(chan struct{})
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(stdout).
		WithStderr(stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(func(ns int64) { sleep(ns, wake) }).
		WithRandSource(rand.Reader)
	mod, err := a.host.runtime.InstantiateModule(ctx, a.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	flag, _ := mod.ExportedGlobal(interrupt.Export).(api.MutableGlobal)
	in := &instance{mod: mod, alloc: mod.ExportedFunction("pont_alloc"), handle: mod.ExportedFunction("pont_handle"),
		interrupt: flag, wake: wake, stdout: stdout, stderr: stderr}
	if mod.Memory() == nil {
		_ = mod.Close(ctx)
		return nil, errors.New("instantiate: the module has no memory")
	}
	if flag == nil { // only modules rewritten by compile get here
		_ = mod.Close(ctx)
		return nil, errors.New("instantiate: the module has no interrupt flag")
	}
	reusable, err := in.interruptible(ctx, func() error {
		for _, name := range []string{interrupt.StartExport, "_initialize"} {
			fn := mod.ExportedFunction(name)
			if fn == nil {
				continue
			}
			if _, err := fn.Call(ctx); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("instantiate: %s did not return within %s", name, instantiateTimeout)
				}
				return fmt.Errorf("instantiate: %s: %w", name, err)
			}
		}
		return nil
	})
	if err == nil && !reusable {
		err = fmt.Errorf("instantiate: the start functions did not return within %s", instantiateTimeout)
	}
	if err != nil {
		_ = mod.Close(ctx)
		return nil, err
	}
	a.counters.created.Add(1)
	return in, nil
}

// interruptible runs call, which calls into in, and sets in's interrupt
// flag if ctx ends first, so that the guest traps at its next check
// (within interrupt.Period loop iterations or calls), and wakes it if it
// sleeps. reusable is false when the flag may have been set: the instance
// must then be dropped.
func (in *instance) interruptible(ctx context.Context, call func() error) (reusable bool, err error) {
	stop := context.AfterFunc(ctx, func() {
		in.interrupt.Set(1)
		in.wakeOnce.Do(func() { close(in.wake) })
	})
	err = call()
	return stop(), err
}

// sleep is a guest's nanosleep: ns nanoseconds, or until wake is closed.
// A guest woken early finds the interrupt flag set at its next check.
func sleep(ns int64, wake <-chan struct{}) {
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	}
}

// Manifest returns the adapter's manifest.
func (a *Adapter) Manifest() manifest.Manifest { return a.manifest }

// SHA256 returns the hex SHA-256 of the module's bytes as shipped, its
// manifest included.
func (a *Adapter) SHA256() string { return a.sha256 }

// Limits returns the adapter's effective limits.
func (a *Adapter) Limits() Limits { return a.limits }

// Call runs one query and returns the answer's data object. The host sets
// in.ABI to abi.Version; in.Params must be a JSON object, already parsed and
// validated by the caller (empty means {}), and goes to the adapter as the
// bytes it is. Errors are *fault.Error: SubjectNotFound, SourceUnavailable,
// InvalidRequest and AdapterMisconfigured come from the adapter's answer;
// AdapterFailed, AdapterTimeout and AdapterBusy from the host. A failure
// costs only this call: an instance that trapped, timed out or answered
// broken is dropped and replaced.
func (a *Adapter) Call(ctx context.Context, in abi.Input) (_ json.RawMessage, err error) {
	if !a.enter() {
		return nil, fault.New(fault.AdapterFailed, "adapter %s is closed", a.manifest.Name)
	}
	defer a.work.Done()
	defer func() { a.counters.call(err) }()

	payload, err := encodeInput(in)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.limits.Timeout)
	defer cancel()

	inst, err := a.get(ctx)
	if err != nil {
		return nil, err
	}
	st := &callState{ctx: ctx, adapter: a, transferID: in.TransferID}
	inst.stdout.transferID, inst.stderr.transferID = in.TransferID, in.TransferID
	var data json.RawMessage
	var healthy bool
	reusable, _ := inst.interruptible(ctx, func() error {
		data, healthy, err = a.run(context.WithValue(ctx, stateKey{}, st), inst, payload)
		return err
	})
	if !reusable {
		// The deadline passed: whatever the guest answered, the call is
		// late, and the instance may trap at its next check. An error
		// answer is late too: a guest that answered source_unavailable
		// after its http_call ran out of time must not pass for a source
		// failure.
		healthy = false
		if fault.CodeOf(err) != fault.AdapterTimeout {
			data, err = nil, a.callError(ctx, "pont_handle", ctx.Err())
		}
	}
	inst.stdout.flush()
	inst.stderr.flush()
	inst.stdout.transferID, inst.stderr.transferID = "", ""
	if healthy {
		a.release(inst)
	} else {
		a.discard(inst)
	}
	if err != nil {
		fe, _ := fault.As(err)
		switch fault.CodeOf(err) {
		case fault.AdapterFailed, fault.AdapterTimeout:
			a.hostLog(ctx, slog.LevelWarn, "adapter call failed; instance replaced",
				slog.String("transfer_id", in.TransferID), slog.String("code", string(fe.Code)),
				slog.String("error", fe.Error()))
		case fault.AdapterMisconfigured:
			// Every call fails alike until the operator acts: an error,
			// not a warning. The instance is fine and kept.
			a.hostLog(ctx, slog.LevelError, "adapter misconfigured; its configuration on this node must be fixed",
				slog.String("transfer_id", in.TransferID), slog.String("error", fe.Message))
		}
		return nil, err
	}
	return data, nil
}

// emptyParams stands in for the params while encoding/json writes the
// rest of the input; paramsTail is how the input then ends, Params being
// abi.Input's last field.
var emptyParams = json.RawMessage(`{}`)

const paramsTail = `{}}`

// encodeInput writes the input JSON. The params are spliced in as the bytes
// they are: the caller has parsed them already, and encoding/json would scan
// them again (it compacts every json.RawMessage it writes). Only a cheap
// check remains, that they look like an object.
func encodeInput(in abi.Input) ([]byte, error) {
	params := bytes.TrimSpace(in.Params)
	switch {
	case len(params) == 0:
		params = emptyParams
	case params[0] != '{' || params[len(params)-1] != '}':
		return nil, fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "params", Message: "must be a JSON object"})
	}
	in.ABI = abi.Version
	in.Params = emptyParams
	head, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: encoding the input: %w", err)
	}
	if !bytes.HasSuffix(head, []byte(paramsTail)) {
		return nil, fmt.Errorf("wasmhost: encoding the input: %q does not end with the params", head[max(0, len(head)-16):])
	}
	head = head[:len(head)-len(paramsTail)]
	b := make([]byte, 0, len(head)+len(params)+1)
	b = append(append(append(b, head...), params...), '}')
	return b, nil
}

// run makes one call on an instance. healthy is false when the instance
// must not be reused.
func (a *Adapter) run(ctx context.Context, in *instance, payload []byte) (data json.RawMessage, healthy bool, err error) {
	st := stateOf(ctx)
	in.stack[0] = uint64(len(payload))
	if err := in.alloc.CallWithStack(ctx, in.stack[:]); err != nil {
		return nil, false, a.callError(st.ctx, "pont_alloc", err)
	}
	ptr := uint32(in.stack[0])
	if !in.mod.Memory().Write(ptr, payload) {
		return nil, false, fault.New(fault.AdapterFailed, "adapter %s: pont_alloc returned memory it does not have", a.manifest.Name)
	}
	in.stack[0], in.stack[1] = uint64(ptr), uint64(len(payload))
	if err := in.handle.CallWithStack(ctx, in.stack[:]); err != nil {
		return nil, false, a.callError(st.ctx, "pont_handle", err)
	}
	rptr, rlen := uint32(in.stack[0]>>32), uint32(in.stack[0])
	if int64(rlen) > int64(a.limits.MaxAnswerBytes) {
		return nil, false, fault.New(fault.AdapterFailed, "adapter %s answered %d bytes, over its %d-byte limit", a.manifest.Name, rlen, a.limits.MaxAnswerBytes)
	}
	answer, ok := in.mod.Memory().Read(rptr, rlen)
	if !ok {
		return nil, false, fault.New(fault.AdapterFailed, "adapter %s: the answer lies outside its memory", a.manifest.Name)
	}
	return a.parseAnswer(answer)
}

// callError classifies the failure of a call into the guest.
func (a *Adapter) callError(ctx context.Context, export string, err error) error {
	name := a.manifest.Name
	switch ctx.Err() {
	case context.DeadlineExceeded:
		return fault.Wrap(fault.AdapterTimeout, err, "adapter %s did not answer before the call's deadline (its limit is %s)", name, a.limits.Timeout)
	case context.Canceled:
		return fault.Wrap(fault.AdapterTimeout, err, "the call to adapter %s was cancelled", name)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return fault.Wrap(fault.AdapterFailed, err, "adapter %s exited with code %d in %s (a panic or an out-of-memory)", name, exit.ExitCode(), export)
	}
	return fault.Wrap(fault.AdapterFailed, err, "adapter %s trapped in %s", name, export)
}

// parseAnswer decodes the answer JSON: exactly one of data (an object) or
// error (with an ABI code).
func (a *Adapter) parseAnswer(answer []byte) (json.RawMessage, bool, error) {
	name := a.manifest.Name
	broken := func(format string, args ...any) (json.RawMessage, bool, error) {
		return nil, false, fault.New(fault.AdapterFailed, "adapter %s answered a broken answer: %s", name, fmt.Sprintf(format, args...))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(answer, &top); err != nil {
		return broken("not a JSON object (%v)", err)
	}
	if len(top) != 1 {
		return broken("%d members; want exactly one, data or error", len(top))
	}
	if data, ok := top["data"]; ok {
		if len(data) == 0 || data[0] != '{' {
			return broken("data is not a JSON object")
		}
		return data, true, nil
	}
	raw, ok := top["error"]
	if !ok {
		return broken("neither data nor error")
	}
	var e abi.Error
	if err := json.Unmarshal(raw, &e); err != nil {
		return broken("error is not {code, message}")
	}
	switch e.Code {
	case abi.CodeSubjectNotFound:
		return nil, true, fault.New(fault.SubjectNotFound, "%s", e.Message)
	case abi.CodeSourceUnavailable:
		return nil, true, fault.New(fault.SourceUnavailable, "adapter %s: %s", name, e.Message)
	case abi.CodeInvalidParams:
		return nil, true, fault.New(fault.InvalidRequest, "adapter %s refused the params: %s", name, e.Message)
	case abi.CodeMisconfigured:
		return nil, true, fault.New(fault.AdapterMisconfigured, "adapter %s is misconfigured: %s", name, e.Message)
	}
	return broken("error code %q is not an ABI code (message: %q)", e.Code, e.Message)
}

// enter registers a call or a refill, unless the adapter is closed.
func (a *Adapter) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.work.Add(1)
	return true
}

// networkWaitGrace is how long every busy instance must have been blocked
// in http_call before a waiting call starts an instance beyond PoolMax: a
// source's usual answer takes a few milliseconds, so that under ordinary
// load, when instances are busy computing, the pool does not grow.
const networkWaitGrace = 50 * time.Millisecond

// extraInstances is how many instances beyond PoolMax l's
// NetworkWaitMemory pays for, each at its whole memory limit.
func extraInstances(l Limits) int {
	per := int64(l.MemoryPages) * pageSize
	if l.NetworkWaitMemory <= 0 || per == 0 {
		return 0
	}
	return int(l.NetworkWaitMemory / per)
}

// Capacity is the most calls the adapter runs at once: PoolMax, and the
// instances beyond it that NetworkWaitMemory allows while its instances wait
// on their sources.
func (a *Adapter) Capacity() int { return cap(a.slots) + cap(a.extra) }

// get takes an idle instance, starts one while under PoolMax, or waits for
// either up to PoolWait. While it waits, once every busy instance has been
// blocked on its source for networkWaitGrace, it starts one beyond PoolMax
// if NetworkWaitMemory allows (see grow).
func (a *Adapter) get(ctx context.Context) (*instance, error) {
	select {
	case in := <-a.idle:
		return in, nil
	default:
	}
	select {
	case a.slots <- struct{}{}:
		return a.spawn(ctx, false)
	default:
	}
	t := time.NewTimer(a.limits.PoolWait)
	defer t.Stop()
	// The first look comes after the grace, so that the waits of ordinary
	// load, far shorter, cost no wake-up; without room beyond PoolMax there
	// is no look (a nil channel never fires).
	var look *time.Timer
	var recheck <-chan time.Time
	if cap(a.extra) > 0 {
		look = time.NewTimer(networkWaitGrace)
		defer look.Stop()
		recheck = look.C
	}
	for {
		select {
		case in := <-a.idle:
			return in, nil
		case a.slots <- struct{}{}:
			return a.spawn(ctx, false)
		case <-recheck:
			if a.stuckOnSources(time.Now()) {
				select {
				case a.extra <- struct{}{}:
					return a.spawn(ctx, true)
				default:
				}
			}
			look.Reset(networkWaitGrace / 2)
		case <-t.C:
			return nil, a.busy()
		case <-ctx.Done():
			return nil, a.callError(ctx, "the pool", ctx.Err())
		}
	}
}

func (a *Adapter) busy() error {
	return fault.New(fault.AdapterBusy, "all %d instances of adapter %s stayed busy for %s", len(a.slots)+len(a.extra), a.manifest.Name, a.limits.PoolWait)
}

// stuckOnSources reports whether every busy instance has been blocked in
// http_call for networkWaitGrace at now: the pool may then grow, since the
// instances it holds wait on the network and not on a CPU.
func (a *Adapter) stuckOnSources(now time.Time) bool {
	busy := len(a.slots) + len(a.extra) - len(a.idle)
	return busy > 0 && a.longNetWaits(now) >= busy
}

// longNetWaits counts the calls blocked in http_call for networkWaitGrace
// or longer at now.
func (a *Adapter) longNetWaits(now time.Time) int {
	a.netMu.Lock()
	defer a.netMu.Unlock()
	n := 0
	for _, since := range a.netWaits {
		if now.Sub(since) >= networkWaitGrace {
			n++
		}
	}
	return n
}

// netEnter and netLeave bracket an http_call of st's call, for
// stuckOnSources.
func (a *Adapter) netEnter(st *callState) {
	a.netMu.Lock()
	a.netWaits[st] = time.Now()
	a.netMu.Unlock()
}

func (a *Adapter) netLeave(st *callState) {
	a.netMu.Lock()
	delete(a.netWaits, st)
	a.netMu.Unlock()
}

// spawn starts an instance in a token already taken: of extra when extra
// is set, else of slots.
func (a *Adapter) spawn(ctx context.Context, extra bool) (*instance, error) {
	in, err := a.instantiate(ctx)
	if err != nil {
		a.untoken(extra)
		return nil, fault.Wrap(fault.AdapterFailed, err, "adapter %s: could not start an instance", a.manifest.Name)
	}
	in.extra = extra
	return in, nil
}

// untoken gives back an instance's token.
func (a *Adapter) untoken(extra bool) {
	if extra {
		<-a.extra
	} else {
		<-a.slots
	}
}

// release returns a healthy instance to the pool, or closes it when the
// adapter is closed, or when it is beyond PoolMax and no call is blocked on
// its source any more; it reports whether the pool kept it.
func (a *Adapter) release(in *instance) bool {
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed || (in.extra && a.longNetWaits(time.Now()) == 0) {
		a.drop(in)
		return false
	}
	a.idle <- in // never blocks: idle has room for every token
	return true
}

// discard closes a broken instance and refills the pool in the background,
// so that the next call does not pay for a start.
func (a *Adapter) discard(in *instance) {
	a.drop(in)
	if !a.enter() {
		return
	}
	go func() {
		defer a.work.Done()
		for len(a.slots) < a.limits.PoolMin {
			select {
			case a.slots <- struct{}{}:
			default:
				return
			}
			in, err := a.instantiate(context.Background())
			if err != nil {
				<-a.slots
				a.log.Error("refilling the pool", slog.String("error", err.Error()))
				return
			}
			if !a.release(in) {
				return
			}
		}
	}()
}

func (a *Adapter) drop(in *instance) {
	_ = in.mod.Close(context.Background())
	a.counters.discarded.Add(1)
	a.untoken(in.extra)
}

// Close stops new calls, waits for those under way (or for ctx), and closes
// every instance; the compiled module is closed with the last adapter that
// shares it.
func (a *Adapter) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()

	done := make(chan struct{})
	go func() { a.work.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("wasmhost: close %s: calls still running: %w", a.manifest.Name, ctx.Err())
	}
	for len(a.idle) > 0 {
		a.drop(<-a.idle)
	}
	if cerr := a.host.release(a.code); cerr != nil && err == nil {
		err = fmt.Errorf("wasmhost: close %s: %w", a.manifest.Name, cerr)
	}
	return err
}

// lineWriter logs a guest's stdout or stderr line by line, through the
// adapter's log rate limit, tagged with the call's transfer id.
type lineWriter struct {
	adapter    *Adapter
	stream     string
	transferID string
	buf        []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) >= maxLogBytes {
		w.emit(w.buf)
		w.buf = nil
	}
	return len(p), nil
}

// flush logs a last line that has no newline, at the end of a call.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *lineWriter) emit(line []byte) {
	truncated := len(line) > maxLogBytes
	if truncated {
		line = line[:maxLogBytes]
	}
	attrs := []slog.Attr{slog.String("stream", w.stream), slog.String("line", string(line))}
	if w.transferID != "" {
		attrs = append(attrs, slog.String("transfer_id", w.transferID))
	}
	if truncated {
		attrs = append(attrs, slog.Bool("truncated", true))
	}
	w.adapter.guestLog(context.Background(), slog.LevelInfo, "adapter output", attrs...)
}

// guestLog writes a line that the adapter asked for, within its rate limit.
func (a *Adapter) guestLog(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	a.limitedLog(ctx, a.guestLogs, level, msg, attrs)
}

// hostLog writes a line of the host's about one of the adapter's calls,
// within the rate limit of such lines.
func (a *Adapter) hostLog(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	a.limitedLog(ctx, a.hostLogs, level, msg, attrs)
}

func (a *Adapter) limitedLog(ctx context.Context, l *logLimiter, level slog.Level, msg string, attrs []slog.Attr) {
	if !a.log.Enabled(ctx, level) {
		return
	}
	ok, dropped := l.allow()
	if !ok {
		a.counters.logsDropped.Add(1)
		return
	}
	if dropped > 0 {
		a.log.LogAttrs(ctx, slog.LevelWarn, "adapter log lines dropped by the rate limit",
			slog.Uint64("dropped", dropped), slog.Float64("lines_per_second", a.limits.LogRate))
	}
	a.log.LogAttrs(ctx, level, msg, attrs...)
}
